"""instructions: machine instructions per webhook accept, or per continuing chat message, counted by valgrind's
callgrind — a figure that does not move with the machine's load.

Not part of `make bench` (valgrind is a developer's tool, not a requirement): run it by hand,

    DATABASE_URL=… REDIS_URL=… python -m bench.instructions --requests 300
    DATABASE_URL=… REDIS_URL=… python -m bench.instructions --path chat --requests 200

CPU time per request scatters by a factor of two on a shared 2-core machine (docs/performance-hooks.md: 0.6 to
1.5 ms for the same code within minutes), far more than the changes it should judge. Callgrind counts the
instructions the process executes, which depend only on the code, its inputs and the environment (seen here: the
same count twice, whatever else runs). The figure counts this process only: the WSGI application as the `hooks`
process runs it (omnidesk.hooks_wsgi, no HTTP server), i.e. Python, Django, psycopg2 and redis-py on this side of
the sockets; PostgreSQL's and Redis's work is not in it. `--path chat` counts a continuing chat message as
bench.chat_profile drives it with `--batch 1` (light traffic, what chat_e2e's p50 is made of): stored as the
widget's socket stores it, then the worker's task applied in this process (a batch of one), so the figure is the
Python side of both the ASGI server's and the worker's part of one message.

The parent builds bench.hooks_profile's database (the webhook_ingest channel), then runs itself under
`valgrind --tool=callgrind --instr-atstart=no`; the child sets Django up, serves 50 warm-up webhooks uncounted,
switches counting on for `--requests` webhooks (callgrind_control on its own pid), off again, and the parent reads
the total from callgrind's output. One JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.environment import fresh_database, migrate, setup_django
from bench.hooks_profile import environ, signed

DATABASE = "omnidesk_bench_instructions"
WARM_UP = 50


def serve(requests: int, app: str) -> None:
    """The child, under callgrind: count the instructions of `requests` webhooks only."""
    import importlib

    from bench.webhook_ingest import AUTH_TOKEN
    from interactions.models import Channel

    channel = Channel.objects.get(name="Bench SMS")
    application = importlib.import_module(app).application
    statuses: dict[str, int] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        statuses[status] = statuses.get(status, 0) + 1
        return lambda _data: None

    signed_requests = [signed(uuid=str(channel.uuid), token=AUTH_TOKEN, index=i) for i in range(requests + WARM_UP)]

    def call(index: int) -> None:
        response = application(environ(*signed_requests[index]), start_response)
        for _chunk in response:
            pass
        response.close()

    for index in range(requests, requests + WARM_UP):
        call(index)

    def check() -> None:
        if set(statuses) != {"200 OK"}:
            raise SystemExit(f"unexpected answers: {statuses}")

    counted_loop(call, range(requests), check)


def chat(messages: int) -> None:
    """The child, under callgrind: count `messages` continuing chat messages, each stored and processed alone."""
    import uuid as uuidlib

    from celery.signals import task_prerun
    from django.conf import settings
    from django.db import transaction

    from bench.environment import create_fixture
    from interactions import inbound
    from interactions.models import Channel, InboundEvent
    from interactions.tasks import process_inbound_event_task

    settings.OMNIDESK_INGEST_BATCH_SIZE = 1

    def kind_header(task: Any = None, **_kwargs: Any) -> None:
        # As bench.chat_profile: a worker makes the message's custom headers attributes of the request.
        setattr(task.request, inbound.KIND_HEADER, (task.request.headers or {}).get(inbound.KIND_HEADER))

    task_prerun.connect(kind_header, weak=False)
    inbound.nudge_channel = lambda **_kwargs: None  # the task is applied below instead of published
    fixture = create_fixture()
    channel = Channel.objects.select_related("queue").get(public_key=fixture.channel_key)
    visitors = [f"bench.{index:04d}" for index in range(50)]

    def one(index: int) -> None:
        message = uuidlib.UUID(int=index).hex
        with transaction.atomic():
            event = inbound.record_widget_message(
                channel=channel, visitor_id=visitors[index % len(visitors)], uuid=message, text=f"bench {index}"
            )
        process_inbound_event_task.apply(
            (event.pk,), {"channel_id": channel.pk}, headers={inbound.KIND_HEADER: channel.kind}
        ).get()

    for index in range(len(visitors) + WARM_UP):  # each visitor opens a chat first; then warm-up messages
        one(index)
    start = len(visitors) + WARM_UP

    def check() -> None:
        if InboundEvent.objects.filter(processed_at__isnull=True).exists():
            raise SystemExit("messages left pending")

    counted_loop(one, range(start, start + messages), check)


def counted_loop(work: Callable[[int], None], indexes: range, check: Callable[[], None]) -> None:
    """`work` of each index with callgrind counting, then `check` (uncounted: it raises SystemExit if the work went
    wrong), then leave without running anything else."""
    toggle("on")
    time.sleep(1)  # valgrind takes the command at its next check: counting is on before the work starts
    for index in indexes:
        work(index)
    toggle("off")
    # Likewise the "off" may come late; what runs until then must be nothing: a sleep, then an exit without the
    # interpreter's finalization (which, counted in one run and not in the next, made the figure jump by a quarter).
    time.sleep(1)
    check()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def toggle(state: str) -> None:
    # callgrind_control is another process: its own instructions are not counted. It asks valgrind, which reads the
    # command at its next check, so a few thousand instructions of this process's wait are in the count (constant).
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--path", choices=["webhook", "chat"], default="webhook")
    parser.add_argument("--requests", type=int, default=300, help="webhooks, or chat messages")
    parser.add_argument("--app", default="omnidesk.hooks_wsgi")
    parser.add_argument("--keep", help="copy callgrind's output there (for callgrind_annotate)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setup_django(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
        if args.path == "chat":
            chat(args.requests)
        else:
            serve(args.requests, args.app)
        raise SystemExit("the counted loop did not run")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    url = fresh_database(os.environ["DATABASE_URL"], DATABASE, bench="instructions")
    redis_url = os.environ["REDIS_URL"]
    migrate(url, redis_url)
    setup_django(url, redis_url)
    if args.path == "webhook":
        from bench.webhook_ingest import create_fixture

        create_fixture()
    env = {**os.environ, "DATABASE_URL": url, "DB_CONN_MAX_AGE": "60"}  # as the hooks process runs (Procfile)
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "callgrind.out")
        started = time.monotonic()
        child = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.instructions",
                "--child",
                "--requests",
                str(args.requests),
                "--app",
                args.app,
                "--path",
                args.path,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if child.returncode:
            raise SystemExit(f"the counted run failed:\n{child.stdout}\n{child.stderr[-4000:]}")
        total = counted(out)
        if args.keep:
            shutil.copy(out, args.keep)
    print(
        json.dumps(
            {
                "bench": "instructions",
                "path": {"webhook": "webhook_accept", "chat": "chat_message_batch_of_one"}[args.path],
                **({"app": args.app} if args.path == "webhook" else {}),
                "requests": args.requests,
                "instructions_per_request": round(total / args.requests),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )


def counted(out: str) -> int:
    """The instructions callgrind counted (its `totals:` line, or the sum of its `summary:` lines)."""
    with open(out, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    found = re.findall(r"^(?:totals|summary):\s+(\d+)", text, flags=re.MULTILINE)
    if not found:
        raise SystemExit(f"no totals in {out}")
    return int(found[-1])


if __name__ == "__main__":
    main()
