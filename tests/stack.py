"""Start the real stack as separate processes: an ASGI server (uvicorn) and a Celery worker.

Used by the integration tests and by `make bench`. Everything listens on loopback only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "test-artifacts"
# The largest websocket frame uvicorn accepts (its default is 16 MiB): twice the consumer's own cap
# (interactions.consumers.MAX_FRAME_BYTES), which answers a clear error below it. Same value as the Procfile.
WS_MAX_SIZE = 128 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.05, message: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {message}")


@dataclass
class Stack:
    database_url: str
    redis_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    worker_beat: bool = False
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "DJANGO_SETTINGS_MODULE": "omnidesk.settings",
                "ALLOWED_HOSTS": "127.0.0.1 localhost",
                "DEBUG": "false",
                "PYTHONUNBUFFERED": "1",
                # Every test client comes from 127.0.0.1: the per-address limit on new widget visitors would make
                # one test's visitors depend on how many the tests before it started. Tests of that limit set it.
                "OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE": os.environ.get(
                    "OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE", "100000"
                ),
                # The contact page shares a queue's load between visitors for 2 s; the tests change the load and
                # look at once, so the server reads it fresh for every visitor.
                "OMNIDESK_CONTACT_LOAD_TTL_SECONDS": "0",
            }
        )
        env.update(self.extra_env)
        return env

    def _log(self, name: str) -> IO[bytes]:
        LOG_DIR.mkdir(exist_ok=True)
        return open(LOG_DIR / f"{name}.log", "ab")

    def start_server(self) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "omnidesk.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--ws-per-message-deflate",
            "false",
            "--ws-max-size",
            str(WS_MAX_SIZE),
            "--lifespan",
            "off",
        ]
        # As the Procfile's `web`: under ASGI an HTTP request's connection is not reused, so none is kept; the
        # sockets keep theirs on their own pool (omnidesk/socket_db.py).
        env = self.env()
        if "DB_CONN_MAX_AGE" not in self.extra_env:
            env["DB_CONN_MAX_AGE"] = os.environ.get("WEB_DB_CONN_MAX_AGE", "0")
        self.server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log("server"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "omnidesk",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(self.worker_concurrency),
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-{self.port}@%h",
        ]
        if self.worker_beat:
            command += ["--beat", "--schedule", str(LOG_DIR / f"beat-{self.port}")]
        self.worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env(),
            stdout=self._log("worker"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=3) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self, *, timeout: float = 60) -> Stack:
        self.start_server()
        self.start_worker()
        self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, *, timeout: float = 60) -> None:
        for process in (self.server, self.worker):
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"process exited early with {process.returncode}; see {LOG_DIR}")
        wait_until(self.healthy, timeout=timeout, interval=0.25, message="/healthz to answer 200")

    def kill_worker(self) -> None:
        """SIGKILL the whole worker: main process and pool children, no chance to ack or clean up."""
        if self.worker is not None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)
            self.worker = None

    @staticmethod
    def _stop(process: subprocess.Popen[bytes] | None) -> None:
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        self._stop(self.worker)
        self._stop(self.server)
        self.worker = self.server = None
