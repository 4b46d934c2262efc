"""Race-free routing: 4 OS processes, each with its own PostgreSQL connection, route 2,000 items to 100 agents.

The items are of mixed kinds (chat, email, voice) and most agents blend their capacity in units (a call fills
them): no agent may end above its per-class limits nor above its units.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count

from customers.models import Customer
from interactions.models import Channel, Conversation
from routing.models import AgentProfile, AgentSkill, Assignment, Queue, RoutingItem, Skill, capacity_class_for
from routing.services import recompute_ranks
from tests.stack import ROOT

# The session stack's worker (embedded beat: routing and SLA sweeps) must not touch the race's rows: one full run
# deadlocked building the population against it (build_population's UPDATE of the conversations).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("session_worker_paused")]

PROCESSES = 4
ITEMS = 2_000
AGENTS = 100

# Each process routes every race queue until a full round assigns nothing: one decision at a time, or with the
# argument "grouped" a sweep's group of 7 decisions per transaction (routing/matching.py).
WORKER = """
import os, sys
import django
django.setup()
from django.conf import settings
settings.OMNIDESK_STATS_LIVE = False
from routing.models import Queue
from routing.services import route_next, route_queue
grouped = sys.argv[1:] == ["grouped"]
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


def build_population() -> None:
    rng = random.Random(4)
    skills = [Skill.objects.create(name=name) for name in ("French", "German", "Billing", "Tech", "Rare")]
    common = skills[:4]
    queues = [Queue.objects.create(name="Race A"), Queue.objects.create(name="Race B", base_priority=5)]
    channels = [
        Channel.objects.create(kind=kind, name=f"Race {kind}", queue=queues[0]) for kind in ("chat", "email", "voice")
    ]
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"race-agent-{n}", first_name=f"Agent {n}") for n in range(AGENTS)]
    )
    profiles = AgentProfile.objects.bulk_create(
        [
            AgentProfile(
                user=user,
                presence=AgentProfile.Presence.AVAILABLE,
                chat_capacity=rng.randint(0, 4),
                voice_capacity=rng.randint(0, 1),
                email_capacity=rng.randint(0, 5),
                # A quarter keep the per-class limits alone; the others blend, with varied totals and unit costs.
                capacity_units=None if n % 4 == 0 else rng.choice([10, 15, 15, 20, 30]),
                voice_units=rng.choice([10, 15, 15]),
                chat_units=rng.choice([3, 5, 5]),
                email_units=rng.choice([2, 3, 3]),
            )
            for n, user in enumerate(users)
        ]
    )
    AgentSkill.objects.bulk_create(
        [
            AgentSkill(agent=profile, skill=skill, proficiency=rng.randint(1, 5))
            for profile in profiles
            for skill in rng.sample(common, rng.randint(0, 3))
        ]
    )
    membership = Queue.members.through
    membership.objects.bulk_create(
        [
            membership(queue_id=queue.pk, user_id=user.pk)
            for user in users
            for queue in rng.sample(queues, rng.randint(1, 2))
        ]
    )
    customers = Customer.objects.bulk_create([Customer(display_name=f"Race customer {n}") for n in range(ITEMS)])
    picks = [rng.choice(channels) for _ in range(ITEMS)]
    conversations = Conversation.objects.bulk_create(
        [Conversation(customer=c, channel=ch) for c, ch in zip(customers, picks, strict=True)]
    )
    from django.utils import timezone

    now = timezone.now()
    items = RoutingItem.objects.bulk_create(
        [
            RoutingItem(
                conversation=conversation,
                queue=rng.choice(queues),
                capacity_class=capacity_class_for(channel.kind),
                boost=rng.choice([0, 0, 5, 20]),
                queued_at=now,
                required_skill_ids=sorted(
                    s.pk for s in rng.sample(skills if rng.random() < 0.05 else common, rng.choice([0, 0, 1, 1, 2]))
                ),
            )
            for conversation, channel in zip(conversations, picks, strict=True)
        ]
    )
    through = RoutingItem.required_skills.through
    through.objects.bulk_create(
        [through(routingitem_id=item.pk, skill_id=skill_id) for item in items for skill_id in item.required_skill_ids]
    )
    for queue in queues:
        recompute_ranks(queue=queue)
        Conversation.objects.filter(routing_item__queue=queue).update(queue=queue, queued_at=now)


def run_deciders(*, worker: str, args: list[str]) -> None:
    """Start one process per entry of `args` (each runs `worker` with that argument), release them together once all
    are ready, and wait for every one to finish cleanly."""
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
            [sys.executable, "-c", worker, *([arg] if arg else [])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for arg in args
    ]
    try:
        for process in workers:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in workers:  # all start together
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in workers:
            assert process.wait(timeout=600) == 0
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()


def assert_race_left_consistent_state() -> int:
    """No item assigned twice, no agent above its class limits or units, load counters equal to the history, every
    item assigned or waiting with its reason. Returns how many agents the units (not the class limits) stopped."""
    live = Assignment.objects.filter(ended_at__isnull=True)
    assert live.count() > 200
    # No item assigned twice: one assignment row per conversation, matching the conversation's assignee.
    assert not Assignment.objects.values("conversation").annotate(n=Count("pk")).filter(n__gt=1).exists()
    for assignment in live.select_related("conversation"):
        assert assignment.conversation.assignee_id == assignment.agent_id
    # No agent above capacity in any class, and the load counters agree with the history.
    loads: dict[tuple[int, str], int] = {}
    for row in live.values("agent", "capacity_class").annotate(n=Count("pk")):
        loads[(row["agent"], row["capacity_class"])] = row["n"]
    stopped_by_units = 0
    for profile in AgentProfile.objects.filter(user__username__startswith="race-agent-"):
        units = 0
        for capacity_class in ("chat", "voice", "email"):
            held = loads.get((profile.user_id, capacity_class), 0)
            assert held <= profile.capacity(capacity_class), (profile.user_id, capacity_class)
            assert held == profile.load(capacity_class)
            units += held * profile.unit_cost(capacity_class)
        if profile.capacity_units is None:
            continue
        # Never above the agent's units, whatever mix of kinds the processes gave it.
        assert units <= profile.capacity_units, (profile.user_id, units, profile.capacity_units)
        # An agent on a call holds no chat unless the call leaves room for one.
        if profile.voice_load and profile.voice_units + profile.chat_units > profile.capacity_units:
            assert profile.chat_load == 0, profile.user_id
        below_class_limits = [c for c in ("chat", "voice", "email") if profile.load(c) < profile.capacity(c)]
        stopped_by_units += bool(below_class_limits) and not any(profile.has_room(c) for c in below_class_limits)
    # Every item is assigned, or waits with the reason stored.
    states = dict(RoutingItem.objects.values_list("state").annotate(n=Count("pk")))
    assert states.get("assigned", 0) + states.get("waiting", 0) == ITEMS
    assert states["assigned"] == live.count()
    assert not RoutingItem.objects.filter(state="waiting", reason="").exists()
    return stopped_by_units


def test_it_never_overfills_an_agent_nor_assigns_an_item_twice_across_four_processes() -> None:
    build_population()
    run_deciders(worker=WORKER, args=[""] * PROCESSES)
    stopped_by_units = assert_race_left_consistent_state()
    # The units, not only the class limits, stopped some agents: the blending was exercised by the race.
    assert stopped_by_units > 0
    reasons = set(RoutingItem.objects.filter(state="waiting").values_list("reason", flat=True))
    assert "no available agent with skill Rare" in reasons
    assert any(reason.startswith("all capable agents are full") for reason in reasons)
