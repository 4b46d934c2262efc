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
    Recovery: right after each kill, the events claimed and not processed yet (the killed batch, and the batch of any
    live process) are noted; recovery = seconds until every one of them is processed. The goal is 5 s without the
    sweeper (OMNIDESK_INBOUND_RETRY_AFTER, 30 s).
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
import contextlib
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis
from websockets.asyncio.client import connect
from websockets.typing import Origin

from bench.chat_e2e import new_event_loop
from bench.environment import WIDGET_ORIGIN, configure_logging, fresh_database, migrate, setup_django
from bench.environment import create_fixture as create_chat_fixture
from bench.measures import percentile, rounded
from bench.webhook_ingest import Fixture, WebhookStack, create_fixture, signed_request
from tests.stack import LOG_DIR, ROOT, free_port, wait_until

logger = logging.getLogger("bench.faults")
Emit = Callable[[dict[str, Any]], None]
DATABASE = "omnidesk_bench_faults"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
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


# --- private servers: restarting them disturbs nobody else ----------------------------------------------------------


@dataclass
class PrivateRedis:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = open(LOG_DIR / "faults-redis.log", "ab")  # noqa: SIM115 (the server keeps it)
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self.ping, timeout=10, interval=0.05, message="redis-server")

    def ping(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class PrivatePostgres:
    """An initdb'd cluster on a free port, run as the postgres user (trust auth on loopback only)."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="omnidesk-faults-pg-")))

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = str(self.directory / "data")
        self._run(str(PG_BIN / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
        data, log = str(self.directory / "data"), str(self.directory / "server.log")
        self._run(str(PG_BIN / "pg_ctl"), "-D", data, "-l", log, "-w", "-o", options, "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def pool_children(worker_pid: int) -> list[int]:
    """The pool processes of a Celery worker whose main process is `worker_pid` (its children)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == worker_pid:
                children.append(int(entry))
    return children


# --- the stack: gunicorn for the hooks, uvicorn for the sockets, a worker and a beat of their own ------------------


@dataclass
class FaultStack(WebhookStack):
    """Beat runs as its own process (not `worker --beat`): the worker's children are then its pool processes only,
    and killing the worker's main process does not take the sweeper with it."""

    beat: subprocess.Popen[bytes] | None = None
    restarting: bool = False
    worker_exits: int = 0

    def start(self, *, timeout: float = 60) -> FaultStack:
        super().start(timeout=timeout)
        command = [sys.executable, "-m", "celery", "-A", "omnidesk", "beat", "--loglevel", "WARNING"]
        command += ["--schedule", str(LOG_DIR / f"beat-{self.port}")]
        self.beat = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env(),
            stdout=self._log("beat"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def pool_children(self) -> list[int]:
        return pool_children(self.worker.pid) if self.worker is not None else []

    async def wait_for_pool(self, *, timeout: float) -> bool:
        deadline, since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if self.restarting or not self.pool_children():
                since = None
            elif since is None:
                since = time.monotonic()
            elif time.monotonic() - since >= 2:
                return True
            await asyncio.sleep(0.2)
        return False

    def kill_child(self, rng: random.Random) -> int | None:
        children = self.pool_children()
        if not children:
            return None
        victim = rng.choice(children)
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill_main_and_restart(self) -> None:
        assert self.worker is not None
        self.restarting = True
        os.kill(self.worker.pid, signal.SIGKILL)
        time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)  # the orphaned pool, as a supervisor would
        self.worker.wait(timeout=10)
        self.worker = None
        self.start_worker()
        self.restarting = False

    async def supervise(self) -> None:
        """Restart the worker when it exits on its own, a second later, as systemd's Restart=always would: Celery's
        worker (5.7, kombu 5.7, redis-py 8) exits with "Unrecoverable error" when its Redis connection drops."""
        while True:
            await asyncio.sleep(0.2)
            if self.restarting or self.worker is None or self.worker.poll() is None:
                continue
            logger.warning("the worker exited (%s): restarting it in 1 s", self.worker.returncode)
            self.worker_exits += 1
            self.worker = None
            await asyncio.sleep(1)
            self.start_worker()

    def stop(self) -> None:
        self._stop(self.beat)
        self.beat = None
        super().stop()


# --- the load: providers and browsers that retry until acknowledged ------------------------------------------------


@dataclass
class Ledger:
    webhooks_sent: set[str] = field(default_factory=set)
    webhooks_accepted: set[str] = field(default_factory=set)
    chats_sent: set[str] = field(default_factory=set)
    chats_accepted: set[str] = field(default_factory=set)
    answers: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, answered, status), monotonic
    client_errors: int = 0


async def post_webhook(port: int, raw: bytes) -> int:
    """One request on its own connection; the HTTP status (0: no answer)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    try:
        writer.write(raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        status_line = await asyncio.wait_for(reader.readline(), 30)
        return int(status_line.split()[1]) if status_line else 0
    finally:
        writer.close()


async def webhook_sender(
    port: int, make: Callable[[int], tuple[str, bytes]], rate: float, ledger: Ledger, stop: asyncio.Event
) -> None:
    """Webhooks at `rate` a second until `stop` is set (the faults may outlast the nominal load: a worker restart
    takes 10-15 s on a loaded machine), each sent again until a 2xx, as a provider would."""
    started, sends = time.monotonic(), []

    async def one(sid: str, raw: bytes) -> None:
        ledger.webhooks_sent.add(sid)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                status = await post_webhook(port, raw)
            except (OSError, ValueError, IndexError, TimeoutError):
                status = 0
                ledger.client_errors += 1
            ledger.answers.append((sent, time.monotonic(), status))
            if 200 <= status < 300:
                ledger.webhooks_accepted.add(sid)
                return
            await asyncio.sleep(0.5)  # like a provider: retry later

    index = 0
    while not stop.is_set():
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        sends.append(asyncio.create_task(one(*make(index))))
        index += 1
    await asyncio.gather(*sends)


@dataclass
class Visitor:
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    unaccepted: dict[str, float] = field(default_factory=dict)  # uuid → last sent (monotonic)
    token: str | None = None
    done: bool = False


async def visitor_loop(ws_url: str, channel_key: str, visitor: Visitor, ledger: Ledger) -> None:
    """Send what the scheduler hands over; reconnect with the token and resend whatever was not acknowledged."""
    while not (visitor.done and not visitor.unaccepted and visitor.outbox.empty()):
        try:
            async with connect(
                f"{ws_url}/ws/widget/", origin=Origin(WIDGET_ORIGIN), open_timeout=10, close_timeout=1
            ) as socket:
                hello = {"type": "hello", "channel": channel_key, "token": visitor.token, "last_event_id": None}
                await socket.send(json.dumps(hello))
                while (welcome := json.loads(await asyncio.wait_for(socket.recv(), 10)))["type"] != "welcome":
                    pass
                visitor.token = welcome.get("token") or visitor.token
                for message_uuid in list(visitor.unaccepted):
                    await send_chat(socket, visitor, message_uuid)
                await converse(socket, visitor, ledger)
        except Exception:  # the server, Redis or PostgreSQL went away: like the widget, try again shortly
            ledger.client_errors += 1
            await asyncio.sleep(0.5)


async def send_chat(socket: Any, visitor: Visitor, message_uuid: str) -> None:
    visitor.unaccepted[message_uuid] = time.monotonic()
    await socket.send(json.dumps({"type": "message.send", "uuid": message_uuid, "text": f"fault {message_uuid[:8]}"}))


async def converse(socket: Any, visitor: Visitor, ledger: Ledger) -> None:
    async def read() -> None:
        async for text in socket:
            frame = json.loads(text)
            if frame.get("type") == "message.accepted":
                visitor.unaccepted.pop(frame["uuid"], None)
                ledger.chats_accepted.add(frame["uuid"])

    reader = asyncio.create_task(read())
    try:
        while not reader.done():
            if visitor.done and not visitor.unaccepted and visitor.outbox.empty():
                return
            try:
                message_uuid = await asyncio.wait_for(visitor.outbox.get(), 0.5)
            except TimeoutError:
                stale = [u for u, at in visitor.unaccepted.items() if time.monotonic() - at > 3]
                for message_uuid in stale:  # refused (an error frame) or lost: send it again
                    await send_chat(socket, visitor, message_uuid)
                continue
            ledger.chats_sent.add(message_uuid)
            await send_chat(socket, visitor, message_uuid)
        reader.result()
        raise ConnectionError("the widget socket closed")
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def chat_scheduler(visitors: list[Visitor], rate: float, rng: random.Random, stop: asyncio.Event) -> None:
    started, index = time.monotonic(), 0
    while not stop.is_set():
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        visitors[index % len(visitors)].outbox.put_nowait(f"{rng.getrandbits(128):032x}")
        index += 1
    for visitor in visitors:
        visitor.done = True


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


async def recovery_after(database_url: str, kind: str, killed_at: float, results: list[dict[str, Any]]) -> None:
    """Note the events claimed and not processed right after a kill; seconds until all of them are processed."""
    await asyncio.sleep(0.05)
    ids = [row[0] for row in await asyncio.to_thread(query, database_url, CLAIMED)]
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
            if not await self.stack.wait_for_pool(timeout=30) or self.stack.kill_child(self.rng) is None:
                self.done[fault] -= 1
                return
            at = time.monotonic()
        elif fault == "main_kill":
            if not await self.stack.wait_for_pool(timeout=30):
                self.done[fault] -= 1
                return
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
        self.watchers.append(asyncio.create_task(recovery_after(self.database_url, fault, at, self.recoveries)))


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
