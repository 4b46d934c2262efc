"""Coalesced work after a commit, never on the committing thread: the supervisors' queue figures (routing/stats.py)
and the wallboard push (reporting/live.py).

After a change commits, a process schedules one run of the task `interval` seconds later unless it already has one
scheduled: that run renders the figures as they are when it runs, so it covers every change before it. With a
broker, the run is a Celery task with a countdown. In the embedded default (no broker, tasks run eagerly),
`apply_async` would have run the task at once, inside the request or ingest whose commit asked for it: the profile of
embedded email ingest (previous session) showed the stats publish and wallboard push at 22–32 % of its time. There,
the run goes to a timer thread of this process, with its own database connection, after the interval.

A leaf module: it imports Django and the standard library only.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_due: dict[str, float] = {}  # per kind of work: when its scheduled run happens (time.monotonic)
_timers: set[threading.Timer] = set()


def schedule(kind: str, task: Any, *, interval: float) -> bool:
    """Run the Celery `task` `interval` seconds from now unless a run of `kind` is already scheduled after now;
    True when this call scheduled it."""
    now = time.monotonic()
    with _lock:
        if _due.get(kind, 0.0) > now:
            return False
        _due[kind] = now + interval
    if not getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        task.apply_async(countdown=interval)
        return True
    timer = threading.Timer(interval, _run, args=(task,))
    timer.name = f"omnidesk-deferred-{kind}"
    timer.daemon = True
    with _lock:
        _timers.add(timer)
    timer.start()
    return True


def _run(task: Any) -> None:
    try:
        close_old_connections()
        result = task.apply()  # in this thread, exactly as the eager apply_async ran it; errors are logged
        if result.failed():
            logger.error("deferred task %s failed: %r", task.name, result.result)
    finally:
        connection.close()  # this thread's own connection: the thread ends here
        with _lock:
            _timers.discard(threading.current_thread())  # type: ignore[arg-type,unused-ignore]


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait for the scheduled embedded runs of this process to finish (a clean shutdown, tests); True if they did."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            pending = list(_timers)
        if not pending:
            return True
        for timer in pending:
            timer.join(max(0.0, deadline - time.monotonic()))
        if time.monotonic() >= deadline:
            with _lock:
                return not _timers


def pending() -> list[str]:
    """The kinds of work whose embedded run is scheduled and has not finished (a health view, tests)."""
    with _lock:
        return sorted(timer.name.removeprefix("omnidesk-deferred-") for timer in _timers)


def cancel() -> None:
    """Drop the scheduled embedded runs and forget the schedule (a shutdown; a test that starts from nothing)."""
    with _lock:
        timers = list(_timers)
        _timers.clear()
        _due.clear()
    for timer in timers:
        timer.cancel()
