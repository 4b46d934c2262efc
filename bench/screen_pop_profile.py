"""screen_pop_profile: where one `ringing` event spends its time in the worker (cProfile), how many SQL statements it
sends, and how that grows with the agent's and callers' history.

Not part of `make bench` (a profile, not a figure): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.screen_pop_profile --calls 200 --callers 50

It builds the screen_pop benchmark's data set (bench/screen_pop.py `create_fixture`) in its own database
(`omnidesk_bench_screen_pop_profile`), stores `--calls` signed-webhook-shaped `ringing` events exactly as the intake
does (`record_inbound_event`) and processes each as a batch of one (`process_claimed_events`, what a worker does
under light traffic), followed — untimed — by its `hangup`, as the benchmark does. It prints statements per ringing
by kind, client CPU per ringing (first and last tenth: a cost that grows with history shows here), and the top
functions by cumulative time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from bench import screen_pop
from bench.measures import StatementCounter

DATABASE = "omnidesk_bench_screen_pop_profile"


# Steps of a ringing (or, with --profile hangup, a hang-up) timed by --breakdown: (module, attribute) where the caller
# looks the function up, so that the wrapper is what runs. Nested steps are included in their parent's time.
BREAKDOWN_STEPS = (
    ("interactions.phone.call_lock", "lock_call"),
    ("interactions.phone.services", "note_event"),
    ("interactions.phone.services", "open_call_entry"),
    ("interactions.phone.services", "lock_customer_by_identity"),
    ("interactions.phone.services", "receive_message"),
    ("interactions.phone.services", "link_to_open_case"),
    ("interactions.phone.services", "settle"),
    ("interactions.phone.services", "update_entry"),
    ("interactions.phone.services", "pop_screens"),
    ("interactions.phone.screen_pop", "recipients"),
    ("interactions.phone.screen_pop", "pop_for"),
    ("interactions.phone.screen_pop", "last_interactions"),
    ("interactions.phone.services", "announce_call"),
    ("interactions.phone.callbacks", "schedule_callback_for_missed_call"),
    ("interactions.phone.services", "resolve_conversation"),
    ("reporting.transitions", "call_ended"),
    ("interactions.inbound", "process_one"),
)


class Breakdown:
    """CPU time, wall time and statements per step (wrappers installed on the module attributes of BREAKDOWN_STEPS):
    without cProfile's overhead, which inflates Django's many small calls far more than the database's waits."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.statements: dict[str, int] = {}
        self.counter: StatementCounter | None = None
        self.active = False  # only the ringings are timed

    def install(self) -> None:
        import importlib

        for module_name, name in BREAKDOWN_STEPS:
            module = importlib.import_module(module_name)
            setattr(module, name, self.wrap(name, getattr(module, name)))

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return function(*args, **kwargs)
            cpu, wall = time.process_time(), time.perf_counter()
            statements = sum(self.counter.kinds.values()) if self.counter is not None else 0
            try:
                return function(*args, **kwargs)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
                if self.counter is not None:
                    sent = sum(self.counter.kinds.values()) - statements
                    self.statements[name] = self.statements.get(name, 0) + sent

        return timed

    def report(self, calls: int) -> str:
        n = max(calls, 1)
        return "\n".join(
            f"  {name:<28} CPU {self.cpu.get(name, 0.0) * 1000 / n:6.2f} ms"
            f"  wall {self.wall.get(name, 0.0) * 1000 / n:6.2f} ms  statements {self.statements.get(name, 0) / n:5.2f}"
            for _module, name in BREAKDOWN_STEPS
        )


@contextlib.contextmanager
def profiled(profiler: cProfile.Profile | None) -> Iterator[None]:
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.screen_pop_profile")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sql", action="store_true", help="print the statements of the last ringing")
    parser.add_argument("--profile", choices=("ringing", "hangup"), default="ringing", help="which event cProfile sees")
    parser.add_argument(
        "--no-cprofile", action="store_true", help="no cProfile: the client CPU figures are then the real ones"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="CPU, wall time and statements of each step of the ringing or hang-up (--profile; implies --no-cprofile)",
    )
    args = parser.parse_args()
    if args.breakdown:
        args.no_cprofile = True
    fixture, channel = screen_pop.profiled_fixture(database=DATABASE, bench="screen_pop_profile", callers=args.callers)
    from django.db import connection, transaction

    from interactions.inbound import process_claimed_events, record_inbound_event

    def store(call_id: str, event: str, number: str) -> int:
        payload = {"event": event, "call_id": call_id, "from": number}
        if event == "ringing":
            payload["agent"] = "bench-agent"
        else:
            payload["cause"] = "answered_elsewhere"
        payload["received_at"] = datetime.now(tz=UTC).isoformat()
        with transaction.atomic():
            stored, _new = record_inbound_event(
                channel=channel, external_id=f"{call_id}:{event}", payload=payload, provider="cti"
            )
        return int(stored.pk)

    breakdown = Breakdown() if args.breakdown else None
    if breakdown is not None:
        breakdown.install()

    def call(index: int, counter: StatementCounter | None, profiler: cProfile.Profile | None) -> tuple[float, float]:
        """Client CPU seconds of the ringing and of the hang-up."""
        number = fixture.numbers[index % len(fixture.numbers)]
        ringing = store(f"profile-{index}", "ringing", number)
        cpu = time.process_time()
        if counter is not None:
            counter.statements.clear()
            if breakdown is not None:
                breakdown.active = args.profile == "ringing"
            with connection.execute_wrapper(counter), profiled(profiler if args.profile == "ringing" else None):
                process_claimed_events(event_ids=[ringing])
            if breakdown is not None:
                breakdown.active = False
        else:
            process_claimed_events(event_ids=[ringing])
        spent = time.process_time() - cpu
        # The benchmark's hang-up: no agent named, the caller's missed call (callback, case resolved).
        hangup = store(f"profile-{index}", "hangup", number)
        cpu = time.process_time()
        if counter is not None:
            hangups.statements.clear()
            if breakdown is not None:
                breakdown.active, breakdown.counter = args.profile == "hangup", hangups
            with connection.execute_wrapper(hangups), profiled(profiler if args.profile == "hangup" else None):
                process_claimed_events(event_ids=[hangup])
            if breakdown is not None:
                breakdown.active, breakdown.counter = False, counter
        else:
            process_claimed_events(event_ids=[hangup])
        return spent, time.process_time() - cpu

    for index in range(5):  # warm the caches (content types, query compilation)
        call(-1 - index, None, None)
    counter, hangups = StatementCounter(), StatementCounter()
    if breakdown is not None:
        breakdown.cpu.clear()
        breakdown.wall.clear()
        breakdown.statements.clear()
        breakdown.counter = counter
    profiler = None if args.no_cprofile else cProfile.Profile()
    wall = time.perf_counter()
    both = [call(index, counter, profiler) for index in range(args.calls)]
    wall = time.perf_counter() - wall
    cpus, hangup_cpus = [ring for ring, _ in both], [hang for _, hang in both]
    n, tenth = max(len(cpus), 1), max(len(cpus) // 10, 1)
    under = "" if profiler is None else f" ({args.profile} under cProfile)"
    print(
        f"ringing: {len(cpus)} calls, {sum(counter.kinds.values()) / n:.1f} statements each,"
        f" {counter.seconds * 1000 / n:.1f} ms waiting on the database each,"
        f" client CPU{under} first tenth {sum(cpus[:tenth]) * 1000 / tenth:.1f} ms,"
        f" last tenth {sum(cpus[-tenth:]) * 1000 / tenth:.1f} ms, mean {sum(cpus) * 1000 / n:.1f} ms;"
        f" hang-up client CPU mean {sum(hangup_cpus) * 1000 / n:.1f} ms; wall incl. hang-ups {wall:.1f} s"
    )
    for kind, count in counter.kinds.most_common():
        print(f"  {count / n:6.2f}  {counter.kind_seconds.get(kind, 0.0) * 1000 / n:7.2f} ms  {kind}")
    print(
        f"hangup: {sum(hangups.kinds.values()) / n:.1f} statements each,"
        f" {hangups.seconds * 1000 / n:.1f} ms waiting on the database each"
    )
    for kind, count in hangups.kinds.most_common():
        print(f"  {count / n:6.2f}  {hangups.kind_seconds.get(kind, 0.0) * 1000 / n:7.2f} ms  {kind}")
    if breakdown is not None:
        print(f"{args.profile} steps (per call; only the {args.profile}s are timed):")
        print(breakdown.report(len(cpus)))
    if args.sql:
        print("\n".join(counter.statements))
        print("-- the last hang-up's statements:")
        print("\n".join(hangups.statements))
    top = sorted(counter.kind_seconds.items(), key=lambda item: -item[1])[:5]
    print("slowest kinds:", ", ".join(f"{kind} {spent * 1000 / n:.1f} ms" for kind, spent in top))
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
