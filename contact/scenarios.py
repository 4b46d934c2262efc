"""Editing the referential: solution lists validated, every change a new scenario version, variants assigned."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from contact.models import IntentNode, ScenarioVersion

SOLUTION_KINDS = ("chat", "phone", "callback", "email", "self_service", "form", "whatsapp", "sms")
LIVE_KINDS = frozenset({"chat", "phone"})
DEVICES = ("desktop", "mobile")
LANGUAGES = ("en", "fr")
SEGMENTS = ("standard", "silver", "gold", "platinum")
# Kinds whose target is a link or number shown to the visitor.
TARGETED = {"phone": "tel", "self_service": "url", "form": "url", "whatsapp": "url", "sms": "tel"}


def _list_of(value: Any, allowed: tuple[str, ...], name: str) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or any(v not in allowed for v in value):
        raise ValidationError(_("%(name)s must be a list among: %(allowed)s") % {"name": name, "allowed": allowed})
    return list(value)


def _optional_int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(_("%(name)s must be a whole number of at least 0.") % {"name": name})
    return value


def clean_solution(raw: Any) -> dict[str, Any]:
    """One solution with its conditions, normalized; ValidationError on anything unknown or malformed."""
    if not isinstance(raw, dict) or raw.get("kind") not in SOLUTION_KINDS:
        raise ValidationError(_("Each solution needs a kind among: %(kinds)s") % {"kinds": ", ".join(SOLUTION_KINDS)})
    kind = raw["kind"]
    target = str(raw.get("target") or "").strip()[:300]
    if kind in TARGETED and not target:
        raise ValidationError(_("The solution %(kind)s needs a link or number.") % {"kind": kind})
    if TARGETED.get(kind) == "url" and not target.startswith(("https://", "http://")):
        raise ValidationError(_("The link of %(kind)s must start with https://.") % {"kind": kind})
    return {
        "kind": kind,
        "target": target,
        "business_hours": bool(raw.get("business_hours", kind in LIVE_KINDS)),
        "max_ewt_seconds": _optional_int(raw.get("max_ewt_seconds"), "max_ewt_seconds"),
        "min_agents": _optional_int(raw.get("min_agents"), "min_agents") or 0,
        "segments": _list_of(raw.get("segments"), SEGMENTS, "segments"),
        "languages": _list_of(raw.get("languages"), LANGUAGES, "languages"),
        "devices": _list_of(raw.get("devices"), DEVICES, "devices"),
        "mobile_first": bool(raw.get("mobile_first", False)),
    }


def clean_solutions(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError(_("An intent needs at least one solution."))
    cleaned = [clean_solution(item) for item in raw]
    kinds = [s["kind"] for s in cleaned]
    if len(set(kinds)) != len(kinds):
        raise ValidationError(_("Each kind of solution appears once per scenario."))
    return cleaned


def publish_scenario(
    *,
    node: IntentNode,
    solutions: Any,
    answer_en: str = "",
    answer_fr: str = "",
    variant: str = "A",
    weight: int = 1,
    by: Any = None,
) -> ScenarioVersion:
    """A new current version of the node's scenario for `variant`; the previous one stays, retired, for history."""
    if node.is_category:
        raise ValidationError(_("Categories have no solutions; pick an intent."))
    cleaned = clean_solutions(solutions)
    with transaction.atomic():
        IntentNode.objects.select_for_update().filter(pk=node.pk).first()
        last = node.versions.order_by("-number").values_list("number", flat=True).first() or 0
        node.versions.filter(variant=variant, is_current=True).update(is_current=False)
        return ScenarioVersion.objects.create(
            node=node,
            number=last + 1,
            variant=variant,
            weight=max(1, weight),
            answer_en=answer_en.strip()[:2000],
            answer_fr=answer_fr.strip()[:2000],
            solutions=cleaned,
            is_current=True,
            created_by=by if getattr(by, "is_authenticated", False) else None,
        )


def assign_variant(*, visit_id: str, versions: list[ScenarioVersion]) -> ScenarioVersion | None:
    """Deterministic: the same visit always sees the same variant (SHA-256 of visit id, weighted by `weight`)."""
    if not versions:
        return None
    ordered = sorted(versions, key=lambda v: v.variant)
    total = sum(v.weight for v in ordered)
    point = int.from_bytes(hashlib.sha256(visit_id.encode()).digest()[:8], "big") % total
    for version in ordered:
        if point < version.weight:
            return version
        point -= version.weight
    return ordered[-1]  # pragma: no cover
