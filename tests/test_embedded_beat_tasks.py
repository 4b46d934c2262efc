"""The embedded default's periodic work knows every scheduled task, in a fresh server-like process.

Celery's autodiscovery of `tasks` modules runs only when a worker starts; the embedded default has no worker, so a
task whose module nothing else imported was unknown to the in-process beat (the inbound sweep, mailbox polling and
due callbacks failed with NotRegistered after `make run`). A subprocess is used because this test process has
already imported every module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from omnidesk import embedded_beat
from tests.stack import ROOT

PROBE = """
import json, django
django.setup()
from omnidesk import embedded_beat
from omnidesk.celery import app
names = sorted({task for task, _every in embedded_beat.schedule_entries().values()})
before = [name for name in names if name not in app.tasks]
print(json.dumps({"names": names, "unknown_before": before, "unknown_after": embedded_beat.load_tasks()}))
"""


def test_it_registers_every_scheduled_task_before_the_embedded_beat_runs_them() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "omnidesk.settings"
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert "interactions.tasks.sweep_inbound_events" in probe["names"]
    assert "interactions.mail.tasks.poll_mailboxes" in probe["names"]
    assert probe["unknown_after"] == []


def test_it_returns_a_periodic_tasks_result_without_asking_celery_to_wait(db: Any) -> None:
    figures = embedded_beat.run_entry("routing.schedule.sweep_sla_task")
    assert isinstance(figures, dict) and {"warned", "breached"} <= set(figures)
