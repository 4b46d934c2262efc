"""hooks_profile: where one webhook's accept spends its time, in-process (cProfile), on the real stack.

Not part of `make bench` (a profile, not a figure): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.hooks_profile --requests 2000 [--app omnidesk.wsgi] [--publish]

It builds the webhook_ingest benchmark's channel (bench/webhook_ingest.py `create_fixture`) in its own database
(`omnidesk_bench_hooks_profile`) and calls the WSGI application of `--app` (a module with an `application`, as
gunicorn loads it) with signed Twilio SMS requests shaped as the benchmark sends them: the real middleware, URL
resolving, signature check, INSERT on PostgreSQL and the nudge on Redis/Celery after commit. With `--publish` the
channel's debounce mark is deleted before each request, so that every webhook pays the Celery publish (the worst
case: a worker clearing the mark between any two webhooks); without it only the first one publishes.

It prints CPU per request (with and without the profiler), statements per request, the share of the main parts, and
the top functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

from bench.environment import fresh_database, migrate, setup_django
from bench.webhook_client import signed_sms

DATABASE = "omnidesk_bench_hooks_profile"
HOST = "127.0.0.1:8001"

# Functions whose cumulative time is printed as the parts of one accept (module path fragment, function name).
PARTS = [
    ("django/core/handlers/base.py", "get_response"),
    ("django/contrib/sessions/middleware.py", "process_response"),
    ("django/middleware/csrf.py", "process_view"),
    ("django/middleware/locale.py", "process_request"),
    ("csp/middleware.py", "process_response"),
    ("axes/middleware.py", "__call__"),
    ("django/urls/resolvers.py", "resolve"),
    ("interactions/messaging/webhooks.py", "get_webhook_channel"),
    ("interactions/intake.py", "check_twilio"),
    ("django/http/request.py", "_load_post_and_files"),
    ("interactions/intake.py", "store_events"),
    ("interactions/inbound.py", "record_inbound_event"),
    ("interactions/inbound.py", "nudge_channel"),
    ("kombu/messaging.py", "publish"),
    ("celery/app/task.py", "apply_async"),
    ("django/db/transaction.py", "__exit__"),
    ("django/core/handlers/wsgi.py", "__init__"),
    ("django/dispatch/dispatcher.py", "send"),
]


def signed(*, uuid: str, token: str, index: int) -> tuple[str, bytes, str]:
    """The benchmark's signed Twilio SMS (bench/webhook_client.py): path, form body, signature. Built before the
    timed loops, so that the figures hold only the server's work, not the provider's signing."""
    path = f"/hooks/twilio/{uuid}/"
    sid = f"SMprofile{index:010d}"
    sender = f"+336{10_000_000 + index % 1000:08d}"
    body, signature = signed_sms(host=HOST, path=path, token=token, sid=sid, sender=sender)
    return path, body, signature


def environ(path: str, body: bytes, signature: str) -> dict[str, Any]:
    """The WSGI environ gunicorn builds for that request."""
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": HOST,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_TWILIO_SIGNATURE": signature,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0
        self.kinds: dict[str, int] = {}

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        kind = " ".join(sql.split()[:2])[:40]
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        return execute(sql, params, many, context)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hooks_profile")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--app", default="omnidesk.wsgi", help="module whose `application` serves /hooks/")
    parser.add_argument("--publish", action="store_true", help="every webhook publishes a task (mark deleted)")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    url = fresh_database(os.environ["DATABASE_URL"], DATABASE, bench="hooks_profile")
    redis_url = os.environ["REDIS_URL"]
    migrate(url, redis_url)
    os.environ["DB_CONN_MAX_AGE"] = "60"  # as the hooks process runs (Procfile)
    setup_django(url, redis_url)
    from django.db import connection

    from bench.webhook_ingest import AUTH_TOKEN, create_fixture
    from interactions import inbound_nudge

    fixture = create_fixture()
    application = importlib.import_module(args.app).application
    store = inbound_nudge.mark_store()
    statuses: dict[str, int] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        statuses[status] = statuses.get(status, 0) + 1
        return lambda _data: None

    n = args.requests
    requests = [signed(uuid=fixture.channel_uuid, token=AUTH_TOKEN, index=index) for index in range(2 * n + 50)]

    def call(index: int) -> None:
        if args.publish and store is not None:
            store.delete(inbound_nudge.pending_mark(fixture.channel_id))
        response = application(environ(*requests[index]), start_response)
        for _chunk in response:
            pass
        response.close()

    for index in range(2 * n, 2 * n + 50):  # warm up: imports, query compilation, the connection
        call(index)
    statuses.clear()
    cpu = time.process_time()
    for index in range(n):
        call(index)
    plain_ms = (time.process_time() - cpu) * 1000 / n
    # CPU time, not wall time: waiting on PostgreSQL's commit (its fsync) costs the server no CPU.
    counter, profiler = StatementCounter(), cProfile.Profile(time.process_time)
    with connection.execute_wrapper(counter):
        cpu = time.process_time()
        profiler.enable()
        for index in range(n, 2 * n):
            call(index)
        profiler.disable()
        profiled_ms = (time.process_time() - cpu) * 1000 / n
    print(
        f"{args.app}: {n} requests {statuses}; client CPU {plain_ms:.3f} ms per request"
        f" ({profiled_ms:.3f} ms under cProfile); {counter.count / n:.2f} statements each {counter.kinds}"
    )
    stats = pstats.Stats(profiler)
    print("parts (cumulative CPU, ms per request under cProfile):")
    for fragment, name in PARTS:
        spent = sum(
            row[3]
            for (file, _line, function), row in stats.stats.items()  # type: ignore[attr-defined]
            if function == name and file.endswith(fragment)
        )
        if spent:
            print(f"  {spent * 1000 / n:7.3f}  {fragment}:{name}")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        print(out.getvalue())


if __name__ == "__main__":
    main()
