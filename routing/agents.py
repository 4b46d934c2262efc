"""Agents' routing set-up: capacity per class and skills. Changing them pulls waiting work at once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from routing import stats
from routing.models import MAX_CAPACITY, MAX_UNITS, AgentProfile, AgentSkill, Skill
from routing.services import route_for_agent


def set_capacity(
    *, user: Any, chat: int | None = None, voice: int | None = None, email: int | None = None
) -> AgentProfile:
    """Change an agent's capacity per class (0 … MAX_CAPACITY); a raise pulls waiting work."""
    wanted = {"chat": chat, "voice": voice, "email": email}
    for name, value in wanted.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
            raise ValidationError(
                _("%(kind)s capacity must be a whole number from 0 to %(max)d.") % {"kind": name, "max": MAX_CAPACITY},
                code="invalid_capacity",
            )
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=user)
        fields = []
        for name, value in wanted.items():
            if value is not None:
                setattr(profile, f"{name}_capacity", value)
                fields.append(f"{name}_capacity")
        profile.save(update_fields=fields)
        stats.publish_stats_on_commit()
    route_for_agent(user=user)
    return profile


def set_capacity_units(
    *, user: Any, total: int | None, voice: int | None = None, chat: int | None = None, email: int | None = None
) -> AgentProfile:
    """Blend the agent's capacity in units (routing/capacity.py): `total` units, each class costing its units.

    `total` None turns blending off (the per-class limits alone). A unit cost left None is unchanged. A raise pulls
    waiting work at once.
    """
    costs = {"voice": voice, "chat": chat, "email": email}
    for name, value in {"total": total, **costs}.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNITS:
            raise ValidationError(
                _("%(kind)s units must be a whole number from 0 to %(max)d.") % {"kind": name, "max": MAX_UNITS},
                code="invalid_units",
            )
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=user)
        profile.capacity_units = total
        fields = ["capacity_units"]
        for name, value in costs.items():
            if value is not None:
                setattr(profile, f"{name}_units", value)
                fields.append(f"{name}_units")
        profile.save(update_fields=fields)
        stats.publish_stats_on_commit()
    route_for_agent(user=user)
    return profile


def set_takes_work(*, user: Any, takes_work: bool) -> AgentProfile:
    """Whether routing offers this person work (supervisors choose to; agents do by default)."""
    if not isinstance(takes_work, bool):
        raise ValidationError(_("Takes work must be true or false."), code="invalid_takes_work")
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=user)
        profile.takes_work = takes_work
        profile.save(update_fields=["takes_work"])
        stats.publish_stats_on_commit()
    if takes_work:
        route_for_agent(user=user)
    return profile


def set_skills(*, user: Any, proficiencies: dict[str, int]) -> AgentProfile:
    """Replace an agent's skills: names → proficiency 1–5. Unknown skills are refused, nothing changes."""
    known = dict(Skill.objects.filter(name__in=list(proficiencies)).values_list("name", "pk"))
    unknown = sorted(set(proficiencies) - set(known))
    if unknown:
        raise ValidationError(_("Unknown skill: %(names)s.") % {"names": ", ".join(unknown)}, code="unknown_skill")
    for name, level in proficiencies.items():
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise ValidationError(
                _("Proficiency for %(name)s must be from 1 to 5.") % {"name": name}, code="invalid_proficiency"
            )
    with transaction.atomic():
        profile, _created = AgentProfile.objects.select_for_update().get_or_create(user=user)
        AgentSkill.objects.filter(agent=profile).delete()
        AgentSkill.objects.bulk_create(
            [
                AgentSkill(agent=profile, skill_id=known[name], proficiency=level)
                for name, level in proficiencies.items()
            ]
        )
    route_for_agent(user=user)
    return profile
