"""faults: ingest under faults (issue 16, item 6). A sustained webhook + widget chat load on the real stack while
worker processes are SIGKILLed and Redis and PostgreSQL restart; a ledger proves nothing was lost, doubled or made up.

What happens
    Load: signed Twilio SMS webhooks at W/s (gunicorn, as in production) and widget chat messages at C/s from V
    visitor sockets (uvicorn), for S seconds. Clients behave like providers and browsers: a webhook answered 5xx or cut
    off is sent again until a 2xx; a widget message not acknowledged (`message.accepted`) is sent again with the same
    uuid after reconnecting with the visitor's token.
    Faults, spread evenly over the load, in this order: SIGKILL of one Celery pool child (K times), SIGKILL
    of the worker's main process then of what is left of its group, as a supervisor would, and a restart (M times), a
    restart of Redis (broker, channel layer, debounce marks; no persistence, so queued tasks are lost) and of
    PostgreSQL. Both servers are private to the benchmark by default (a redis-server and an initdb'd cluster on free
    ports): restarting the machine's shared ones would break everyone else's work.
    Recovery: each kill is aimed at work in flight (it waits, up to 2 s, until some event is claimed and not processed
    yet), and the events claimed and not processed at that moment (the killed batch, and the batch of any live
    process) are noted; recovery = seconds until every one of them is processed. The goal is 5 s without the sweeper
    (OMNIDESK_INBOUND_RETRY_AFTER, 30 s). Noted before the kill, not after it: a killed batch is taken back at once
    and may be processed before a look taken afterwards.
    Ledger, after the backlog drained: every accepted provider id and widget uuid has exactly one InboundEvent and
    one Interaction (missing, duplicated); no inbound Interaction on the two channels that nobody sent (phantom).
    While PostgreSQL is down, the webhook must answer 5xx (pg_down_5xx) and never 2xx (pg_down_2xx).

Reading the line
    {"bench": "faults", "webhooks_accepted", "chats_accepted", "child_kills", "main_kills", "redis_restarts",
     "postgres_restarts", "missing", "duplicated", "phantom", "pending", "dead_lettered", "pg_down_2xx",
     "pg_down_5xx", "recovery_child_p50_s", "recovery_child_max_s", "recovery_main_max_s", "killed_batch_events",
     "retaken_events", …}

Options (prefixed --faults-): seconds (120), webhook-rate (40), chat-rate (20), visitors (10), child-kills (20),
main-kills (5), redis-restarts (1), postgres-restarts (1), postgres (private | shared: the server of DATABASE_URL,
which is then never restarted), worker-concurrency (2), drain-timeout (180).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from bench.chat_e2e import new_event_loop
from bench.environment import configure_logging, fresh_database, migrate, setup_django
from bench.environment import create_fixture as create_chat_fixture
from bench.fault_machinery import (
    FaultStack,
    Ledger,
    PrivatePostgres,
    PrivateRedis,
    Visitor,
    chat_scheduler,
    visitor_loop,
    webhook_sender,
)
from bench.measures import percentile, rounded
from bench.webhook_ingest import Fixture, create_fixture, signed_request
from tests.stack import LOG_DIR

logger = logging.getLogger("bench.faults")
Emit = Callable[[dict[str, Any]], None]
DATABASE = "omnidesk_bench_faults"
WIDGET_LIMITS = (
    "OMNIDESK_WIDGET_VISITOR_RATE",
    "OMNIDESK_WIDGET_VISITOR_BURST",
    "OMNIDESK_WIDGET_SOCKET_RATE",
    "OMNIDESK_WIDGET_SOCKET_BURST",
    "OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults")
    group.add_argument("--faults-seconds", type=float, default=120, help="load duration (120 s)")
    group.add_argument("--faults-webhook-rate", type=float, default=40, help="webhooks per second (40)")
    group.add_argument("--faults-chat-rate", type=float, default=20, help="widget messages per second (20)")
    group.add_argument("--faults-visitors", type=int, default=10, help="widget visitor sockets (10)")
    group.add_argument("--faults-child-kills", type=int, default=20, help="SIGKILLs of a pool child (20)")
    group.add_argument("--faults-main-kills", type=int, default=5, help="SIGKILLs of the worker's main process (5)")
    group.add_argument("--faults-redis-restarts", type=int, default=1, help="Redis restarts (1)")
    group.add_argument("--faults-postgres-restarts", type=int, default=1, help="PostgreSQL restarts (1)")
    group.add_argument(
        "--faults-postgres",
        choices=["private", "shared"],
        default="private",
        help="a private cluster, or DATABASE_URL's",
    )
    group.add_argument("--faults-worker-concurrency", type=int, default=2, help="Celery pool processes (2)")
    group.add_argument("--faults-drain-timeout", type=float, default=180, help="wait for the backlog (180 s)")


# --- probes (psycopg2; they retry while PostgreSQL is down) ---------------------------------------------------------


def query(database_url: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + 120
    while True:
        try:
            probe = psycopg2.connect(database_url, connect_timeout=3)
            try:
                with probe.cursor() as cursor:
                    cursor.execute(sql, params or [])
                    return list(cursor.fetchall())
            finally:
                probe.close()
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


CLAIMED = (
    "SELECT id FROM interactions_inboundevent WHERE processed_at IS NULL AND dead_lettered_at IS NULL"
    " AND attempts > 0 AND last_error = ''"
)


async def in_flight(database_url: str, *, within: float = 2.0) -> list[int]:
    """The events claimed and not processed yet, as soon as there are some (none after `within` seconds)."""
    deadline = time.monotonic() + within
    while True:
        ids = [row[0] for row in await asyncio.to_thread(query, database_url, CLAIMED)]
        if ids or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.002)


async def recovery_after(
    database_url: str, kind: str, killed_at: float, ids: list[int], results: list[dict[str, Any]]
) -> None:
    """Seconds from a kill until every event in flight at the kill (`ids`) is processed."""
    left = ids
    while left:
        await asyncio.sleep(0.1)
        rows = await asyncio.to_thread(
            query,
            database_url,
            "SELECT id FROM interactions_inboundevent WHERE id = ANY(%s) AND processed_at IS NULL"
            " AND dead_lettered_at IS NULL",
            [left],
        )
        left = [row[0] for row in rows]
        if time.monotonic() - killed_at > 300:
            break
    results.append({"kind": kind, "events": ids, "seconds": time.monotonic() - killed_at, "left": len(left)})


def backlog(database_url: str) -> int:
    rows = query(
        database_url,
        "SELECT count(*) FROM interactions_inboundevent WHERE processed_at IS NULL AND dead_lettered_at IS NULL",
    )
    return int(rows[0][0])


def check_ledger(database_url: str, channels: dict[int, tuple[set[str], set[str]]]) -> dict[str, int]:
    """Per channel (sent ids, accepted ids): missing, duplicated, phantom, pending, dead-lettered, unconfirmed."""
    counts = dict.fromkeys(("missing", "duplicated", "phantom", "pending", "dead_lettered", "unconfirmed"), 0)
    for channel_id, (sent, accepted) in channels.items():
        events = {
            external_id: (count, processed, dead)
            for external_id, count, processed, dead in query(
                database_url,
                "SELECT external_id, count(*), bool_and(processed_at IS NOT NULL), bool_or(dead_lettered_at IS NOT"
                " NULL) FROM interactions_inboundevent WHERE channel_id = %s GROUP BY 1",
                [channel_id],
            )
        }
        made = dict(
            query(
                database_url,
                "SELECT external_id, count(*) FROM interactions_interaction WHERE channel_id = %s AND direction = 'in'"
                " GROUP BY 1",
                [channel_id],
            )
        )
        for external_id in accepted:
            count, processed, dead = events.get(external_id, (0, False, False))
            counts["missing"] += count == 0 or (processed and made.get(external_id, 0) == 0)
            counts["pending"] += count > 0 and not processed and not dead
            counts["dead_lettered"] += dead
        counts["duplicated"] += sum(count - 1 for count, _p, _d in events.values() if count > 1)
        counts["duplicated"] += sum(count - 1 for count in made.values() if count > 1)
        counts["phantom"] += sum(1 for external_id in set(events) | set(made) if external_id not in sent)
        counts["unconfirmed"] += len((set(events) & sent) - accepted)  # stored, the answer lost: providers resend
    return counts


def switch_database(database_url: str) -> None:
    """setup_django switches only the database name when an earlier benchmark of this run set Django up; the private
    cluster is another server."""
    from django.db import connections

    parts = urlsplit(database_url)
    connections.close_all()
    connections["default"].settings_dict.update(
        {"NAME": parts.path.lstrip("/"), "HOST": parts.hostname, "PORT": parts.port, "USER": parts.username or ""}
    )


# --- the run --------------------------------------------------------------------------------------------------------


@dataclass
class Faults:
    stack: FaultStack
    redis_server: PrivateRedis | None
    postgres: PrivatePostgres | None
    database_url: str
    rng: random.Random
    recoveries: list[dict[str, Any]] = field(default_factory=list)
    pg_down: list[tuple[float, float]] = field(default_factory=list)
    done: dict[str, int] = field(default_factory=dict)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)
    # The faults' own threads: the probes may fill the default executor while PostgreSQL is down, and a restart that
    # waits behind them would keep it down for minutes.
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=2))

    async def act(self, action: Callable[[], None]) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, action)

    async def inflict(self, fault: str) -> None:
        logger.info("fault: %s", fault)
        self.done[fault] = self.done.get(fault, 0) + 1
        at = time.monotonic()
        if fault == "child_kill":
            # Right after a restart the pool may not be forked yet: wait until it has run for 2 s (a child killed while
            # the pool starts makes the worker give up: "Could not start worker processes") rather than skip the kill.
            if not await self.stack.wait_for_pool(timeout=30):
                self.done[fault] -= 1
                return
            ids = await in_flight(self.database_url)
            if self.stack.kill_child(self.rng) is None:
                self.done[fault] -= 1
                return
            at = time.monotonic()
        elif fault == "main_kill":
            if not await self.stack.wait_for_pool(timeout=30):
                self.done[fault] -= 1
                return
            ids = await in_flight(self.database_url)
            at = time.monotonic()
            await self.act(self.stack.kill_main_and_restart)
        elif fault == "redis_restart" and self.redis_server is not None:
            await self.act(self.redis_server.restart)
            return
        elif fault == "postgres_restart" and self.postgres is not None:
            await self.act(self.postgres.stop)
            down = time.monotonic()
            await asyncio.sleep(2)  # long enough for the webhooks to meet it
            up = time.monotonic()
            await self.act(self.postgres.start)
            self.pg_down.append((down, up))
            return
        else:
            self.done[fault] -= 1
            return
        self.watchers.append(asyncio.create_task(recovery_after(self.database_url, fault, at, ids, self.recoveries)))


def plan_faults(args: argparse.Namespace, private_pg: bool) -> list[str]:
    """Pool child kills first, then main-process kills, then the restarts of Redis and PostgreSQL: a child kill's
    recovery is measured on a pipeline that is keeping up, not behind the backlog a worker restart leaves (10–15 s
    of no worker on a loaded 2-core machine)."""
    faults = ["child_kill"] * args.faults_child_kills + ["main_kill"] * args.faults_main_kills
    faults += ["redis_restart"] * args.faults_redis_restarts
    return faults + ["postgres_restart"] * (args.faults_postgres_restarts if private_pg else 0)


async def measure(
    faults: Faults, fixture: Fixture, chat_key: str, chat_channel_id: int, args: argparse.Namespace
) -> dict[str, Any]:
    stack, rng, ledger = faults.stack, faults.rng, Ledger()
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=64))  # probes retry while PG is down
    seconds = args.faults_seconds

    def make(index: int) -> tuple[str, bytes]:
        sender = f"+336{10_000_000 + rng.randrange(500):08d}"
        webhook = signed_request(stack, fixture, f"SMfault{index:08d}", sender)
        return webhook.sid, webhook.raw

    stop = asyncio.Event()
    visitors = [Visitor() for _ in range(args.faults_visitors)]
    visitor_tasks = [asyncio.create_task(visitor_loop(stack.ws_url, chat_key, v, ledger)) for v in visitors]
    load = [
        asyncio.create_task(webhook_sender(stack.hooks_port, make, args.faults_webhook_rate, ledger, stop)),
        asyncio.create_task(chat_scheduler(visitors, args.faults_chat_rate, rng, stop)),
    ]
    supervisor = asyncio.create_task(stack.supervise())
    plan = plan_faults(args, faults.postgres is not None)
    started = time.monotonic()
    for index, fault in enumerate(plan):
        await asyncio.sleep(max(0.0, started + (index + 1) * seconds / (len(plan) + 1) - time.monotonic()))
        await faults.inflict(fault)
    # The load goes on for its nominal duration and 3 s past the last fault, so that every fault happens under load.
    await asyncio.sleep(max(3.0, started + seconds - time.monotonic()))
    stop.set()
    await asyncio.gather(*load)
    await asyncio.wait_for(asyncio.gather(*visitor_tasks), 240)
    logger.info("load sent in %.1f s; waiting for the backlog", time.monotonic() - started)
    drain_started = time.monotonic()
    while await asyncio.to_thread(backlog, faults.database_url) and time.monotonic() - drain_started < (
        args.faults_drain_timeout
    ):
        await asyncio.sleep(0.5)
    drained = time.monotonic() - drain_started
    await asyncio.gather(*faults.watchers)
    supervisor.cancel()

    counts = await asyncio.to_thread(
        check_ledger,
        faults.database_url,
        {
            fixture.channel_id: (ledger.webhooks_sent, ledger.webhooks_accepted),
            chat_channel_id: (ledger.chats_sent, ledger.chats_accepted),
        },
    )
    during = [
        status
        for sent, answered, status in ledger.answers
        for down, up in faults.pg_down
        if down <= sent and answered <= up
    ]
    child = sorted(r["seconds"] for r in faults.recoveries if r["kind"] == "child_kill" and r["events"])
    main = sorted(r["seconds"] for r in faults.recoveries if r["kind"] == "main_kill" and r["events"])
    killed = sorted({i for r in faults.recoveries for i in r["events"]})
    retaken = query(
        faults.database_url,
        "SELECT count(*) FROM interactions_inboundevent WHERE id = ANY(%s) AND attempts > 1",
        [killed],
    )[0][0]
    for recovery in faults.recoveries:
        logger.info(
            "%s: %d claimed events processed %.2f s after the kill",
            recovery["kind"],
            len(recovery["events"]),
            recovery["seconds"],
        )
    return {
        "bench": "faults",
        "seconds": seconds,
        "webhooks_sent": len(ledger.webhooks_sent),
        "webhooks_accepted": len(ledger.webhooks_accepted),
        "chats_sent": len(ledger.chats_sent),
        "chats_accepted": len(ledger.chats_accepted),
        "child_kills": faults.done.get("child_kill", 0),
        "main_kills": faults.done.get("main_kill", 0),
        "redis_restarts": faults.done.get("redis_restart", 0),
        "postgres_restarts": faults.done.get("postgres_restart", 0),
        **counts,
        "pg_down_2xx": sum(200 <= status < 300 for status in during),
        "pg_down_5xx": sum(500 <= status < 600 for status in during),
        "recovery_child_p50_s": rounded(percentile(child, 50)),
        "recovery_child_max_s": rounded(child[-1]) if child else None,
        "recovery_main_max_s": rounded(main[-1]) if main else None,
        "recoveries_over_5s": sum(r["seconds"] > 5 for r in faults.recoveries if r["events"]),
        "recoveries_unfinished": sum(bool(r["left"]) for r in faults.recoveries),
        "killed_batch_events": len(killed),
        "retaken_events": int(retaken),
        "worker_exits": stack.worker_exits,
        "drained_s": round(drained, 1),
        "client_errors": ledger.client_errors,
    }


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        raise SystemExit("faults needs DATABASE_URL (PostgreSQL)")
    LOG_DIR.mkdir(exist_ok=True)
    postgres = PrivatePostgres() if args.faults_postgres == "private" else None
    redis_server = PrivateRedis()
    stack: FaultStack | None = None
    try:
        if postgres is not None:
            logger.info("starting a private PostgreSQL cluster on :%d", postgres.port)
            postgres.init()
            server_url = postgres.url()
        else:
            parts = urlsplit(database_url)
            server_url = urlunsplit(parts._replace(path="/postgres"))
        redis_server.start()
        bench_url = fresh_database(server_url, DATABASE, bench="faults")
        migrate(bench_url, redis_server.url)
        setup_django(bench_url, redis_server.url)
        switch_database(bench_url)
        fixture = create_fixture()
        chat = create_chat_fixture()
        from interactions.models import Channel

        chat_channel_id = Channel.objects.get(public_key=chat.channel_key).pk
        from django.db import connections

        connections.close_all()
        extra_env = {"LOG_LEVEL": "WARNING", **dict.fromkeys(WIDGET_LIMITS, "100000")}
        stack = FaultStack(
            database_url=bench_url,
            redis_url=redis_server.url,
            worker_concurrency=args.faults_worker_concurrency,
            web_workers=2,
            extra_env=extra_env,
        )
        stack.start(timeout=90)
        faults = Faults(stack, redis_server, postgres, bench_url, random.Random(16))
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            emit(runner.run(measure(faults, fixture, chat.channel_key, chat_channel_id, args)))
    finally:
        if stack is not None:
            stack.stop()
        redis_server.stop()
        if postgres is not None:
            postgres.destroy()
        sys.stderr.flush()
