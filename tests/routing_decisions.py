"""The routing benchmark's data at a small size, and what a run of decisions leaves behind: for the tests that check
that two ways of deciding (one at a time or grouped, statement by statement or in one statement) decide alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F
from django.utils import timezone

from bench.routing import populate
from omnidesk.models import Event
from routing.models import AgentProfile, AgentSkill, Assignment, Queue, RoutingItem


def benchmark_like_queue() -> Queue:
    """The routing benchmark's data at a small size (skills with proficiencies, a skill nobody has, chat, email and
    voice, value-tier boosts), made less uniform: some agents blend capacity in units, some were assigned work
    before (idle times and loads differ), some are away."""
    queue = populate(agents=40, waiting=600, seed=41)
    profiles = list(AgentProfile.objects.order_by("pk"))
    now = timezone.now()
    for n, profile in enumerate(profiles):
        if n % 3 == 0:
            profile.capacity_units = None  # per-class limits only
        if n % 4 == 1:
            profile.last_assigned_at = now - timedelta(minutes=n)
        if n % 5 == 2:
            profile.chat_load = 1
        if n % 11 == 3:
            profile.presence = AgentProfile.Presence.AWAY
        if n % 7 == 0:
            profile.email_capacity = 2
        profile.save()
    # Two agents with the same proficiency and no idle time: the id breaks the tie.
    AgentSkill.objects.filter(agent__in=profiles[:2]).update(proficiency=5)
    return queue


def outcome() -> dict[str, Any]:
    assignments = list(Assignment.objects.order_by("pk").values_list("conversation_id", "agent_id", "capacity_class"))
    loads = list(AgentProfile.objects.order_by("pk").values_list("user_id", "chat_load", "voice_load", "email_load"))
    # The idle order among agents (last_assigned_at itself is the decision's clock).
    idle = list(
        AgentProfile.objects.order_by(F("last_assigned_at").asc(nulls_first=True), "pk").values_list("pk", flat=True)
    )
    waiting = dict(RoutingItem.objects.filter(state="waiting").values_list("pk", "reason"))
    events = list(
        Event.objects.filter(type="conversation.assigned").order_by("pk").values_list("data__conversation__id")
    )
    return {"assignments": assignments, "loads": loads, "idle": idle, "waiting": waiting, "events": events}
