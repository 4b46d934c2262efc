"""A sweep's grouped decisions (`route_queue(per_transaction=N)`, routing/matching.py) are matched in memory and
written in one statement; they must be the decisions `route_next` makes one at a time on the same data: the same
items to the same agents in the same order, the same loads, the same waiting reasons, nobody over capacity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.routing import populate
from interactions.models import Conversation
from omnidesk.models import Event
from routing import prepared
from routing.models import AgentProfile, AgentSkill, Assignment, Queue, RoutingItem
from routing.services import route_queue

pytestmark = pytest.mark.django_db


def _queue() -> Queue:
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


def _outcome() -> dict[str, Any]:
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


@pytest.mark.parametrize("per_transaction", [2, 7, 50])
def test_it_makes_the_decisions_route_next_makes_one_at_a_time(per_transaction: int) -> None:
    queue = _queue()
    with transaction.atomic():
        one_at_a_time_routed = route_queue(queue=queue, limit=1000)
        one_at_a_time = _outcome()
        transaction.set_rollback(True)
    assert not Assignment.objects.exists()

    with CaptureQueriesContext(connection) as sent:
        routed = route_queue(queue=queue, limit=1000, per_transaction=per_transaction)
    grouped = _outcome()

    assert one_at_a_time_routed > 100
    assert routed == one_at_a_time_routed
    assert grouped["assignments"] == one_at_a_time["assignments"]
    assert grouped["loads"] == one_at_a_time["loads"]
    assert grouped["idle"] == one_at_a_time["idle"]
    assert grouped["waiting"] == one_at_a_time["waiting"]
    assert grouped["events"] == one_at_a_time["events"]
    assert (
        not Conversation.objects.filter(assignee__isnull=False)
        .exclude(pk__in=Assignment.objects.values("conversation_id"))
        .exists()
    )
    for kind in ("chat", "voice", "email"):
        assert not AgentProfile.objects.filter(**{f"{kind}_load__gt": F(f"{kind}_capacity")}).exists()
    # The grouped statement wrote them: no candidate-and-assign statement per decision.
    names = [
        q["sql"].split()[1].split("(")[0]
        for q in sent.captured_queries
        if q["sql"].startswith(("EXECUTE routing_", "PREPARE routing_"))
    ]
    texts = [prepared.statements.get(name, "") for name in names]
    assert not any(text.startswith("WITH chosen") for text in texts)
    assert sum(text.startswith("WITH k AS") for text in texts) == -(-routed // per_transaction)


def test_it_decides_one_at_a_time_when_a_chosen_agent_changed_since_the_read(monkeypatch: Any) -> None:
    """A rival changed an agent the group chose (here: between the group's read and its write): the grouped write
    touches nothing and the group's decisions are made one at a time, on the agents as they now are."""
    from routing import matching

    queue = _queue()
    read_pool = matching.read_pool

    def read_then_rival(**kwargs: Any) -> matching.Pool:
        pool = read_pool(**kwargs)
        # Every agent's row changes after the read (a release elsewhere recounted their load, say).
        AgentProfile.objects.update(presence_window_changes=F("presence_window_changes") + 1)
        return pool

    monkeypatch.setattr(matching, "read_pool", read_then_rival)
    write = matching._write
    written: list[Any] = []

    def noted_write(**kwargs: Any) -> Any:
        written.append(write(**kwargs))
        return written[-1]

    monkeypatch.setattr(matching, "_write", noted_write)
    with transaction.atomic():
        expected = route_queue(queue=queue, limit=30)
        one_at_a_time = _outcome()["assignments"]
        transaction.set_rollback(True)

    assert route_queue(queue=queue, limit=30, per_transaction=10) == expected == 30
    assert _outcome()["assignments"] == one_at_a_time
    assert written == [None, None, None]
