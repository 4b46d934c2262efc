"""email_vs_helpdesk: the same generated mail through django-helpdesk 2.6.1 and through omnidesk, single-process.

What is measured
    The `email_ingest` generator writes N messages (default 2,000) to a folder. django-helpdesk 2.6.1, installed in a
    separate virtualenv (HELPDESK_VENV, default /tmp/omnidesk-helpdesk-venv, created with pip when missing — never
    part of omnidesk's requirements), reads them with its own mailbox loop (`helpdesk.email.process_queue`, "local"
    box) into a fresh PostgreSQL database: see bench/helpdesk_baseline.py. omnidesk reads the same folder with
    `ingest_paths` (what `manage.py ingest_email` calls) in the embedded default's task mode — DATABASE_URL on
    PostgreSQL, no REDIS_URL, so every inbound task runs in-process right after its commit: store, parse, identity,
    thread, route, events. Both are timed inside their process, from the first read to the last commit; both run
    one after the other on the same machine, so the ratio is measured in one run.

Reading a line
    {"bench": "email_vs_helpdesk", "messages": N, "helpdesk": {...}, "omnidesk_single": {...},
     "ratio": omnidesk msg/s ÷ helpdesk msg/s, "machine_load": …}
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.email_ingest import generate_maildir
from bench.environment import configure_logging, fresh_database
from tests.stack import ROOT

logger = logging.getLogger("bench.email_vs_helpdesk")
Emit = Callable[[dict[str, Any]], None]
HELPDESK_DATABASE = "omnidesk_bench_helpdesk"
OMNIDESK_DATABASE = "omnidesk_bench_email_single"

# Runs inside a fresh interpreter on the embedded default's task mode (no REDIS_URL: Celery eager).
OMNIDESK_SINGLE = """
import json, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from interactions.mail.archives import ingest_paths
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import AgentProfile, Queue
queue = Queue.objects.create(name="Bench email")
channel = Channel.objects.create(
    kind="email", name="Bench mailbox", queue=queue, config={"address": "support@bench.test"}
)
agent = get_user_model().objects.create_user(username="bench-email-agent", first_name="Bench")
AgentProfile.objects.update_or_create(
    user=agent, defaults={"presence": "available", "chat_capacity": 30000, "email_capacity": 30000}
)
queue.members.add(agent)
cpu, started = time.process_time(), time.perf_counter()
result = ingest_paths(channel=channel, paths=[sys.argv[1]])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
processed = InboundEvent.objects.filter(channel=channel, processed_at__isnull=False).count()
print(json.dumps({
    "stored": result.stored, "processed": processed,
    "dead_lettered": InboundEvent.objects.filter(dead_lettered_at__isnull=False).count(),
    "threaded": Interaction.objects.filter(channel=channel, meta__has_key="threaded_by").count(),
    "seconds": round(seconds, 2), "msg_per_s": round(processed / seconds, 1),
    "cpu_ms_per_msg": round(1000 * cpu / max(processed, 1), 2),
}))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("email_vs_helpdesk")
    group.add_argument("--email-vs-helpdesk-messages", type=int, default=2000, help="messages (2000)")
    group.add_argument("--email-vs-helpdesk-customers", type=int, default=500, help="distinct senders (500)")


def helpdesk_python() -> str:
    venv = Path(os.environ.get("HELPDESK_VENV", "/tmp/omnidesk-helpdesk-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        logger.info("creating %s with django-helpdesk 2.6.1", venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "django-helpdesk[teams]==2.6.1", "psycopg2-binary"], check=True
        )
    return str(python)


def last_json_line(output: str) -> dict[str, Any]:
    return dict(json.loads(output.strip().splitlines()[-1]))


def run(args: argparse.Namespace, *, emit: Emit) -> None:
    configure_logging(logger)
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url:
        raise SystemExit("email_vs_helpdesk needs DATABASE_URL (PostgreSQL)")
    with tempfile.TemporaryDirectory(prefix="omnidesk-bench-vs-helpdesk-") as scratch:
        maildir = Path(scratch) / "Maildir"
        replies = generate_maildir(
            maildir, messages=args.email_vs_helpdesk_messages, customers=args.email_vs_helpdesk_customers
        )
        # helpdesk's "local" box reads every file of one folder and deletes what it processed: give it a copy.
        flat = Path(scratch) / "helpdesk-box"
        shutil.copytree(maildir / "new", flat)

        helpdesk_url = fresh_database(database_url, HELPDESK_DATABASE, bench="email_vs_helpdesk")
        logger.info("django-helpdesk 2.6.1 on %d messages", args.email_vs_helpdesk_messages)
        done = subprocess.run(
            [helpdesk_python(), str(ROOT / "bench" / "helpdesk_baseline.py"), helpdesk_url, str(flat)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "MEDIA_ROOT": f"{scratch}/helpdesk-media"},
        )
        helpdesk = last_json_line(done.stdout)

        omnidesk_url = fresh_database(database_url, OMNIDESK_DATABASE, bench="email_vs_helpdesk")
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY")}
        env.update(
            DATABASE_URL=omnidesk_url,
            DJANGO_SETTINGS_MODULE="omnidesk.settings",
            DEBUG="false",
            MEDIA_ROOT=f"{scratch}/omnidesk-media",
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        logger.info("omnidesk, single process (embedded task mode) on the same messages")
        done = subprocess.run(
            [sys.executable, "-c", OMNIDESK_SINGLE, str(maildir)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        omnidesk = last_json_line(done.stdout)
    emit(
        {
            "bench": "email_vs_helpdesk",
            "messages": args.email_vs_helpdesk_messages,
            "expected_threaded": replies,
            "helpdesk": helpdesk,
            "omnidesk_single": omnidesk,
            "ratio": round(omnidesk["msg_per_s"] / helpdesk["msg_per_s"], 2) if helpdesk["msg_per_s"] else None,
            "machine_load": round(os.getloadavg()[0], 1),
        }
    )
