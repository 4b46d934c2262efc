"""The periodic work of the embedded default: Celery beat's schedule, run by one thread of the server process.

Without a broker (no REDIS_URL) there is no beat process, so `make run` would never sweep inbound events, set absent
agents offline, fire SLA warnings, wake snoozes, route due callbacks or poll mailboxes. This runs every entry of the
merged beat schedule (CELERY_BEAT_SCHEDULE + OMNIDESK_BEAT_MODULES, see omnidesk/celery.py) at its own interval,
through the same task function beat would call, so the embedded default behaves like production.

It starts once, from omnidesk/asgi.py, only when `should_run()` says so: never with a broker (beat runs there), never
inside a test process (pytest drives the periodic work itself), and never when OMNIDESK_EMBEDDED_BEAT=0.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from celery.schedules import BaseSchedule, schedule
from django.conf import settings
from django.db import close_old_connections

from omnidesk.celery import app, registered_task

logger = logging.getLogger(__name__)

_started = threading.Lock()
_thread: threading.Thread | None = None
# How long the thread sleeps at most between two looks at the schedule (seconds).
MAX_TICK = 1.0


def should_run() -> bool:
    """Only the embedded default's server runs the schedule in-process."""
    if settings.REDIS_URL or not settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    if "pytest" in sys.modules:
        return False
    return os.environ.get("OMNIDESK_EMBEDDED_BEAT", "1") not in ("0", "false", "no")


def schedule_entries() -> dict[str, tuple[str, BaseSchedule]]:
    """Each beat entry by name: the task's name and its schedule (a float becomes Celery's interval schedule)."""
    entries: dict[str, tuple[str, BaseSchedule]] = {}
    for name, entry in app.conf.beat_schedule.items():
        every = entry["schedule"]
        # Numbers are seconds, like beat reads them; crontab and friends are used as they are.
        if not isinstance(every, BaseSchedule):
            every = schedule(run_every=every, app=app)
        entries[name] = (entry["task"], every)
    return entries


def run_entry(task_name: str) -> Any:
    """Run one periodic task in this thread, exactly as a worker would (its errors are logged, never raised)."""
    try:
        result = registered_task(task_name).apply()
    except Exception:  # one failing periodic task must not stop the others
        logger.exception("embedded periodic task %s failed", task_name)
        return None
    # The eager result is read directly: `.get()` refuses to run where Celery believes it is inside a task.
    if result.failed():
        logger.error("embedded periodic task %s failed: %r", task_name, result.result)
        return None
    return result.result


def load_tasks() -> list[str]:
    """Import every app's tasks module, as a worker does at start-up (Celery's autodiscovery only runs then), and
    return the scheduled task names that are still unknown (none, unless a module is broken)."""
    app.loader.import_default_modules()
    return sorted(task for task, _every in schedule_entries().values() if task not in app.tasks)


def _loop(stop: threading.Event) -> None:
    missing = load_tasks()
    if missing:
        logger.error("embedded periodic work: no task named %s", ", ".join(missing))
    entries = schedule_entries()
    # Like beat at start-up: every entry waits one interval first, so the server answers before the first sweep.
    last_run: dict[str, datetime] = {name: datetime.now(UTC) for name in entries}
    while not stop.is_set():
        wait = MAX_TICK
        for name, (task_name, every) in entries.items():
            due, next_in = every.is_due(last_run[name])
            if due:
                last_run[name] = datetime.now(UTC)
                # This thread's connection lives across runs, like a worker's: drop it when broken or too old.
                close_old_connections()
                run_entry(task_name)
                close_old_connections()
            wait = min(wait, max(float(next_in), 0.05))
        stop.wait(wait)


def start() -> bool:
    """Start the scheduler thread once per process; True when it runs after this call."""
    global _thread
    if not should_run():
        return False
    with _started:
        if _thread is None:
            stop = threading.Event()
            _thread = threading.Thread(target=_loop, args=(stop,), name="omnidesk-embedded-beat", daemon=True)
            _thread.start()
            logger.info("embedded periodic work started (no broker): %s", ", ".join(sorted(schedule_entries())))
    return True
