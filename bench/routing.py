"""routing: the assignment decision with 500 agents and 10,000 waiting items, on real PostgreSQL.

What is measured
    A: agents (default 500, mixed skills, capacity chat 3 · voice 1 · email 5) are members of one queue where W items
    (default 10,000: chat, email and voice; a third need one skill, a few a skill nobody has) wait, with mixed
    value-tier boosts. One decision = `routing.services.route_next(queue=…)`: lock the best waiting items
    (SKIP LOCKED), find the best agent for them (skills, proficiency, load ratio, idle time; SKIP LOCKED), record the
    assignment and announce it (Event rows, channel layer). Every decision is timed with perf_counter until the
    agents are full. Then `--routing-releases` conversations are resolved one at a time and the agent-driven
    decision (`route_for_agent`, the "capacity freed" trigger) that refills the agent is timed too.

Reading a line
    {"bench": "routing", "agents": 500, "waiting": 10000, "decisions": N, "assign_p50_ms": …, "assign_p99_ms": …,
     "assignments_per_s": …, "assign_statements_per_decision": …, "release_p50_ms": …, "release_p99_ms": …,
     "release_statements_per_resolve": …, "double_assignments": 0, "over_capacity": 0}
    - assignments_per_s = decisions / total wall time of the item-driven phase (one process).
    - assign_client_cpu_p50_ms / _mean_ms: the benchmark process's own CPU per decision (Python and the driver;
      PostgreSQL's share is not in it). assign_server_cpu_mean_ms: the CPU of the PostgreSQL backend serving the
      benchmark, per decision (from /proc, when the server is local). Neither grows much with the load, unlike
      the wall-clock figures: on a shared machine they are the fair before/after comparison.
      loadavg_1m: the machine's 1-minute load before and after the phase; on a shared 2-core
      machine a load well above 2 stretches every wall-clock figure.
    - double_assignments: conversations with more than one assignment row; over_capacity: agent/class pairs above
      capacity. Both must be 0.
    The candidate queries' EXPLAIN ANALYZE goes to stderr with --routing-explain.
    With --routing-per-transaction N (> 1), a separate mode, reported as "bench": "routing_sweep": the phase calls
    the sweep `route_queue(limit=N, per_transaction=N)` instead of `route_next`, so N decisions share one
    transaction, commit and announcement write; assign_p50/p99_ms are then the group's time divided by its decisions,
    and assignments_per_s counts decisions as before. The single-decision figures are the mode without the option.

Uses its own database (DATABASE_URL with the name replaced by `omnidesk_bench_routing`, plus `_<suffix>` when
BENCH_DATABASE_SUFFIX is set; dropped and re-created).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from bench.environment import configure_logging, migrate, setup_django
from bench.measures import percentile

logger = logging.getLogger("bench.routing")
DATABASE = "omnidesk_bench_routing"
Emit = Callable[[dict[str, Any]], None]


class StatementCounter:
    """A database execute wrapper that counts the statements sent (savepoints and the commit's hooks included)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def backend_pid(connection: Any) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def server_cpu_seconds(connection: Any) -> float | None:
    """CPU time (user + system) of the PostgreSQL backend serving `connection`, from /proc (None when the server is
    on another host): unlike wall-clock figures, it does not grow with the machine's load."""
    return process_cpu_seconds(backend_pid(connection))


def process_cpu_seconds(pid: int) -> float | None:
    """A local process's CPU time: the scheduler's nanoseconds (/proc/<pid>/schedstat) where the kernel keeps them,
    else user + system clock ticks (/proc/<pid>/stat, 10 ms steps: too coarse for one statement's share)."""
    try:
        with open(f"/proc/{pid}/schedstat") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("routing")
    group.add_argument("--routing-agents", type=int, default=500, help="agents (default 500)")
    group.add_argument("--routing-waiting", type=int, default=10_000, help="waiting items (default 10,000)")
    group.add_argument("--routing-releases", type=int, default=300, help="resolve-and-refill decisions timed")
    group.add_argument("--routing-explain", action="store_true", help="print EXPLAIN ANALYZE of the queries")
    group.add_argument(
        "--routing-per-transaction",
        type=int,
        default=1,
        help="a separate mode (bench 'routing_sweep'): the sweep route_queue(per_transaction=N) decides N items per"
        " transaction; timed per group, reported per decision (default 1: the single-decision bench)",
    )
    group.add_argument(
        "--routing-deciders",
        type=int,
        default=1,
        help="a separate mode (bench 'routing_concurrent'): N processes deciding one at a time on the same queue"
        " (default 1: the single-decision bench)",
    )


def recreate(database_url: str) -> str:
    parts = urlsplit(database_url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit("the routing benchmark needs PostgreSQL")
    # BENCH_DATABASE_SUFFIX (bench/environment.py): two checkouts can run this benchmark side by side.
    name = DATABASE + (f"_{suffix}" if (suffix := os.environ.get("BENCH_DATABASE_SUFFIX", "")) else "")
    connection = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def populate(*, agents: int, waiting: int, seed: int = 500) -> Any:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from customers.models import Customer
    from interactions.models import Channel, Conversation
    from routing.engine import rank_for
    from routing.models import AgentProfile, AgentSkill, Queue, RoutingItem, Skill, capacity_class_for

    rng = random.Random(seed)
    skills = [Skill.objects.create(name=f"skill-{n}") for n in range(8)]
    rare = Skill.objects.create(name="rare")
    queue = Queue.objects.create(name="Bench routing", aging_acceleration=1.0)
    channels = [Channel.objects.create(kind=k, name=f"bench {k}", queue=queue) for k in ("chat", "email", "voice")]
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"bench-agent-{n}") for n in range(agents)])
    profiles = AgentProfile.objects.bulk_create(
        [AgentProfile(user=u, presence=AgentProfile.Presence.AVAILABLE) for u in users]
    )
    AgentSkill.objects.bulk_create(
        [
            AgentSkill(agent=p, skill=s, proficiency=rng.randint(1, 5))
            for p in profiles
            for s in rng.sample(skills, rng.randint(1, 4))
        ]
    )
    Queue.members.through.objects.bulk_create([Queue.members.through(queue_id=queue.pk, user_id=u.pk) for u in users])
    customers = Customer.objects.bulk_create([Customer(display_name=f"c{n}") for n in range(waiting)])
    picks = [rng.choices(channels, weights=[6, 3, 1])[0] for _ in range(waiting)]
    now = timezone.now()
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(customer=c, channel=ch, queue=queue, queued_at=now)
            for c, ch in zip(customers, picks, strict=True)
        ]
    )

    def wanted() -> list[int]:
        roll = rng.random()
        if roll < 0.01:
            return [rare.pk]
        return [rng.choice(skills).pk] if roll < 0.35 else []

    def item(conversation: Any, kind: str) -> Any:
        boost = rng.choice([0, 0, 0, 5, 10, 20])
        queued_at = now - timedelta(seconds=rng.randint(0, 3600))
        return RoutingItem(
            conversation=conversation,
            queue=queue,
            capacity_class=capacity_class_for(kind),
            boost=boost,
            queued_at=queued_at,
            # What recompute_ranks would store, computed here: saving 10,000 items one by one took minutes.
            rank=rank_for(queue=queue, boost=boost, queued_at=queued_at),
            required_skill_ids=wanted(),
        )

    items = RoutingItem.objects.bulk_create([item(c, ch.kind) for c, ch in zip(conversations, picks, strict=True)])
    through = RoutingItem.required_skills.through
    through.objects.bulk_create(
        [through(routingitem_id=item.pk, skill_id=skill_id) for item in items for skill_id in item.required_skill_ids]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return queue


def explain(queue: Any) -> None:
    """EXPLAIN ANALYZE of the two queries of every decision (rolled back: the candidate query locks a row)."""
    from django.db import connection, transaction

    from routing import engine

    waiting_sql, waiting_params = engine.waiting_items(queue=queue)[: engine.SCAN_BATCH].query.sql_with_params()
    plans: list[tuple[str, str, Any]] = [
        ("waiting items", waiting_sql, waiting_params),
        ("candidate agents, no skill", engine._candidate_sql("chat", skills=False, exclude=False), {"queue": queue.pk}),
        (
            "candidate agents, one skill",
            engine._candidate_sql("chat", skills=True, exclude=False),
            {"queue": queue.pk, "skills": [1], "nskills": 1},
        ),
    ]
    for name, sql, params in plans:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN ANALYZE " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            transaction.set_rollback(True)
        logger.info("EXPLAIN ANALYZE %s:\n%s", name, plan)


def decide_until_empty(queue_id: int, ready: Any, start: Any, results: Any) -> None:
    """One decider process of the concurrent mode: says it is ready once connected, then `route_next` one decision
    at a time until nothing is left; sends back (per-decision wall seconds, per-decision CPU seconds)."""
    from django.db import connection

    from routing.models import Queue
    from routing.services import route_next

    queue = Queue.objects.get(pk=queue_id)
    timings: list[float] = []
    cpu: list[float] = []
    ready.put(True)
    start.wait()
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        decided = route_next(queue=queue)
        if decided is None:
            break
        timings.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    connection.close()
    results.put((timings, cpu))


def decide_concurrently(queue: Any, deciders: int) -> tuple[list[float], list[float], float]:
    """The concurrent mode's phase: every decision's wall and CPU seconds, and the phase's wall seconds."""
    from django.db import connections

    connections.close_all()  # each forked decider opens its own
    context = multiprocessing.get_context("fork")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    processes = [
        context.Process(target=decide_until_empty, args=(queue.pk, ready, start, results)) for _ in range(deciders)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)  # every decider connected before any starts deciding
    started = time.perf_counter()
    start.set()
    timings: list[float] = []
    cpu: list[float] = []
    for _ in processes:
        own_timings, own_cpu = results.get(timeout=600)
        timings.extend(own_timings)
        cpu.extend(own_cpu)
    wall = time.perf_counter() - started
    for process in processes:
        process.join(timeout=30)
        if process.exitcode != 0:
            raise SystemExit(f"a routing decider exited with {process.exitcode}")
    return timings, cpu, wall


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url:
        raise SystemExit("the routing benchmark needs DATABASE_URL (PostgreSQL)")
    url = recreate(database_url)
    migrate(url, redis_url)
    setup_django(url, redis_url)
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, F

    from interactions.models import Conversation
    from interactions.services import resolve_conversation
    from routing.models import AgentProfile, Assignment
    from routing.services import route_next, route_queue

    # The supervisors' figures are coalesced to one a second in production; here they would only add noise.
    settings.OMNIDESK_STATS_LIVE = False
    logger.info("populating %s agents and %s waiting items", args.routing_agents, args.routing_waiting)
    queue = populate(agents=args.routing_agents, waiting=args.routing_waiting)
    if args.routing_explain:
        explain(queue)
    timings: list[float] = []
    cpu: list[float] = []
    statements = StatementCounter()
    load_before = os.getloadavg()[0]
    server_before = server_cpu_seconds(connection)
    started = time.perf_counter()
    group = max(args.routing_per_transaction, 1)
    deciders = max(args.routing_deciders, 1)
    if deciders > 1:
        timings, cpu, wall = decide_concurrently(queue, deciders)
    with connection.execute_wrapper(statements):
        while deciders == 1:
            t0, c0 = time.perf_counter(), time.process_time()
            if group == 1:
                done = 0 if route_next(queue=queue) is None else 1
            else:
                done = route_queue(queue=queue, limit=group, per_transaction=group)
            elapsed, spent = time.perf_counter() - t0, time.process_time() - c0
            if done == 0:
                break
            # Sweep mode: each decision of a group is counted with the group's time shared out (its mean).
            timings.extend([elapsed / done] * done)
            cpu.extend([spent / done] * done)
    if deciders == 1:
        wall = time.perf_counter() - started
    # The concurrent mode's deciders have their own backends (and statements): those two figures are the others'.
    server_after = server_cpu_seconds(connection) if deciders == 1 else None
    load_after = os.getloadavg()[0]
    assign_statements = statements.count
    logger.info("item-driven phase: %d decisions in %.1f s", len(timings), wall)

    releases: list[float] = []
    assigned = list(
        Conversation.objects.filter(assignee__isnull=False).select_related("assignee")[: args.routing_releases]
    )
    statements = StatementCounter()
    with connection.execute_wrapper(statements):
        for conversation in assigned:
            t0 = time.perf_counter()
            resolve_conversation(conversation=conversation, by=conversation.assignee)
            releases.append(time.perf_counter() - t0)

    doubles = Assignment.objects.values("conversation").annotate(n=Count("pk")).filter(n__gt=1).count()
    over = 0
    for capacity_class in ("chat", "voice", "email"):
        over += AgentProfile.objects.filter(**{f"{capacity_class}_load__gt": F(f"{capacity_class}_capacity")}).count()
    ms = sorted(t * 1000 for t in timings)
    cpu_ms = sorted(t * 1000 for t in cpu)
    rel = sorted(t * 1000 for t in releases)
    emit(
        {
            "bench": "routing_concurrent" if deciders > 1 else "routing" if group == 1 else "routing_sweep",
            "per_transaction": group,
            "deciders": deciders,
            "agents": args.routing_agents,
            "waiting": args.routing_waiting,
            "decisions": len(timings),
            "assign_p50_ms": round(percentile(ms, 50), 2),
            "assign_p99_ms": round(percentile(ms, 99), 2),
            "assign_max_ms": round(ms[-1], 2) if ms else None,
            "assignments_per_s": round(len(timings) / wall, 1) if wall else None,
            "assign_client_cpu_p50_ms": round(percentile(cpu_ms, 50), 2),
            "assign_client_cpu_mean_ms": round(sum(cpu_ms) / len(cpu_ms), 2) if cpu_ms else None,
            # PostgreSQL's CPU for the item-driven phase per decision (its backend process; None if not local).
            "assign_server_cpu_mean_ms": (
                round((server_after - server_before) * 1000 / len(timings), 2)
                if timings and server_before is not None and server_after is not None
                else None
            ),
            "loadavg_1m": [round(load_before, 1), round(load_after, 1)],
            # Everything the decision sends, the announcement's and the reporting hook's statements included.
            "assign_statements_per_decision": (
                round(assign_statements / len(timings), 1) if timings and deciders == 1 else None
            ),
            "release_statements_per_resolve": round(statements.count / len(releases), 1) if releases else None,
            "release_p50_ms": round(percentile(rel, 50), 2),
            "release_p99_ms": round(percentile(rel, 99), 2),
            "double_assignments": doubles,
            "over_capacity": over,
        }
    )
