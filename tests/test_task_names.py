"""Services enqueue their own tasks by name (omnidesk.celery.registered_task), since the tasks modules import them.

A web or hooks process never imports a tasks module itself (a worker's autodiscovery does, at its start): the apps
register their tasks in `AppConfig.ready`, so a fresh process knows every name a service enqueues. In this test
process other tests import the tasks modules, hence a process of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys

import django

django.setup()
loaded = sorted(name for name in sys.modules if name.endswith(".tasks") and name.split(".")[0] in {packages})

from customers import csv_io, gdpr
from interactions import inbound
from omnidesk.celery import app, registered_task
from routing import stats
from routing.schedule import BEAT

names = [inbound.PROCESS_TASK, csv_io.IMPORT_TASK, gdpr.VACUUM_TASK, stats.PUBLISH_TASK]
assert all(registered_task(name).name == name for name in names), names
assert [entry["task"] for entry in BEAT.values() if entry["task"] not in app.tasks] == []
print(" ".join(loaded))
"""


def test_a_fresh_process_knows_the_tasks_its_services_enqueue_by_name() -> None:
    packages = {"customers", "interactions", "routing"}
    result = subprocess.run(
        [sys.executable, "-c", CHECK.replace("{packages}", repr(packages))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Registered by the apps' ready(), before anything enqueued.
    assert result.stdout.split() == ["customers.tasks", "interactions.tasks", "routing.tasks"]
