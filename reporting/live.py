"""Push the wallboard at most once a second: after a change commits, one task per process per second publishes the
figures as they are when it runs (so it covers every change before it); unchanged figures are not sent again. The
push never runs on the committing thread, in the embedded mode either (routing/deferred.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from reporting import tasks
from routing import deferred


def interval() -> float:
    return float(getattr(settings, "OMNIDESK_WALLBOARD_INTERVAL", 1.0))


def push_soon() -> None:
    if getattr(settings, "OMNIDESK_WALLBOARD_LIVE", True):
        transaction.on_commit(_schedule)


def _schedule() -> None:
    # Never the push itself: a task after the interval (a thread of its own in the embedded mode, routing/deferred).
    deferred.schedule("wallboard", tasks.push_wallboard_task, interval=interval())
