"""The faults benchmark's machinery: private Redis and PostgreSQL servers (restarting them disturbs nobody else), a
stack whose worker can be killed child by child or whole, and clients that behave like providers and browsers (they
retry until acknowledged). Used by bench/faults.py and tests/test_faults_worker_kills.py."""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from websockets.asyncio.client import connect
from websockets.typing import Origin

from bench.environment import WIDGET_ORIGIN
from bench.webhook_ingest import WebhookStack
from tests.stack import LOG_DIR, ROOT, free_port, wait_until

logger = logging.getLogger("bench.faults")
PG_BIN = Path("/usr/lib/postgresql/15/bin")

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
