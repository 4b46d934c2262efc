"""Visits and their funnel events: one event per step, idempotent, joined to the contact they create."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contact.models import ContactSite, FunnelEvent, IntentNode, ScenarioVersion, Visit
from customers.models import Identity
from interactions import visitors

CLIENT_STEPS = frozenset(
    {
        FunnelEvent.Step.ANSWER_SHOWN,
        FunnelEvent.Step.HELPFUL_YES,
        FunnelEvent.Step.HELPFUL_NO,
        FunnelEvent.Step.ABANDONED,
    }
)


class RateLimited(Exception):
    pass


def visits_per_minute() -> int:
    return int(getattr(settings, "OMNIDESK_CONTACT_VISITS_PER_MINUTE", 30))


def find_site(*, key: str) -> ContactSite | None:
    return (
        ContactSite.objects.select_related("chat_channel__queue", "voice_channel__queue", "email_channel__queue")
        .filter(chat_channel__public_key=key, chat_channel__is_active=True)
        .first()
    )


def start_visit(*, site: ContactSite, address: str | None, language: str, device: str, identity: Any = None) -> Visit:
    """A new anonymous visit; RateLimited when one address opened too many in the last minute."""
    if address:
        recent = Visit.objects.filter(address=address, created_at__gte=timezone.now() - timedelta(minutes=1)).count()
        if recent >= visits_per_minute():
            raise RateLimited(_("Too many visits from your address; please wait a minute."))
    visit = Visit.objects.create(
        visit_id=secrets.token_urlsafe(18),
        site=site,
        address=address or None,
        language="fr" if language == "fr" else "en",
        device="mobile" if device == "mobile" else "desktop",
    )
    identify_visit(visit=visit, identity=identity)
    record_step(visit=visit, step=FunnelEvent.Step.PAGE_VIEW)
    return visit


def identify_visit(*, visit: Visit, identity: Any) -> None:
    """A verified customer (the widget's identity hash): the visit is theirs, so the page can skip what is known."""
    if not isinstance(identity, dict):
        return
    email = visitors.signed_email(
        channel=visit.site.chat_channel, email=identity.get("email"), identifier_hash=identity.get("identifier_hash")
    )
    if email is None:
        return
    found = Identity.objects.filter(kind=Identity.Kind.EMAIL, address=email).values_list("customer_id", flat=True)
    customer_id = found.first()
    if customer_id is not None:
        Visit.objects.filter(pk=visit.pk).update(customer_id=customer_id)
        visit.customer_id = customer_id


def find_visit(*, site: ContactSite, visit_id: Any) -> Visit:
    visit = Visit.objects.filter(site=site, visit_id=str(visit_id or "")[:40]).first()
    if visit is None:
        raise ValidationError(_("This visit is unknown; reload the page."), code="unknown_visit")
    return visit


def record_step(
    *,
    visit: Visit,
    step: str,
    node: IntentNode | None = None,
    version: ScenarioVersion | None = None,
    solution: str = "",
    data: dict[str, Any] | None = None,
    **links: Any,
) -> FunnelEvent | None:
    """The step's event, once per (visit, step, intent): a repeat (resent beacon, double click) returns None."""
    try:
        with transaction.atomic():
            # SQLite (the embedded default) cannot hold the constraint with NULLS NOT DISTINCT, so Django does not
            # create it there: the lookup keeps the rule, exactly, because its transactions take the write lock at
            # BEGIN (settings: IMMEDIATE). PostgreSQL refuses the repeat itself.
            if (
                not connection.features.supports_nulls_distinct_unique_constraints
                and FunnelEvent.objects.filter(visit=visit, step=step, node=node).exists()
            ):
                return None
            return FunnelEvent.objects.create(
                visit=visit,
                step=step,
                node=node,
                version=version,
                variant=version.variant if version is not None else "",
                solution=solution,
                data=data or {},
                **links,
            )
    except IntegrityError:
        return None


# Solutions that are plain links: the browser alone sees them chosen.
LINK_SOLUTIONS = frozenset({"phone", "sms", "self_service", "form", "whatsapp"})


def record_client_step(*, visit: Visit, step: Any, node: IntentNode | None, solution: Any = "") -> FunnelEvent | None:
    """A step only the browser sees (answer shown, helpful yes/no, a link followed, abandonment)."""
    if step == FunnelEvent.Step.SOLUTION_CHOSEN and solution in LINK_SOLUTIONS and node is not None:
        version = current_version_seen(visit=visit, node=node)
        return record_step(visit=visit, step=step, node=node, version=version, solution=str(solution))
    if step not in CLIENT_STEPS:
        raise ValidationError(_("Unknown step."), code="bad_step")
    if step == FunnelEvent.Step.ABANDONED:
        if visit.events.filter(step=FunnelEvent.Step.CONTACT_CREATED).exists():
            return None  # leaving after the contact was made is not abandonment
        last = visit.events.order_by("-created_at", "-id").values_list("step", flat=True).first()
        version = current_version_seen(visit=visit, node=node) if node is not None else None
        return record_step(visit=visit, step=step, node=node, version=version, data={"after": last or ""})
    if node is None:
        raise ValidationError(_("This step needs an intent."), code="bad_intent")
    version = current_version_seen(visit=visit, node=node)
    return record_step(visit=visit, step=step, node=node, version=version)


def current_version_seen(*, visit: Visit, node: IntentNode) -> ScenarioVersion | None:
    """The version the visit was shown for this intent (its intent_chosen event), whatever changed since."""
    event = visit.events.filter(step=FunnelEvent.Step.INTENT_CHOSEN, node=node).select_related("version").first()
    return event.version if event is not None else None
