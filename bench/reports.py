"""reports: the historical report, the wallboard computation and the cost of writing a reporting event.

What is measured
    On the CRM data set of `seed_volume` (DATABASE_URL with the name `omnidesk_bench_crm`, shared with timeline and
    search; its reporting events are generated once, spread over the last 90 days, if it has none):
    - "report": reporting.selectors.report for the last 30 days, all queues, grouped by queue, as a supervisor (the
      figures /desk/reports/ and /api/reports/ show, previous period, FCR and attrition included), in process;
    - "wallboard": reporting.wallboard.figures() (today's tiles, agents, 15-minute chart data);
    - "report_rollups": the same report's rollup reads alone (rows by queue, total, previous period), i.e. without
      FCR and channel attrition, which read events;
    - "record": one reporting.events.record() (event row + rollup UPSERT) inside a transaction, per call.

Reading a line
    {"bench": "reports", "target": "wallboard"|"report_rollups"|"report"|"record", "events": N, "requests": n,
     "p50_ms": …, "p95_ms": …, "p99_ms": …, "max_ms": …, "cpu_p50_ms": …, "cpu_p99_ms": …, "load_average": …}
    cpu_*: this process's CPU time per call (no database server time, no waiting for a core); load_average: the
    1-minute load average when the line was written — far above the core count, the wall times measure the machine.
"""

from __future__ import annotations

import argparse
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
        help="timed calls of the full 30-day report (default: --crm-requests); FCR and attrition read events, which "
        "takes seconds per call at 1,000,000 interactions",
    )


WARMUP = 5


def measure(call: Callable[[], Any], requests: int, *, warmup: int = WARMUP) -> tuple[list[float], list[float], int]:
    """(wall times, this process's CPU times — both ms, ascending — and the queries of the last call).

    The CPU time leaves out the database server and, above all, the time spent waiting for a core: on a shared,
    overloaded machine (load average far above the core count) the wall time mostly measures the queue for a CPU.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        call()
    times, cpu = [], []
    queries = 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            call()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        queries = len(captured.captured_queries)
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


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    prepare_crm(args)
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from customers.management.commands.seed_volume import SUPERVISOR_USERNAME
    from reporting import kpis, selectors, wallboard
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

    def report_rollups() -> None:
        """The rollup part of the report alone (rows, total, previous period): everything but FCR and attrition."""
        start, end = kpis.day_range(today - timedelta(days=29), today + timedelta(days=1), "Europe/Paris")
        kpis.compute(start=start, end=end, filters={}, group_by="queue")
        kpis.compute(start=start, end=end, filters={})
        kpis.compute(start=start - timedelta(days=30), end=start, filters={})

    # Cheapest first, so that a slow full report never hides the other figures.
    times, cpu, queries = measure(wallboard.figures, requests)
    emit(line("wallboard", times, events, queries, cpu))
    times, cpu, queries = measure(report_rollups, requests)
    emit(line("report_rollups", times, events, queries, cpu))

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

    times, cpu, queries = measure(report, args.reports_report_requests or requests, warmup=1)
    emit(line("report", times, events, queries, cpu))
