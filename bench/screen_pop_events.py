"""screen_pop_events: the worker's cost of each call event kind of the screen_pop benchmark, robust to a busy machine.

Not part of `make bench` (a profile, not a figure): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.screen_pop_events --calls 200

The benchmark's data set (bench/screen_pop.py `create_fixture`) in its own database
(`omnidesk_bench_screen_pop_events`); each call is a `ringing` then its `hangup` (the benchmark's: a missed call,
so a callback and the case resolved), each stored as the intake stores it and processed as a batch of one
(`process_claimed_events`, what the worker does for the call lane). Per event kind it prints the statements, and the
client CPU per event as a median and a 25th percentile over the calls (the mean of bench/screen_pop_profile.py moves
with whatever else runs; the low quantiles much less), and with `--cprofile KIND` the top functions of that kind by
their own time (`tottime`), where the compilation of queries shows.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import screen_pop
from bench.screen_pop_profile import StatementCounter

DATABASE = "omnidesk_bench_screen_pop_events"
KINDS = ("ringing", "hangup")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def count_compiles(compiling: list[Counter[str]]) -> None:
    """Count each query compiled (`SQLCompiler.as_sql`, subqueries included) into `compiling[-1]`, by the nearest
    function of the project's own code that caused it."""
    from django.db.models.sql.compiler import SQLCompiler

    root = str(Path(__file__).resolve().parent.parent)
    as_sql = SQLCompiler.as_sql

    def counted(compiler: SQLCompiler, *args: Any, **kwargs: Any) -> Any:
        if compiling:
            frame = sys._getframe(1)
            while frame is not None:
                name = frame.f_code.co_filename
                if name.startswith(root) and "site-packages" not in name and "/bench/" not in name:
                    compiling[-1][f"{name[len(root) + 1 :]}:{frame.f_code.co_name}"] += 1
                    break
                frame = frame.f_back  # type: ignore[assignment]
        return as_sql(compiler, *args, **kwargs)

    SQLCompiler.as_sql = counted  # type: ignore[method-assign,assignment]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.screen_pop_events")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--cprofile", choices=KINDS, default=None, help="cProfile this event kind (inflates its CPU)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", default="", help="with --cprofile: also write the profile's stats to this file")
    parser.add_argument(
        "--compiles", action="store_true", help="count the queries each event compiles, by the project's function"
    )
    args = parser.parse_args()
    fixture, channel = screen_pop.profiled_fixture(database=DATABASE, bench="screen_pop_events", callers=args.callers)
    from django.db import connection, transaction

    from interactions.inbound import process_claimed_events, record_inbound_event

    def store(call_id: str, event: str, number: str) -> int:
        payload = {"event": event, "call_id": call_id, "from": number, "received_at": datetime.now(tz=UTC).isoformat()}
        if event == "ringing":
            payload["agent"] = "bench-agent"
        else:
            payload["cause"] = "answered_elsewhere"
        with transaction.atomic():
            stored, _new = record_inbound_event(
                channel=channel, external_id=f"{call_id}:{event}", payload=payload, provider="cti"
            )
        return int(stored.pk)

    compiles: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    compiling: list[Counter[str]] = []
    if args.compiles:
        count_compiles(compiling)
    counters = {kind: StatementCounter() for kind in KINDS}
    cpu: dict[str, list[float]] = {kind: [] for kind in KINDS}
    profiler = cProfile.Profile() if args.cprofile else None

    def call(index: int, measured: bool) -> None:
        number = fixture.numbers[index % len(fixture.numbers)]
        for kind in KINDS:
            event_id = store(f"events-{index}", kind, number)
            counter = counters[kind]
            started = time.process_time()
            if not measured:
                process_claimed_events(event_ids=[event_id])
                continue
            if profiler is not None and kind == args.cprofile:
                profiler.enable()
            compiling.append(compiles[kind])
            with connection.execute_wrapper(counter):
                process_claimed_events(event_ids=[event_id])
            compiling.pop()
            if profiler is not None and kind == args.cprofile:
                profiler.disable()
            cpu[kind].append(time.process_time() - started)

    for index in range(5):  # warm the caches (content types, compiled queries)
        call(-1 - index, measured=False)
    for index in range(args.calls):
        call(index, measured=True)
    n = max(args.calls, 1)
    for kind in KINDS:
        counter, spent = counters[kind], [seconds * 1000 for seconds in cpu[kind]]
        print(
            f"{kind}: {sum(counter.kinds.values()) / n:.2f} statements, client CPU median"
            f" {statistics.median(spent):.2f} ms, p25 {quantile(spent, 0.25):.2f} ms, mean"
            f" {statistics.fmean(spent):.2f} ms; {counter.seconds * 1000 / n:.1f} ms waiting on the database"
        )
        for statement, count in counter.kinds.most_common():
            print(f"  {count / n:6.2f}  {statement}")
        if args.compiles:
            print(f"  queries compiled per {kind}, by the project's function that ran them:")
            for function, count in compiles[kind].most_common():
                print(f"  {count / n:6.2f}  {function}")
    if profiler is not None:
        if args.dump:
            profiler.dump_stats(args.dump)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
