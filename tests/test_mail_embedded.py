"""Embedded default (SQLite, no REDIS_URL, tasks run in-process): `manage.py ingest_email` of a maildir whose
replies sort before what they answer threads them all, and dead-letters none (issue 14: the "parent not processed
yet" deferral used to re-enter the task synchronously until RecursionError)."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

from tests.stack import ROOT

SETUP = """
import django, json, sys
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from routing.models import Queue
from interactions.models import Channel
queue = Queue.objects.create(name="Support")
channel = Channel.objects.create(
    kind=Channel.Kind.EMAIL, name="Support mailbox", queue=queue, config={"address": "support@example.com"}
)
call_command("ingest_email", str(channel.pk), sys.argv[1])
from interactions.models import InboundEvent, Interaction
print(json.dumps({
    "events": list(InboundEvent.objects.values("external_id", "processed_at", "dead_lettered_at", "last_error")),
    "interactions": list(Interaction.objects.filter(direction="in").values("external_id", "conversation_id")),
}, default=str))
"""


def message(n: int, *, date: str, parents: list[int]) -> bytes:
    # In-Reply-To only (no References), as some clients write it: each reply names only its direct parent.
    headers = f"In-Reply-To: <thread-{parents[-1]}@example.com>\r\n" if parents else ""
    return (
        f"From: Carla <carla@example.com>\r\nTo: support@example.com\r\nSubject: Order {n}\r\n"
        f"Date: {date}\r\nMessage-ID: <thread-{n}@example.com>\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nMessage {n} of the thread.\r\n"
    ).encode()


def test_it_threads_replies_stored_before_their_parents_in_the_embedded_default(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir")
    # A sender whose clock runs backwards: each reply is dated before what it answers, so it is stored first.
    box.add(message(1, date="Tue, 01 Dec 2026 10:00:00 +0100", parents=[]))
    box.add(message(2, date="Tue, 01 Dec 2026 09:00:00 +0100", parents=[1]))
    box.add(message(3, date="Tue, 01 Dec 2026 08:00:00 +0100", parents=[1, 2]))
    box.add(message(4, date="Tue, 01 Dec 2026 07:00:00 +0100", parents=[1, 2, 3]))
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"SQLITE_PATH": str(tmp_path / "db.sqlite3"), "DJANGO_SETTINGS_MODULE": "omnidesk.settings"})
    env["PYTHONPATH"] = str(ROOT)
    env["MEDIA_ROOT"] = str(tmp_path / "media")

    done = subprocess.run(
        [sys.executable, "-c", SETUP, str(tmp_path / "Maildir")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "RecursionError" not in done.stderr
    assert [event["dead_lettered_at"] for event in result["events"]] == [None] * 4
    assert all(event["processed_at"] for event in result["events"]), result["events"]
    conversations = {item["external_id"]: item["conversation_id"] for item in result["interactions"]}
    assert sorted(conversations) == [f"thread-{n}@example.com" for n in range(1, 5)]
    assert len(set(conversations.values())) == 1, "one case for the whole thread"
