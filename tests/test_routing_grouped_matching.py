"""A sweep's grouped decisions (`route_queue(per_transaction=N)`, routing/matching.py) are matched in memory and
written in one statement; they must be the decisions `route_next` makes one at a time on the same data: the same
items to the same agents in the same order, the same loads, the same waiting reasons, nobody over capacity."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from interactions.models import Conversation
from omnidesk import prepared
from routing.models import AgentProfile, Assignment
from routing.services import route_queue
from tests.routing_decisions import benchmark_like_queue as _queue
from tests.routing_decisions import outcome as _outcome

pytestmark = pytest.mark.django_db


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
