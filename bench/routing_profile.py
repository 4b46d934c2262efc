"""routing_profile: where one routing decision spends its time (cProfile) and how many SQL statements it sends.

Not part of `make bench` (a profile, not a figure): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.routing_profile --agents 500 --waiting 10000 --decisions 300

It builds the routing benchmark's data set (bench/routing.py `populate`) in its own database
(`omnidesk_bench_routing_profile`), then profiles `--decisions` item-driven decisions (`route_next`) and
`--releases` resolve-and-refill decisions, and prints the statements per decision and the top functions by
cumulative time to stdout; with `--no-cprofile`, the statements per decision and the wall time each kind waits,
without the profiler's overhead; with `--explain`, the plan of the next decision's statement (rolled back).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from bench import routing
from bench.environment import migrate, setup_django
from omnidesk import prepared


class StatementCounter:
    """A database execute wrapper counting statements by their first words, and the wall time each kind waits
    (the driver's round trip: PostgreSQL's work plus the queue for the CPU on a loaded machine)."""

    def __init__(self, pid: int | None = None) -> None:
        self.kinds: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        # The PostgreSQL backend's CPU per kind (from /proc: nanoseconds, or clock ticks summed over many statements).
        self.pid = pid
        self.server: defaultdict[str, float] = defaultdict(float)

    def _server_seconds(self) -> float:
        if self.pid is None:
            return 0.0
        return routing.process_cpu_seconds(self.pid) or 0.0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        text = sql
        if sql.startswith(("EXECUTE routing_", "PREPARE routing_")):
            # A prepared statement of omnidesk/prepared.py: named after the statement it runs.
            name = sql.split()[1].split("(")[0]
            text = f"{sql.split()[0][:4]} {prepared.statements.get(name, name)}"
        words = text.split()[: 3 if text is not sql else 2]
        if words and words[-1].startswith('"s') and "SAVEPOINT" in words[0]:
            words[-1] = "…"  # one kind, whatever the savepoint's generated name
        kind = " ".join(words)[:40]
        self.kinds[kind] += 1
        started, server = time.perf_counter(), self._server_seconds()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds[kind] += time.perf_counter() - started
            self.server[kind] += self._server_seconds() - server

    def report(self, per: int) -> None:
        print("  per decision: statements × ms waited, server CPU ms, kind")
        for kind, n in self.kinds.most_common():
            print(
                f"  {n / per:6.2f} × {self.seconds[kind] * 1000 / per:7.2f} ms"
                f" {self.server[kind] * 1000 / per:6.2f} ms  {kind}"
            )


def explain_next_decision(queue: Any) -> None:
    """The single-decision statement (routing/single_decision.py) of the next `route_next`, as its first attempt
    sends it, under EXPLAIN (ANALYZE, BUFFERS, VERBOSE), rolled back: it locks and writes."""
    from django.db import connection, transaction
    from django.utils import timezone

    from routing import single_decision

    sql, params = single_decision.statement(queue=queue, after=None, blocked=[], failed={}, now=timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, VERBOSE) " + sql, params)
        print("\n".join(row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing_profile")
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--per-transaction", type=int, default=1, help="decisions per transaction (route_queue)")
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative (default) or tottime")
    parser.add_argument("--dump", default="", help="also write the decisions' cProfile data to this file (pstats)")
    parser.add_argument(
        "--no-cprofile", action="store_true", help="statements and their wall time only (no profiler overhead)"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="after the decisions, EXPLAIN (ANALYZE, BUFFERS, VERBOSE) the next decision's statement, rolled back",
    )
    args = parser.parse_args()
    routing.DATABASE = "omnidesk_bench_routing_profile"
    url = routing.recreate(os.environ["DATABASE_URL"])
    migrate(url, os.environ.get("REDIS_URL", ""))
    setup_django(url, os.environ.get("REDIS_URL", ""))
    from django.conf import settings
    from django.db import connection

    from interactions.models import Conversation
    from interactions.services import resolve_conversation
    from routing.services import route_next, route_queue

    settings.OMNIDESK_STATS_LIVE = False
    queue = routing.populate(agents=args.agents, waiting=args.waiting)
    route_next(queue=queue)  # warm the caches (content types, query compilation)
    pid = routing.backend_pid(connection)
    counter = StatementCounter(pid)
    profiler = cProfile.Profile()
    done, cpu0 = 0, time.process_time()
    with connection.execute_wrapper(counter):
        if not args.no_cprofile:
            profiler.enable()
        while done < args.decisions:
            if args.per_transaction > 1:
                step = route_queue(queue=queue, limit=args.per_transaction, per_transaction=args.per_transaction)
            else:
                step = 0 if route_next(queue=queue) is None else 1
            if step == 0:
                break
            done += step
        profiler.disable()
    cpu = time.process_time() - cpu0
    print(
        f"route_next: {done} decisions, {sum(counter.kinds.values()) / max(done, 1):.1f} statements each,"
        f" {cpu * 1000 / max(done, 1):.1f} ms client CPU each{'' if args.no_cprofile else ' (under cProfile)'}"
    )
    counter.report(max(done, 1))
    if args.dump and not args.no_cprofile:
        profiler.dump_stats(args.dump)
    if not args.no_cprofile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())

    if args.explain:
        explain_next_decision(queue)

    conversations = list(
        Conversation.objects.filter(assignee__isnull=False).select_related("assignee")[: args.releases]
    )
    counter = StatementCounter(pid)
    profiler = cProfile.Profile()
    cpu0 = time.process_time()
    with connection.execute_wrapper(counter):
        if not args.no_cprofile:
            profiler.enable()
        for conversation in conversations:
            resolve_conversation(conversation=conversation, by=conversation.assignee)
        profiler.disable()
    cpu = time.process_time() - cpu0
    n = max(len(conversations), 1)
    print(
        f"resolve + refill: {len(conversations)} releases, {sum(counter.kinds.values()) / n:.1f} statements each,"
        f" {cpu * 1000 / n:.1f} ms client CPU each{'' if args.no_cprofile else ' (under cProfile)'}"
    )
    counter.report(n)
    if args.dump and not args.no_cprofile:
        profiler.dump_stats(args.dump + ".releases")
    if not args.no_cprofile:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
