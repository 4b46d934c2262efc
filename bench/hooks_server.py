"""hooks_server: the CPU one accepted webhook costs each process, per WSGI server configuration, server only.

Not part of `make bench` (a sweep for choosing the `hooks` process's settings, docs/performance-hooks.md): run it by
hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.hooks_server --requests 10000 \
        --variants gthread:hooks:2:16,gthread:floor:2:16,sync:hooks:8

Each variant is `server:app:workers[:threads[:shm]]`: server `gthread` (gunicorn, gthread workers, as the
Procfile), `sync` (gunicorn's sync workers: no keep-alive, a connection per request) or `uvicorn-wsgi`; app `hooks`
(the hooks application, omnidesk/hooks_wsgi.py) or `floor` (bench/hooks_floor.py: reads the body and answers, nothing
else, to show the server's own cost); `shm`: gunicorn's `--worker-tmp-dir /dev/shm`. Only that server runs: no Celery
worker (the channel's debounce mark stays set, so webhooks do not publish tasks, as under a burst), no uvicorn. The
signed Twilio SMS of the webhook_ingest benchmark (10 % re-deliveries) are posted as fast as `--connections`
keep-alive connections allow, by bench/webhook_client.py.

One JSON line per variant: requests per second, answer time, and CPU milliseconds per request of the server's
processes, PostgreSQL, Redis, this load generator ("bench"), and everything else on the machine (the load average is
in the line: other work on the machine lands there and slows the rate, not the per-process CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from typing import Any

from bench.environment import flush_redis, fresh_database, migrate, setup_django
from bench.measures import cpu_ticks, machine_busy_ticks, percentile, rounded
from bench.webhook_client import post_all
from bench.webhook_ingest import Fixture, WebhookStack, create_fixture, sequence
from tests.stack import ROOT, free_port

DATABASE = "omnidesk_bench_hooks_server"
APPS = {"hooks": "omnidesk.hooks_wsgi:application", "floor": "bench.hooks_floor:application"}


def command(variant: str, port: int) -> list[str]:
    server, app, workers, *rest = variant.split(":")
    threads = rest[0] if rest else "1"
    bind = ["--bind", f"127.0.0.1:{port}", "--workers", workers, "--backlog", "2048", "--log-level", "warning"]
    if "shm" in rest[1:]:
        bind += ["--worker-tmp-dir", "/dev/shm"]  # the heartbeat file gunicorn's workers touch on every loop
    gunicorn = [sys.executable, "-m", "gunicorn", APPS[app], *bind]
    if server == "gthread":
        return [*gunicorn, "--worker-class", "gthread", "--threads", threads, "--keep-alive", "30"]
    if server == "sync":
        return [*gunicorn, "--worker-class", "sync"]
    if server == "uvicorn-wsgi":
        return [
            sys.executable, "-m", "uvicorn", APPS[app], "--interface", "wsgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", workers, "--no-access-log", "--lifespan", "off", "--backlog", "2048",
        ]  # fmt: skip
    raise SystemExit(f"unknown server in {variant!r}")


def wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port} after {timeout:.0f} s")


def cpu_ms(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], requests: int) -> dict[str, float]:
    """CPU milliseconds per request of each role's processes (alive at the second sample) between the samples."""
    used: dict[str, int] = {}
    for pid, (role, ticks) in after.items():
        previous = before.get(pid)
        used[role] = used.get(role, 0) + ticks - (previous[1] if previous and previous[0] == role else 0)
    hz = os.sysconf("SC_CLK_TCK")
    return {role: ticks * 1000 / hz / requests for role, ticks in used.items()}


def measure(stack: WebhookStack, fixture: Fixture, variant: str, args: argparse.Namespace, run: int) -> dict[str, Any]:
    rng = random.Random(run)
    stack.server = subprocess.Popen(
        command(variant, stack.hooks_port), cwd=ROOT, env=stack.env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_listening(stack.hooks_port)
        warm = sequence(stack, fixture, 300, f"W{run}x", rng)
        plan = sequence(stack, fixture, args.requests, f"R{run}x", rng)
        asyncio.run(post_all(stack.hooks_port, warm, 8, rate=None))
        before, busy_before, load = cpu_ticks(stack), machine_busy_ticks(), os.getloadavg()[0]
        results, seconds = asyncio.run(post_all(stack.hooks_port, plan, args.connections, rate=None))
        after, busy = cpu_ticks(stack), machine_busy_ticks() - busy_before
    finally:
        stack.stop()
        stack.hooks_port = free_port()
    oks = sum(status == 200 for statuses in results.answers.values() for status in statuses)
    used = cpu_ms(before, after, max(oks, 1))
    everything = busy * 1000 / os.sysconf("SC_CLK_TCK") / max(oks, 1)
    ack = sorted(value * 1000 for value in results.ack)
    return {
        "bench": "hooks_server",
        "variant": variant,
        "requests": len(plan),
        "ok": oks,
        "client_errors": results.errors,
        "per_s": round(oks / seconds, 1),
        "ack_p50_ms": rounded(percentile(ack, 50)),
        "ack_p99_ms": rounded(percentile(ack, 99)),
        **{f"{role}_cpu_ms": round(used.get(role, 0.0), 3) for role in ("server", "postgres", "redis", "bench")},
        "everything_else_cpu_ms": round(everything - sum(used.values()), 3),
        "load_1min_before": round(load, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hooks_server")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--variants", default="gthread:hooks:2:16,gthread:floor:2:16")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole list, alternating (1)")
    args = parser.parse_args()
    database_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    url = fresh_database(database_url, DATABASE, bench="hooks_server")
    flush_redis(redis_url)
    migrate(url, redis_url)
    setup_django(url, redis_url)
    fixture = create_fixture()
    stack = WebhookStack(database_url=url, redis_url=redis_url, extra_env={"LOG_LEVEL": "WARNING"})
    run = 0
    for _round in range(args.repeat):
        for variant in args.variants.split(","):
            run += 1
            print(json.dumps(measure(stack, fixture, variant, args, run)), flush=True)
    flush_redis(redis_url)


if __name__ == "__main__":
    main()
