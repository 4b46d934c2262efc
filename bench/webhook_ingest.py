"""webhook_ingest: signed Twilio SMS webhooks → InboundEvent → Celery worker → timeline + the agent's desk, on the real
stack (the webhooks served as in the Procfile by gunicorn and the hooks application, omnidesk/hooks_app.py, or by
uvicorn and the whole site; the desk's socket by uvicorn; a Celery worker, PostgreSQL, Redis).

What is measured
    burst      N signed webhooks (10 % re-deliveries of an earlier one, 2 % swapped out of order) posted as fast as C
               keep-alive connections allow (closed loop). accepted_per_s = 200 answers / burst seconds; ack_p99_ms is
               the HTTP answer time (store + commit, before any processing).
    drain      the worker's backlog left at the end of the burst, processed: drain_per_s = events processed after the
               burst ended / seconds until none is left.
    sustained  an open-loop phase at R msg/s for S seconds (same 10 % duplicates), each send scheduled on an absolute
               clock. e2e = the agent's desk socket receiving the message's `message.created` frame − the scheduled
               send time; sustained_per_s = frames received / (last frame − first send).
    ledger     every id answered 200 must be exactly one InboundEvent and one Interaction: lost / duplicated.
The load generator (bench/webhook_client.py) is a small HTTP/1.1 client on asyncio streams with pre-signed requests;
its CPU ("bench") is reported on stderr with every other process's.

Reading the line
    {"bench": "webhook_ingest", "sent": N, "accepted_per_s", "ack_p99_ms", "drain_per_s", "sustained_per_s",
     "e2e_p99_ms", "lost", "duplicated", …}

Options (prefixed): --webhook-ingest-burst (20000), --webhook-ingest-sustained-seconds (300),
--webhook-ingest-sustained-rate (250), --webhook-ingest-connections (32),
--webhook-ingest-server (gunicorn|uvicorn|uvicorn-wsgi),
--webhook-ingest-web-workers (2), --webhook-ingest-hooks-threads (gunicorn's threads per process, 16),
--webhook-ingest-worker-concurrency (2), --webhook-ingest-batch-size (worker batch, default the setting's 20).
Uses its own database (omnidesk_bench_webhook, dropped and re-created) and flushes the Redis db of REDIS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from bench.chat_e2e import Desk, new_event_loop
from bench.environment import configure_logging, flush_redis, fresh_database, migrate, setup_django
from bench.measures import cpu_report, cpu_ticks, machine_busy_ticks, percentile, rounded, summary_ms
from bench.webhook_client import Webhook, post_all, signed_sms
from tests.stack import ROOT, Stack, free_port

logger = logging.getLogger("bench.webhook_ingest")
Emit = Callable[[dict[str, Any]], None]
DATABASE = "omnidesk_bench_webhook"
AUTH_TOKEN = "bench-twilio-auth-token"
CUSTOMERS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("webhook_ingest")
    group.add_argument("--webhook-ingest-burst", type=int, default=20_000, help="webhooks in the burst (20000)")
    group.add_argument("--webhook-ingest-sustained-seconds", type=float, default=300, help="sustained phase (300 s)")
    group.add_argument("--webhook-ingest-sustained-rate", type=float, default=250, help="sustained rate (250/s)")
    group.add_argument("--webhook-ingest-connections", type=int, default=32, help="client connections (32)")
    group.add_argument(
        "--webhook-ingest-server",
        choices=["gunicorn", "uvicorn", "uvicorn-wsgi"],
        default="gunicorn",
        help="serves the webhooks",
    )
    group.add_argument("--webhook-ingest-web-workers", type=int, default=2, help="webhook server processes (2)")
    group.add_argument(
        "--webhook-ingest-hooks-threads", type=int, default=16, help="gunicorn threads per process (16, the Procfile's)"
    )
    group.add_argument("--webhook-ingest-worker-concurrency", type=int, default=2, help="Celery processes (2)")
    group.add_argument(
        "--webhook-ingest-drain-timeout", type=float, default=900, help="give up waiting for a backlog after (900 s)"
    )
    group.add_argument("--webhook-ingest-batch-size", type=int, default=0, help="worker ingest batch (setting)")


# --- the stack ---------------------------------------------------------------------------------------------------


@dataclass
class WebhookStack(Stack):
    """The test stack; webhooks served either by uvicorn (ASGI, with the websockets) or by gunicorn (WSGI, gthread
    workers) beside it on its own port. Both run in one process group, so the CPU report counts them as "server"."""

    web_workers: int = 1
    hooks_server: str = "gunicorn"
    hooks_threads: int = 16
    hooks_port: int = field(default_factory=free_port)

    def start_server(self) -> None:
        uvicorn = [
            sys.executable, "-m", "uvicorn", "omnidesk.asgi:application", "--host", "127.0.0.1",
            "--port", str(self.port), "--no-access-log", "--ws-per-message-deflate", "false", "--lifespan", "off",
        ]  # fmt: skip
        if self.hooks_server == "uvicorn":
            self.hooks_port = self.port
            command = shlex.join([*uvicorn, "--workers", str(self.web_workers)])
            # Under ASGI every request runs in a new context with a new database connection: persistent connections
            # (CONN_MAX_AGE > 0) are never reused there and pile up until PostgreSQL refuses clients.
            env = {**self.env(), "DB_CONN_MAX_AGE": "0"}
        elif self.hooks_server == "uvicorn-wsgi":
            # The hooks application through uvicorn's own WSGI bridge (deprecated by uvicorn; measured for comparison
            # only): a pool of threads that keep their database connections, as gunicorn's do.
            hooks = [
                sys.executable, "-m", "uvicorn", "omnidesk.hooks_wsgi:application", "--interface", "wsgi",
                "--host", "127.0.0.1", "--port", str(self.hooks_port), "--workers", str(self.web_workers),
                "--no-access-log", "--lifespan", "off", "--backlog", "2048",
            ]  # fmt: skip
            command = f"DB_CONN_MAX_AGE=0 {shlex.join(uvicorn)} & exec {shlex.join(hooks)}"
            env = self.env()  # the hooks keep their connections; the desk's uvicorn, as the Procfile's `web`, not
        else:
            gunicorn = [
                sys.executable, "-m", "gunicorn", "omnidesk.hooks_wsgi:application",
                "--bind", f"127.0.0.1:{self.hooks_port}",
                "--workers", str(self.web_workers), "--worker-class", "gthread", "--threads", str(self.hooks_threads),
                "--keep-alive", "30", "--backlog", "2048", "--log-level", "warning",
            ]  # fmt: skip
            command = f"DB_CONN_MAX_AGE=0 {shlex.join(uvicorn)} & exec {shlex.join(gunicorn)}"
            env = self.env()
        self.server = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=ROOT, env=env, stdout=self._log("server"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def healthy(self) -> bool:
        if not super().healthy():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.hooks_port), timeout=1):
                return True
        except OSError:
            return False


@dataclass(frozen=True)
class Fixture:
    channel_id: int
    channel_uuid: str
    cookie: str


def create_fixture() -> Fixture:
    """A queue, a Twilio SMS channel routed to it and an available agent with room for every conversation."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from interactions.models import Channel
    from routing.models import AgentProfile, Queue

    queue = Queue.objects.create(name="Bench SMS")
    channel = Channel.objects.create(
        kind=Channel.Kind.SMS,
        name="Bench SMS",
        queue=queue,
        config={"account_sid": "ACbench", "from_number": "+33700000001"},
        secrets={"auth_token": AUTH_TOKEN},
    )
    agent = get_user_model().objects.create_user(username="bench-sms-agent", first_name="Bench")
    AgentProfile.objects.update_or_create(
        user=agent,
        defaults={
            "role": AgentProfile.Role.AGENT,
            "presence": AgentProfile.Presence.AVAILABLE,
            "chat_capacity": 30_000,
        },
    )
    queue.members.add(agent)
    client = Client()
    client.force_login(agent)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    connections.close_all()
    return Fixture(channel_id=channel.pk, channel_uuid=str(channel.uuid), cookie=cookie)


# --- the plan of deliveries ------------------------------------------------------------------------------------------


def signed_request(stack: WebhookStack, fixture: Fixture, sid: str, sender: str) -> Webhook:
    path = f"/hooks/twilio/{fixture.channel_uuid}/"
    host = f"127.0.0.1:{stack.hooks_port}"
    body, signature = signed_sms(host=host, path=path, token=AUTH_TOKEN, sid=sid, sender=sender)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return Webhook(sid=sid, raw=head.encode() + body)


def sequence(stack: WebhookStack, fixture: Fixture, count: int, prefix: str, rng: random.Random) -> list[Webhook]:
    """`count` deliveries: ~10 % re-deliveries of earlier ones, ~2 % swapped with their neighbour (out of order)."""
    unique: list[Webhook] = []
    plan: list[Webhook] = []
    while len(plan) < count:
        if unique and rng.random() < 0.10:
            plan.append(rng.choice(unique[-200:]))
            continue
        sender = f"+336{10_000_000 + rng.randrange(CUSTOMERS):08d}"
        webhook = signed_request(stack, fixture, f"SM{prefix}{len(unique):010d}", sender)
        unique.append(webhook)
        plan.append(webhook)
    for index in range(0, len(plan) - 1):
        if rng.random() < 0.02:
            plan[index], plan[index + 1] = plan[index + 1], plan[index]
    return plan


# --- database probes (psycopg2, cheap) --------------------------------------------------------------------------------


@contextmanager
def probe_cursor(database_url: str) -> Iterator[Any]:
    """A short-lived connection (psycopg2's own context manager commits but never closes)."""
    probe = psycopg2.connect(database_url)
    try:
        with probe.cursor() as cursor:
            yield cursor
    finally:
        probe.close()


def backlog(database_url: str, channel_id: int) -> int:
    with probe_cursor(database_url) as cursor:
        cursor.execute(
            "SELECT count(*) FROM interactions_inboundevent WHERE channel_id = %s AND processed_at IS NULL"
            " AND dead_lettered_at IS NULL",
            [channel_id],
        )
        return int(cursor.fetchone()[0])


def ledger(database_url: str, channel_id: int, accepted: set[str]) -> tuple[int, int, int]:
    """(lost, duplicated, pending) over every id answered 200. Lost: no InboundEvent, or processed without making its
    Interaction; duplicated: any extra InboundEvent or Interaction; pending: stored, not processed yet."""
    with probe_cursor(database_url) as cursor:
        cursor.execute(
            "SELECT external_id, count(*), bool_and(processed_at IS NOT NULL) FROM interactions_inboundevent"
            " WHERE channel_id = %s GROUP BY 1",
            [channel_id],
        )
        events = {sid: (count, processed) for sid, count, processed in cursor.fetchall()}
        cursor.execute(
            "SELECT external_id, count(*) FROM interactions_interaction WHERE channel_id = %s AND direction = 'in'"
            " GROUP BY 1",
            [channel_id],
        )
        stored = dict(cursor.fetchall())
    lost = duplicated = pending = 0
    for sid in accepted:
        count, processed = events.get(sid, (0, False))
        made = stored.get(sid, 0)
        lost += count == 0 or (processed and made == 0)
        pending += count > 0 and not processed
        duplicated += max(count - 1, 0) + max(made - 1, 0)
    return lost, duplicated, pending


async def wait_drained(database_url: str, channel_id: int, timeout: float) -> float | None:
    """Seconds until no event of the channel is left unprocessed; None if still not drained after `timeout`."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if await asyncio.to_thread(backlog, database_url, channel_id) == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)
    logger.warning("backlog still not drained after %.0f s", timeout)
    return None


# --- the run ---------------------------------------------------------------------------------------------------------


def cpu_ms_per_request(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], *, requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request used by each role's processes between the two samples (bench/measures.py).
    PostgreSQL backends that ended in between (uvicorn's connection per request) are not counted: a lower bound."""
    used: dict[str, int] = {}
    for pid, (role, ticks) in after.items():
        previous = before.get(pid)
        used[role] = used.get(role, 0) + ticks - (previous[1] if previous and previous[0] == role else 0)
    hz = os.sysconf("SC_CLK_TCK")
    return {role: used.get(role, 0) * 1000 / hz / requests for role in ("server", "postgres", "worker-pool")}


async def measure(stack: WebhookStack, fixture: Fixture, args: argparse.Namespace, database_url: str) -> dict[str, Any]:
    rng = random.Random(6)
    connections = args.webhook_ingest_connections
    burst_plan = sequence(stack, fixture, args.webhook_ingest_burst, "B", rng)
    sustained_count = int(args.webhook_ingest_sustained_seconds * args.webhook_ingest_sustained_rate)
    sustained_plan = sequence(stack, fixture, sustained_count, "S", rng)

    logger.info("warm-up: 200 webhooks")
    await post_all(stack.hooks_port, sequence(stack, fixture, 200, "W", rng), 8, rate=None)
    await wait_drained(database_url, fixture.channel_id, 60)

    logger.info("burst: %d webhooks over %d connections", len(burst_plan), connections)
    cpu_before, busy_before = cpu_ticks(stack), machine_busy_ticks()
    burst, burst_seconds = await post_all(stack.hooks_port, burst_plan, connections, rate=None)
    cpu_after, busy = cpu_ticks(stack), machine_busy_ticks() - busy_before
    logger.info("burst cpu: %s", cpu_report(cpu_before, cpu_after, busy, burst_seconds))
    oks = sum(status == 200 for statuses in burst.answers.values() for status in statuses)
    burst_cpu = cpu_ms_per_request(cpu_before, cpu_after, requests=max(oks, 1))
    left = await asyncio.to_thread(backlog, database_url, fixture.channel_id)
    cpu_before, busy_before = cpu_ticks(stack), machine_busy_ticks()
    drained_in = await wait_drained(database_url, fixture.channel_id, args.webhook_ingest_drain_timeout)
    drain_seconds = drained_in if drained_in is not None else args.webhook_ingest_drain_timeout
    drain_left = await asyncio.to_thread(backlog, database_url, fixture.channel_id)
    logger.info(
        "drain cpu: %s",
        cpu_report(cpu_before, cpu_ticks(stack), machine_busy_ticks() - busy_before, max(drain_seconds, 0.001)),
    )
    ack_ms = sorted(v * 1000 for v in burst.ack)
    logger.info(
        "burst: %d answers 200 of %d in %.1f s (client errors %d), ack %s; backlog %d drained in %.1f s",
        oks,
        len(burst_plan),
        burst_seconds,
        burst.errors,
        summary_ms(burst.ack),
        left,
        drain_seconds,
    )

    desk = await Desk.open(stack, fixture.cookie)
    reader = asyncio.create_task(desk.read())
    for webhook in {w.sid: w for w in sustained_plan}.values():
        desk.expect(webhook.sid)
    logger.info("sustained: %d webhooks at %s/s", len(sustained_plan), args.webhook_ingest_sustained_rate)
    cpu_before, busy_before = cpu_ticks(stack), machine_busy_ticks()
    sustained, sustained_seconds = await post_all(
        stack.hooks_port, sustained_plan, connections, rate=args.webhook_ingest_sustained_rate
    )
    cpu_after, busy = cpu_ticks(stack), machine_busy_ticks() - busy_before
    logger.info("sustained cpu: %s", cpu_report(cpu_before, cpu_after, busy, sustained_seconds))
    if not await desk.wait_for_all(30):
        logger.warning("%d sustained messages never reached the desk", len(desk.waiting))
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await desk.connection.close()
    await wait_drained(database_url, fixture.channel_id, args.webhook_ingest_drain_timeout)

    e2e = sorted(
        (desk.arrivals[sid][0].perf - sent) * 1000 for sid, sent in sustained.sent_at.items() if sid in desk.arrivals
    )
    last = max((desk.arrivals[sid][0].perf for sid in sustained.sent_at if sid in desk.arrivals), default=0.0)
    first = min(sustained.sent_at.values(), default=0.0)
    logger.info("sustained: e2e %s; ack %s", summary_ms([v / 1000 for v in e2e]), summary_ms(sustained.ack))

    accepted = {sid for results in (burst, sustained) for sid, statuses in results.answers.items() if 200 in statuses}
    lost, duplicated, pending = await asyncio.to_thread(ledger, database_url, fixture.channel_id, accepted)
    return {
        "bench": "webhook_ingest",
        "sent": len(burst_plan),
        "accepted_per_s": round(oks / burst_seconds, 1),
        "ack_p50_ms": rounded(percentile(ack_ms, 50)),
        "ack_p99_ms": rounded(percentile(ack_ms, 99)),
        # CPU time per accepted webhook during the burst: the webhook server's processes, and PostgreSQL's (its
        # backends: the server's, and the worker's draining meanwhile). Steadier than rates on a busy machine.
        "server_cpu_ms_per_accepted": rounded(burst_cpu["server"]),
        "postgres_cpu_ms_per_accepted": rounded(burst_cpu["postgres"]),
        "drain_per_s": round((left - drain_left) / drain_seconds, 1) if drain_seconds > 0 else None,
        "sustained_rate_per_s": args.webhook_ingest_sustained_rate,
        "sustained_seconds": args.webhook_ingest_sustained_seconds,
        "sustained_per_s": round(len(e2e) / (last - first), 1) if e2e and last > first else 0.0,
        "sustained_ack_p99_ms": rounded(percentile(sorted(v * 1000 for v in sustained.ack), 99)),
        "e2e_p50_ms": rounded(percentile(e2e, 50)),
        "e2e_p99_ms": rounded(percentile(e2e, 99)),
        "lost": lost,
        "duplicated": duplicated,
        "pending": pending,
        "client_errors": burst.errors + sustained.errors,
    }


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url or not redis_url:
        raise SystemExit("webhook_ingest needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    logger.info("preparing database %s and flushing %s", DATABASE, redis_url)
    bench_url = fresh_database(database_url, DATABASE, bench="webhook_ingest")
    flush_redis(redis_url)
    migrate(bench_url, redis_url)
    setup_django(bench_url, redis_url)
    fixture = create_fixture()
    extra_env = {"LOG_LEVEL": "WARNING"}
    if args.webhook_ingest_batch_size:
        extra_env["OMNIDESK_INGEST_BATCH_SIZE"] = str(args.webhook_ingest_batch_size)
    stack = WebhookStack(
        database_url=bench_url,
        redis_url=redis_url,
        worker_concurrency=args.webhook_ingest_worker_concurrency,
        web_workers=args.webhook_ingest_web_workers,
        hooks_server=args.webhook_ingest_server,
        hooks_threads=args.webhook_ingest_hooks_threads,
        extra_env=extra_env,
    )
    try:
        stack.start(timeout=60)
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            emit(runner.run(measure(stack, fixture, args, bench_url)))
    finally:
        stack.stop()
        sys.stderr.flush()
