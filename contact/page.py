"""What the contact page shows: the site's intent tree, search results, and an intent's answer and solutions."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from contact import bookings
from contact.models import ContactSite, FunnelEvent, IntentNode, ScenarioVersion, Visit
from contact.scenarios import assign_variant
from contact.services import OfferContext, offer_solutions
from contact.visits import record_step
from routing import intent_detection


def tree_of(*, site: ContactSite, language: str) -> list[dict[str, Any]]:
    """Categories with their intents, in order (one query)."""
    nodes = list(IntentNode.objects.filter(site=site, is_active=True).order_by("position", "id"))
    entry = {
        n.pk: {"id": n.pk, "label": n.label(language), "description": n.description(language), "icon": n.icon}
        for n in nodes
    }
    roots: list[dict[str, Any]] = []
    for node in nodes:
        if node.is_category and node.parent_id is None:
            roots.append({**entry[node.pk], "intents": []})
    by_id = {r["id"]: r for r in roots}
    for node in nodes:
        if not node.is_category and node.parent_id in by_id:
            by_id[node.parent_id]["intents"].append(entry[node.pk])
    return roots


def search_nodes(*, site: ContactSite, text: str, language: str, limit: int = 5) -> list[dict[str, Any]]:
    """The site's intents that the existing intent detection finds in `text`, best first."""
    nodes = {
        n.intent.key: n
        for n in IntentNode.objects.filter(site=site, is_active=True, intent__isnull=False).select_related("intent")
        if n.intent is not None
    }
    specs = [
        intent_detection.IntentSpec(
            key=key,
            keywords=[*list(n.intent.keywords), n.label_en, n.label_fr],
            examples=list(n.intent.examples),
        )
        for key, n in nodes.items()
        if n.intent is not None
    ]
    if not text.strip() or not specs:
        return []
    explanation = intent_detection.explain_detection(text, specs)
    return [
        {"id": nodes[c.key].pk, "label": nodes[c.key].label(language), "score": c.score}
        for c in explanation.candidates[:limit]
    ]


def current_versions(node: IntentNode) -> list[ScenarioVersion]:
    return list(node.versions.filter(is_current=True))


def intent_payload(*, site: ContactSite, visit: Visit, node: IntentNode) -> dict[str, Any]:
    """Record the choice, decide the solutions now, record what was offered and why; the page's next screen."""
    version = assign_variant(visit_id=visit.visit_id, versions=current_versions(node))
    language = visit.language
    record_step(visit=visit, step=FunnelEvent.Step.INTENT_CHOSEN, node=node, version=version)
    if version is None:
        return {"intent": node.pk, "label": node.label(language), "answer": "", "solutions": [], "slots": []}
    segment = visit.customer.value_tier if visit.customer is not None else "standard"
    now = timezone.now()
    context = OfferContext(site=site, version=version, language=language, device=visit.device, segment=segment, now=now)
    decision = offer_solutions(intent=node, context=context)
    record_step(
        visit=visit,
        step=FunnelEvent.Step.SOLUTIONS_OFFERED,
        node=node,
        version=version,
        data=decision.as_event_data(),
    )
    kinds = {s.kind for s in decision.offered}
    slots = bookings.free_slots(site=site, now=now) if "callback" in kinds else []
    return {
        "intent": node.pk,
        "label": node.label(language),
        "variant": version.variant,
        "answer": version.answer(language),
        "solutions": [
            {"kind": s.kind, "target": s.target, "reason": s.reason, "wait_minutes": s.wait_minutes}
            for s in decision.offered
        ],
        "slots": [{"start": slot.start.isoformat(), "end": slot.end.isoformat()} for slot in slots],
    }
