"""Grouped decisions under a race: two processes sweep in groups (`route_queue(per_transaction=7)`, matched in
memory and written in one statement, routing/matching.py) while two others decide one at a time (`route_next`), on
the race test's population (2,000 items, 100 agents, most blending capacity in units). A group whose chosen agent a
rival changed between its read and its write writes nothing and decides one at a time: no item twice, no agent over
its limits or units, the load counters equal to the history."""

from __future__ import annotations

import pytest

from tests.test_routing_race import assert_race_left_consistent_state, build_population, run_deciders

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = """
import os, sys
import django
django.setup()
from django.conf import settings
settings.OMNIDESK_STATS_LIVE = False
from routing.models import Queue
from routing.services import route_next, route_queue
grouped = sys.argv[1] == "grouped"
queues = list(Queue.objects.filter(name__startswith="Race").order_by("pk"))
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
quiet = 0
while quiet < 2:
    progress = False
    for queue in queues:
        done = route_queue(queue=queue, limit=7, per_transaction=7) if grouped else route_next(queue=queue) is not None
        progress = progress or bool(done)
    quiet = 0 if progress else quiet + 1
"""


def test_grouped_and_single_deciders_never_overfill_an_agent_nor_assign_an_item_twice() -> None:
    build_population()
    run_deciders(worker=WORKER, args=["grouped", "single", "grouped", "single"])
    assert_race_left_consistent_state()
