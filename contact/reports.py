"""Per-intent funnel and test-and-learn figures: steps per variant, conversion, containment, significance."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from contact.models import FunnelEvent, IntentNode, Visit
from contact.significance import two_proportion_z_test
from customers.models import Identity
from interactions.models import Conversation
from interactions.phone.models import Callback

CONTAINMENT_WINDOW = timedelta(days=7)
STEPS = [step for step, _label in FunnelEvent.Step.choices]


def step_counts(*, node: IntentNode) -> dict[str, dict[str, int]]:
    """Visits per step and variant for one intent ({variant: {step: visits}})."""
    counts: dict[str, dict[str, int]] = {}
    rows = (
        FunnelEvent.objects.filter(node=node)
        .values("variant", "step")
        .annotate(visits=Count("visit", distinct=True))
        .order_by()
    )
    for row in rows:
        counts.setdefault(row["variant"], dict.fromkeys(STEPS, 0))[row["step"]] = row["visits"]
    # Abandonment carries no intent when it happens before one is chosen; per intent it is the visit's own.
    return counts


def abandonment_by_step(*, node: IntentNode) -> dict[str, dict[str, int]]:
    """Per variant, how many visits left the page after each step ({variant: {last step: visits}})."""
    out: dict[str, dict[str, int]] = {}
    for variant, after in FunnelEvent.objects.filter(node=node, step=FunnelEvent.Step.ABANDONED).values_list(
        "variant", "data__after"
    ):
        out.setdefault(variant, {})
        out[variant][str(after)] = out[variant].get(str(after), 0) + 1
    return out


def solution_counts(*, node: IntentNode) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for row in (
        FunnelEvent.objects.filter(node=node, step=FunnelEvent.Step.SOLUTION_CHOSEN)
        .values("variant", "solution")
        .annotate(n=Count("visit", distinct=True))
        .order_by()
    ):
        out.setdefault(row["variant"], {})[row["solution"]] = row["n"]
    return out


def contained_visits(*, node: IntentNode, now: Any = None) -> dict[str, tuple[int, int]]:
    """Per variant: (self-service "yes" visits, of which contained). A "yes" is contained only if the same customer
    starts no conversation on any channel within 7 days after it; a visit of an unknown visitor counts as contained
    only while no widget, email or phone identity links it to a customer who came back."""
    now = now or timezone.now()
    result: dict[str, tuple[int, int]] = {}
    for event in FunnelEvent.objects.filter(node=node, step=FunnelEvent.Step.HELPFUL_YES).select_related("visit"):
        customer_id = event.visit.customer_id
        came_back = (
            customer_id is not None
            and Conversation.objects.filter(
                customer_id=customer_id,
                created_at__gt=event.created_at,
                created_at__lte=event.created_at + CONTAINMENT_WINDOW,
            ).exists()
        )
        yes, contained = result.get(event.variant, (0, 0))
        result[event.variant] = (yes + 1, contained + (0 if came_back else 1))
    return result


def link_visit_customer(*, visit_id: str, kind: str, address: str) -> None:
    """Who the visitor is, once known (verified widget identity, the form's email, the callback's number)."""
    identity = Identity.objects.filter(kind=kind, address=address).first()
    if identity is not None:
        Visit.objects.filter(visit_id=visit_id, customer=None).update(customer_id=identity.customer_id)


def intent_report(*, node: IntentNode) -> dict[str, Any]:
    steps = step_counts(node=node)
    solutions = solution_counts(node=node)
    containment = contained_visits(node=node)
    abandonment = abandonment_by_step(node=node)
    variants = sorted(steps)
    per_variant: list[dict[str, Any]] = []
    for variant in variants:
        chosen = steps[variant][FunnelEvent.Step.INTENT_CHOSEN] or 0
        created = steps[variant][FunnelEvent.Step.CONTACT_CREATED]
        yes, contained = containment.get(variant, (0, 0))
        per_variant.append(
            {
                "variant": variant,
                "steps": steps[variant],
                "solutions": solutions.get(variant, {}),
                "abandoned_after": abandonment.get(variant, {}),
                "conversion": {k: (n / chosen if chosen else 0.0) for k, n in solutions.get(variant, {}).items()},
                "contact_created": created,
                "contained": contained,
                "self_service_yes": yes,
                "containment_rate": (contained / chosen if chosen else 0.0),
            }
        )
    test = None
    if len(per_variant) >= 2:
        a, b = per_variant[0], per_variant[1]
        test = two_proportion_z_test(
            successes_a=a["contained"],
            total_a=a["steps"][FunnelEvent.Step.INTENT_CHOSEN],
            successes_b=b["contained"],
            total_b=b["steps"][FunnelEvent.Step.INTENT_CHOSEN],
        )
    return {"node": node, "variants": per_variant, "test": test, "channels": contacts_by_channel(node=node)}


def contacts_by_channel(*, node: IntentNode) -> dict[str, Any]:
    """The 360° figures that exist without the analytics events: conversations by channel, resolved, callbacks."""
    if node.intent_id is None:
        return {}
    conversations = Conversation.objects.filter(routing_intent__intent_id=node.intent_id)
    by_channel = dict(conversations.values_list("channel__kind").annotate(n=Count("pk")).order_by())
    resolved = conversations.filter(status=Conversation.Status.RESOLVED).count()
    callback_ids = FunnelEvent.objects.filter(node=node, callback__isnull=False).values("callback_id")
    callbacks = dict(
        Callback.objects.filter(pk__in=callback_ids).values_list("status").annotate(n=Count("pk")).order_by()
    )
    return {"by_channel": by_channel, "resolved": resolved, "callbacks": callbacks}
