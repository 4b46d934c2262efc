"""email_ingest: a maildir of N messages through the full inbound path, on the real stack.

What is measured
    A generated maildir of N real-world-shaped messages (default 2,000): first requests from many customers, replies
    threaded by In-Reply-To to earlier ones, a share of HTML alternatives, Windows-1252 and quoted replies. The clock
    starts when `ingest_paths` (what `manage.py ingest_email` calls) begins reading the maildir and stops when the
    last InboundEvent is processed by the Celery worker. Path covered: read → store raw (InboundEvent INSERT,
    chunked commits) → enqueue (Redis broker) → worker: parse (email.policy.default, nh3, mail-parser-reply) →
    identity → thread (reply token / In-Reply-To / References / subject tag) → Interaction → routing → Event rows →
    commit → pubsub push. Everything runs on the same 2 cores: this process (reading and storing), the worker,
    PostgreSQL and Redis.

Reading a line
    {"bench": "email_ingest", "messages": N, "processed": P, "threaded": T, "seconds": s, "store_s": s1,
     "msg_per_s": …, "batch_size": B, "worker_concurrency": C}
    - processed == messages, or the run timed out (see --email-ingest-timeout).
    - threaded: how many became part of an existing conversation (the generated replies).
    - msg_per_s = messages / seconds (stored, parsed, threaded and routed).
    - cpu_ms_per_msg: CPU used by the worker, this process and the benchmark database's PostgreSQL backends, per
      message (Redis and other users of the machine not counted); cpu_bound_msg_per_s = cores / that: what the path
      would sustain with the machine to itself. machine_load: the 1-minute load average at the end (other suites).

Uses its own database (DATABASE_URL with the name replaced by `omnidesk_bench_email`, dropped and re-created) and
flushes the Redis db of REDIS_URL.
"""

from __future__ import annotations

import argparse
import logging
import mailbox
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bench.environment import configure_logging, flush_redis, fresh_database, migrate, setup_django
from bench.measures import cpu_report, cpu_ticks, machine_busy_ticks
from tests.stack import Stack, wait_until

logger = logging.getLogger("bench.email_ingest")
Emit = Callable[[dict[str, Any]], None]
DATABASE = "omnidesk_bench_email"

QUOTE = (
    "\n\nOn Mon, 30 Nov 2026 at 16:02, Support <support@bench.test> wrote:\n> Thank you for your message.\n"
    "> Could you tell us your order number?\n>\n> Support team\n"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("email_ingest")
    group.add_argument("--email-ingest-messages", type=int, default=2000, help="messages in the maildir (2000)")
    group.add_argument("--email-ingest-customers", type=int, default=500, help="distinct senders (500)")
    group.add_argument("--email-ingest-worker-concurrency", type=int, default=2, help="Celery processes (2)")
    group.add_argument("--email-ingest-batch-size", type=int, default=50, help="events per worker transaction (50)")
    group.add_argument("--email-ingest-timeout", type=float, default=300, help="seconds to wait for the worker")


def generate_maildir(path: Path, *, messages: int, customers: int, seed: int = 5) -> int:
    """N messages: each customer's first is a new request, later ones reply to their previous message."""
    rng = random.Random(seed)
    box = mailbox.Maildir(path, create=True)
    last_id: dict[int, str] = {}
    replies = 0
    for n in range(messages):
        who = n % customers if n < customers else rng.randrange(customers)
        message = EmailMessage()
        name = f"Client {who} Été" if who % 7 == 0 else f"Customer {who}"
        message["From"] = f"{name} <customer{who}@example.com>"
        message["To"] = "Support <support@bench.test>"
        message["Date"] = format_datetime(datetime(2026, 11, 30, 8, 0, tzinfo=UTC) + timedelta(seconds=17 * n))
        message["Message-ID"] = f"<bench-{n}@example.com>"
        body = f"Hello,\n\nThis is message {n} about order {1000 + who}. " + "The parcel is late. " * rng.randint(3, 30)
        if who in last_id:
            message["Subject"] = f"Re: Order {1000 + who}"
            message["In-Reply-To"] = last_id[who]
            message["References"] = last_id[who]
            body += QUOTE
            replies += 1
        else:
            message["Subject"] = f"Order {1000 + who}"
        charset = "windows-1252" if n % 10 == 3 else "utf-8"
        message.set_content(body + "\nRegards,\n" + name, charset=charset)
        if n % 5 == 0:
            html = (
                "".join(f"<p>{line}</p>" for line in body.splitlines() if line) + '<img src="https://t.example/p.gif">'
            )
            message.add_alternative(f"<html><body>{html}<script>x()</script></body></html>", subtype="html")
        box.add(message.as_bytes())
        last_id[who] = message["Message-ID"]
    return replies


def create_channel() -> Any:
    from django.contrib.auth import get_user_model
    from django.db import connections

    from interactions.models import Channel
    from routing.models import AgentProfile, Queue

    queue = Queue.objects.create(name="Bench email")
    channel = Channel.objects.create(
        kind=Channel.Kind.EMAIL, name="Bench mailbox", queue=queue, config={"address": "support@bench.test"}
    )
    agent = get_user_model().objects.create_user(username="bench-email-agent", first_name="Bench")
    AgentProfile.objects.update_or_create(
        user=agent,
        defaults={
            "role": AgentProfile.Role.AGENT,
            "presence": AgentProfile.Presence.AVAILABLE,
            "chat_capacity": 30_000,
        },
    )
    queue.members.add(agent)
    connections.close_all()
    return channel


def own_cpu_ticks(stack: Stack) -> dict[int, int]:
    """CPU ticks so far of what works for this benchmark only: the worker's processes, this process, and the
    PostgreSQL backends of its database (other engineers' suites share the machine, and are not counted)."""
    worker_group = stack.worker.pid if stack.worker else -1
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        group, used = int(rest[2]), int(rest[11]) + int(rest[12])
        if group == worker_group or int(entry) == os.getpid() or DATABASE.encode() in cmdline:
            ticks[int(entry)] = used
    return ticks


def cpu_seconds(before: dict[int, int], after: dict[int, int]) -> float:
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / os.sysconf("SC_CLK_TCK")


def processed_count(channel: Any) -> int:
    from django.db import connections

    from interactions.models import InboundEvent

    try:
        return InboundEvent.objects.filter(channel=channel, processed_at__isnull=False).count()
    finally:
        connections.close_all()


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url or not redis_url:
        raise SystemExit("email_ingest needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    logger.info("preparing database %s and flushing %s", DATABASE, redis_url)
    url = fresh_database(database_url, DATABASE, bench="email_ingest")
    flush_redis(redis_url)
    migrate(url, redis_url)
    setup_django(url, redis_url)
    channel = create_channel()
    with tempfile.TemporaryDirectory(prefix="omnidesk-bench-email-") as scratch:
        maildir = Path(scratch) / "Maildir"
        replies = generate_maildir(maildir, messages=args.email_ingest_messages, customers=args.email_ingest_customers)
        logger.info("generated %d messages (%d replies) in %s", args.email_ingest_messages, replies, maildir)
        stack = Stack(
            database_url=url,
            redis_url=redis_url,
            worker_concurrency=args.email_ingest_worker_concurrency,
            extra_env={"OMNIDESK_MAIL_BATCH_SIZE": str(args.email_ingest_batch_size), "MEDIA_ROOT": scratch},
        )
        try:
            stack.start(timeout=60)
            emit(measure(stack, channel, maildir, args=args, replies=replies))
        finally:
            stack.stop()


def measure(stack: Stack, channel: Any, maildir: Path, *, args: argparse.Namespace, replies: int) -> dict[str, Any]:
    from django.db import connections

    from interactions.mail.archives import ingest_paths
    from interactions.models import Interaction

    total = args.email_ingest_messages
    before, busy_before, own_before = cpu_ticks(stack), machine_busy_ticks(), own_cpu_ticks(stack)
    start = time.perf_counter()
    result = ingest_paths(channel=channel, paths=[maildir])
    stored_at = time.perf_counter()
    connections.close_all()
    wait_until(
        lambda: processed_count(channel) >= result.stored,
        timeout=args.email_ingest_timeout,
        interval=0.05,
        message="the worker to process every message",
    )
    end = time.perf_counter()
    own = cpu_seconds(own_before, own_cpu_ticks(stack))
    logger.info("cpu: %s", cpu_report(before, cpu_ticks(stack), machine_busy_ticks() - busy_before, end - start))
    threaded = Interaction.objects.filter(channel=channel, meta__has_key="threaded_by").count()
    processed = processed_count(channel)
    return {
        "bench": "email_ingest",
        "messages": total,
        "processed": processed,
        "threaded": threaded,
        "expected_threaded": replies,
        "seconds": round(end - start, 2),
        "store_s": round(stored_at - start, 2),
        "msg_per_s": round(processed / (end - start), 1),
        # CPU of the worker, this process and the benchmark database's backends, per message; and the rate those
        # would allow with both cores to themselves (a projection, not a measurement: see docs/email.md).
        "cpu_ms_per_msg": round(1000 * own / max(processed, 1), 2),
        "cpu_bound_msg_per_s": round((os.cpu_count() or 1) * processed / own, 1) if own else None,
        "machine_load": round(os.getloadavg()[0], 1),
        "batch_size": args.email_ingest_batch_size,
        "worker_concurrency": args.email_ingest_worker_concurrency,
    }
