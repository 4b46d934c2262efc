"""Grouped decisions under a race: two processes sweep in groups (`route_queue(per_transaction=7)`, matched in
memory and written in one statement, routing/matching.py) while two others decide one at a time (`route_next`), on
the race test's population (2,000 items, 100 agents, most blending capacity in units). A group whose chosen agent a
rival changed between its read and its write writes nothing and decides one at a time: no item twice, no agent over
its limits or units, the load counters equal to the history."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db.models import Count

from routing.models import AgentProfile, Assignment, RoutingItem
from tests.stack import ROOT
from tests.test_routing_race import ITEMS, build_population

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
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "omnidesk.settings",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, mode],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in ("grouped", "single", "grouped", "single")
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            assert worker.wait(timeout=600) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    live = Assignment.objects.filter(ended_at__isnull=True)
    assert live.count() > 200
    assert not Assignment.objects.values("conversation").annotate(n=Count("pk")).filter(n__gt=1).exists()
    for assignment in live.select_related("conversation"):
        assert assignment.conversation.assignee_id == assignment.agent_id
    loads: dict[tuple[int, str], int] = {}
    for row in live.values("agent", "capacity_class").annotate(n=Count("pk")):
        loads[(row["agent"], row["capacity_class"])] = row["n"]
    for profile in AgentProfile.objects.filter(user__username__startswith="race-agent-"):
        units = 0
        for capacity_class in ("chat", "voice", "email"):
            held = loads.get((profile.user_id, capacity_class), 0)
            assert held <= profile.capacity(capacity_class), (profile.user_id, capacity_class)
            assert held == profile.load(capacity_class)
            units += held * profile.unit_cost(capacity_class)
        if profile.capacity_units is not None:
            assert units <= profile.capacity_units, (profile.user_id, units, profile.capacity_units)
    states = dict(RoutingItem.objects.values_list("state").annotate(n=Count("pk")))
    assert states.get("assigned", 0) + states.get("waiting", 0) == ITEMS
    assert states["assigned"] == live.count()
    assert not RoutingItem.objects.filter(state="waiting", reason="").exists()
