"""reports: the historical report, the wallboard computation and the cost of writing a reporting event.

What is measured
    On the CRM data set of `seed_volume` (DATABASE_URL with the name `omnidesk_bench_crm`, shared with timeline and
    search; its reporting events are generated once, spread over the last 90 days, if it has none):
    - "report": reporting.selectors.report for the last 30 days, all queues, grouped by queue, as a supervisor (the
      figures /desk/reports/ and /api/reports/ show, previous period, FCR and attrition included), in process;
    - "wallboard": reporting.wallboard.figures() (today's tiles, agents, 15-minute chart data);
    - "report_by_day": the same report grouped by local day (the 15-minute rollups summed per day by the database);
    - "record": one reporting.events.record() (event row + rollup UPSERT) inside a transaction, per call, for an
      answer and for a customer message (which also looks for the resolutions it repeats and the cases it attrites);
    - "chat_e2e": chat_e2e's stack (bench/chat_e2e.py, its own scratch database) at a fixed rate, alternately without
      reporting (OMNIDESK_BENCH_WITHOUT_REPORTING=1 in uvicorn's and the worker's environment: every
      reporting.transitions hook returns at once) and with it, --reports-e2e-rounds times each; "reporting": false /
      true, msg_per_s = delivered ÷ (last delivery − first send), and one "chat_e2e_cost" line: the throughput lost,
      from the summed messages and seconds of each side (--reports-e2e-rounds 0 skips it).

Reading a line
    {"bench": "reports", "target": "wallboard"|"report_by_day"|"report"|"record"|"record_message", "events": N,
     "requests": n,
     "p50_ms": …, "p95_ms": …, "p99_ms": …, "max_ms": …, "cpu_p50_ms": …, "cpu_p99_ms": …, "load_average": …}
    cpu_*: this process's CPU time per call (no database server time, no waiting for a core); load_average: the
    1-minute load average when the line was written — far above the core count, the wall times measure the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.measures import percentile, rounded
from bench.timeline import add_crm_arguments, prepare_crm

logger = logging.getLogger("bench.reports")
Emit = Callable[[dict[str, Any]], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_crm_arguments(parser)
    group = parser.add_argument_group("reports")
    group.add_argument(
        "--reports-report-requests",
        type=int,
        default=None,
        help="timed calls of the full 30-day report (default: --crm-requests)",
    )
    group.add_argument("--reports-e2e-rounds", type=int, default=2, help="chat_e2e runs with and without reporting")
    group.add_argument(
        "--reports-ingest-calls", type=int, default=200, help="in-process receive_message calls, with and without"
    )
    group.add_argument("--reports-e2e-messages", type=int, default=600, help="measured messages per chat_e2e run")
    group.add_argument(
        "--reports-e2e-rate",
        type=float,
        default=150.0,
        help="chat_e2e send rate in msg/s (above what the stack keeps up with, to measure its throughput)",
    )


WARMUP = 5


def measure(call: Callable[[], Any], requests: int, *, warmup: int = WARMUP) -> tuple[list[float], list[float], int]:
    """(wall times, this process's CPU times — both ms, ascending — and the queries of one call).

    The CPU time leaves out the database server and, above all, the time spent waiting for a core: on a shared,
    overloaded machine (load average far above the core count) the wall time mostly measures the queue for a CPU.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        call()
    # Queries counted on one more, untimed call: capturing them turns on the debug cursor, whose bookkeeping would
    # be timed as the call's own CPU.
    with CaptureQueriesContext(connection) as captured:
        call()
    queries = len(captured.captured_queries)
    times, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return sorted(times), sorted(cpu), queries


def line(
    target: str, times: list[float], events: int, queries: int | None = None, cpu: list[float] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {"bench": "reports", "target": target, "events": events, "requests": len(times)}
    if queries is not None:
        result["queries"] = queries
    for name, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        result[name] = rounded(percentile(times, q))
    result["max_ms"] = rounded(max(times))
    if cpu:
        result["cpu_p50_ms"] = rounded(percentile(cpu, 50))
        result["cpu_p99_ms"] = rounded(percentile(cpu, 99))
    result["load_average"] = rounded(os.getloadavg()[0])
    return result


def chat_e2e_cost(args: argparse.Namespace, *, emit: Emit) -> None:
    """chat_e2e's stack, alternately without and with reporting, on one scratch database (bench/chat_e2e.py)."""
    from bench import chat_e2e
    from bench.environment import BENCH_DATABASE, create_fixture, flush_redis, fresh_database, migrate, setup_django
    from tests.stack import Stack

    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    bench_url = fresh_database(database_url, BENCH_DATABASE, bench="reports")
    flush_redis(redis_url)
    migrate(bench_url, redis_url)
    setup_django(bench_url, redis_url)
    fixture = create_fixture()
    e2e = argparse.Namespace(
        messages=args.reports_e2e_messages,
        visitors=min(50, getattr(args, "visitors", 50)),
        drain_timeout=60.0,
        worker_concurrency=2,
    )
    unlimited = dict.fromkeys(
        (
            "OMNIDESK_WIDGET_VISITOR_RATE",
            "OMNIDESK_WIDGET_VISITOR_BURST",
            "OMNIDESK_WIDGET_SOCKET_RATE",
            "OMNIDESK_WIDGET_SOCKET_BURST",
            "OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE",
        ),
        "100000",
    )
    totals = {False: [0, 0.0], True: [0, 0.0]}  # delivered messages, seconds
    for _ in range(args.reports_e2e_rounds):
        for reporting in (False, True):
            env = {**unlimited, "OMNIDESK_BENCH_WITHOUT_REPORTING": "" if reporting else "1"}
            stack = Stack(database_url=bench_url, redis_url=redis_url, worker_concurrency=2, extra_env=env)
            flush_redis(redis_url)
            stack.start(timeout=60)
            try:
                with asyncio.Runner(loop_factory=chat_e2e.new_event_loop) as runner:
                    result = runner.run(chat_e2e.run_one(stack, fixture, e2e, args.reports_e2e_rate))
                # The next run starts from an idle pipeline: what this one left is processed before its stack stops.
                deadline = time.monotonic() + 120
                while chat_e2e.pipeline_backlog() and time.monotonic() < deadline:
                    time.sleep(1)
            finally:
                stack.stop()
            emit(
                {
                    **result,
                    "bench": "reports",
                    "target": "chat_e2e",
                    "reporting": reporting,
                    "load_average": rounded(os.getloadavg()[0]),
                }
            )
            if result.get("msg_per_s"):
                totals[reporting][0] += result["delivered"]
                totals[reporting][1] += result["delivered"] / result["msg_per_s"]
    if args.reports_ingest_calls > 0:
        ingest_cost(emit=emit, calls=args.reports_ingest_calls)
    if not args.reports_e2e_rounds:
        return
    without, with_ = (totals[flag][0] / totals[flag][1] if totals[flag][1] else 0.0 for flag in (False, True))
    emit(
        {
            "bench": "reports",
            "target": "chat_e2e_cost",
            "msg_per_s_without": rounded(without),
            "msg_per_s_with": rounded(with_),
            "cost_percent": rounded(100 * (1 - with_ / without)) if without else None,
        }
    )


def ingest_cost(*, emit: Emit, calls: int) -> None:
    """The worker's per-message service in process, without and with reporting, alternated in blocks of 10: CPU time
    per message is what throughput costs on a CPU-bound stack, and it barely depends on what else the machine runs.

    Each call is interactions.services.receive_message in its own transaction, as the ingest task makes it, for a
    follow-up message of a customer with an open, assigned chat (chat_e2e's measured messages)."""
    import uuid

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from customers.models import Customer
    from interactions.models import Channel
    from interactions.services import receive_message
    from reporting import transitions

    channel = Channel.objects.get(name="Bench chat")
    customers = [Customer.objects.create(display_name=f"Ingest {n}") for n in range(10)]

    def one(customer: Customer) -> None:
        with transaction.atomic():
            receive_message(
                customer=customer, channel=channel, external_id=uuid.uuid4().hex, text="Encore une question"
            )

    for customer in customers:  # their cases opened and routed, not measured
        one(customer)
    results: dict[bool, tuple[list[float], list[float]]] = {False: ([], []), True: ([], [])}
    queries: dict[bool, int] = {}
    try:
        for block in range(max(2, calls // 10)):
            for reporting in (False, True) if block % 2 else (True, False):
                transitions.RECORDING = reporting
                if reporting not in queries:
                    with CaptureQueriesContext(connection) as captured:
                        one(customers[0])
                    queries[reporting] = len(captured.captured_queries)
                for customer in customers:
                    started, started_cpu = time.perf_counter(), time.process_time()
                    one(customer)
                    results[reporting][0].append((time.perf_counter() - started) * 1000)
                    results[reporting][1].append((time.process_time() - started_cpu) * 1000)
    finally:
        transitions.RECORDING = True
    for reporting, (times, cpu) in results.items():
        emit(
            {
                **line("ingest_message", sorted(times), 0, queries[reporting], sorted(cpu)),
                "reporting": reporting,
                "cpu_mean_ms": rounded(sum(cpu) / len(cpu)),
            }
        )
    cpu_without, cpu_with = (sum(results[flag][1]) / len(results[flag][1]) for flag in (False, True))
    emit(
        {
            "bench": "reports",
            "target": "ingest_message_cost",
            "cpu_mean_ms_without": rounded(cpu_without),
            "cpu_mean_ms_with": rounded(cpu_with),
            "cost_percent": rounded(100 * (cpu_with / cpu_without - 1)),
        }
    )


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    if getattr(args, "smoke", False):  # CI's run of every benchmark at a tiny size (bench/__main__.py)
        args.reports_e2e_rounds, args.reports_e2e_messages, args.reports_e2e_rate = 1, 20, 20.0
        args.reports_ingest_calls, args.reports_report_requests = 10, 3
    if args.reports_e2e_rounds > 0 or args.reports_ingest_calls > 0:
        chat_e2e_cost(args, emit=emit)
    prepare_crm(args)
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from customers.management.commands.seed_volume import SUPERVISOR_USERNAME
    from reporting import selectors, wallboard
    from reporting.events import record
    from reporting.models import EventKind, ReportingEvent
    from reporting.seeding import seed_reporting
    from routing.models import Queue

    started = time.monotonic()
    written, _ = seed_reporting(days=90)
    if written:
        logger.info("reports: generated %d reporting events in %.1f s", written, time.monotonic() - started)
    events = ReportingEvent.objects.count()
    supervisor = get_user_model().objects.get(username=SUPERVISOR_USERNAME)
    today = selectors.today_for("Europe/Paris")
    requests = args.crm_requests

    def report() -> None:
        selectors.report(
            user=supervisor, first=today - timedelta(days=29), last=today, tz="Europe/Paris", group="queue", filters={}
        )

    def report_by_day() -> None:
        selectors.report(
            user=supervisor, first=today - timedelta(days=29), last=today, tz="Europe/Paris", group="day", filters={}
        )

    # Cheapest first, so that a slow full report never hides the other figures.
    times, cpu, queries = measure(wallboard.figures, requests)
    emit(line("wallboard", times, events, queries, cpu))
    times, cpu, queries = measure(report_by_day, requests)
    emit(line("report_by_day", times, events, queries, cpu))

    queue_id = Queue.objects.order_by("pk").values_list("pk", flat=True).first()

    def write() -> None:
        with transaction.atomic():
            record(  # with a queue: its settings and business calendar are read, as in production
                kind=EventKind.ANSWERED,
                queue_id=queue_id,
                channel_kind="chat",
                agent_id=supervisor.pk,
                duration_seconds=3,
            )
            transaction.set_rollback(True)  # measure the write, keep the data set as it was

    times, cpu, queries = measure(write, requests)
    emit(line("record", times, events, queries, cpu))
    customer_id = ReportingEvent.objects.filter(kind=EventKind.RESOLVED).values_list("customer_id", flat=True).last()

    def write_message() -> None:
        with transaction.atomic():
            record(kind=EventKind.CUSTOMER_MESSAGE, queue_id=queue_id, channel_kind="chat", customer_id=customer_id)
            transaction.set_rollback(True)

    times, cpu, queries = measure(write_message, requests)
    emit(line("record_message", times, events, queries, cpu))

    times, cpu, queries = measure(report, args.reports_report_requests or requests, warmup=1)
    emit(line("report", times, events, queries, cpu))
