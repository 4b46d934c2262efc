"""A full class whose waiting items all have their reason: the reason update's scan does not run (issue 16, round 6).

While nobody has room in a class, every push decision looks for the class's waiting items without a reason. That
look was a bitmap scan of the partial index `routingitem_waiting_no_reason`, run on every decision, and a bitmap
scan never marks an index entry dead: the entries of the items whose reason had been set stayed until vacuum and
each decision re-read their heap pages. The update is now gated on an ordered index probe
(`engine.unexplained_gate`), which stops at the first live entry and marks the dead ones it passes; when it finds
none, the update's scan is never run. The reasons written stay the same (tests/test_routing_single_statement.py
compares them with the statement-by-statement walk).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from bench.routing import populate
from routing import engine, single_decision
from routing.models import AgentProfile, Queue, RoutingItem
from routing.services import _decide

pytestmark = pytest.mark.django_db

VOICE_FULL = "all capable agents are full for Voice"


def _voice_full_queue() -> Queue:
    queue = populate(agents=10, waiting=400, seed=7)
    # Nobody has room for a call (per-class limits only: a call would otherwise fill the agent); most items wait for
    # one, the others are at the head of the queue.
    AgentProfile.objects.update(voice_load=F("voice_capacity"), capacity_units=None)
    ids = list(RoutingItem.objects.order_by("pk").values_list("pk", flat=True))
    RoutingItem.objects.filter(pk__in=ids[:300]).update(capacity_class="voice")
    RoutingItem.objects.filter(pk__in=ids[300:]).update(rank=F("rank") + 1_000_000, required_skill_ids=[])
    return queue


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _reason_scans(queue: Queue) -> list[int]:
    """The loops of the reason updates' scans (alias `y`, `y_1`…) in the next decision's statement, rolled back."""
    sql, params = single_decision.statement(queue=queue, after=None, blocked=[], failed={}, now=timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return [node["Actual Loops"] for node in _nodes(plan[0]["Plan"]) if node.get("Alias", "").split("_")[0] == "y"]


@pytest.mark.parametrize("one_statement", [True, False])
def test_a_full_class_whose_items_all_have_their_reason_skips_the_reason_update(one_statement: bool) -> None:
    queue = _voice_full_queue()

    assert _decide(queue=queue, savepoint=True, one_statement=one_statement) is not None

    waiting_voice = RoutingItem.objects.filter(state="waiting", capacity_class="voice")
    assert set(waiting_voice.values_list("reason", flat=True)) == {VOICE_FULL}
    scans = _reason_scans(queue)
    assert len(scans) == 3  # one per class
    assert scans == [0, 0, 0]  # voice's too: nothing left to explain, its scan is never run


def test_a_full_class_still_explains_an_item_waiting_without_a_reason() -> None:
    queue = _voice_full_queue()
    _decide(queue=queue, savepoint=True)
    item = RoutingItem.objects.filter(state="waiting", capacity_class="voice").order_by("pk").last()
    assert item is not None
    RoutingItem.objects.filter(pk=item.pk).update(reason="")  # a call put back in the queue, say

    assert max(_reason_scans(queue)) == 1  # the voice update runs again
    _decide(queue=queue, savepoint=True)

    assert RoutingItem.objects.get(pk=item.pk).reason == VOICE_FULL


def test_the_walk_form_explains_as_before() -> None:
    queue = _voice_full_queue()
    engine.explain_full_classes(queue=queue, classes_with_room={"chat", "email"}, available=True)
    waiting_voice = RoutingItem.objects.filter(state="waiting", capacity_class="voice")
    assert set(waiting_voice.values_list("reason", flat=True)) == {VOICE_FULL}
    assert set(RoutingItem.objects.exclude(capacity_class="voice").values_list("reason", flat=True)) == {""}
