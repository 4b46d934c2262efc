"""Push the wallboard at most once a second: after a change commits, one task per process per second publishes the
figures as they are when it runs (so it covers every change before it); unchanged figures are not sent again."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import transaction

from reporting import tasks

_lock = threading.Lock()
_next_push = 0.0


def interval() -> float:
    return float(getattr(settings, "OMNIDESK_WALLBOARD_INTERVAL", 1.0))


def push_soon() -> None:
    if getattr(settings, "OMNIDESK_WALLBOARD_LIVE", True):
        transaction.on_commit(_schedule)


def _schedule() -> None:
    global _next_push
    now = time.monotonic()
    with _lock:
        if _next_push > now:
            return
        _next_push = now + interval()
    tasks.push_wallboard_task.apply_async(countdown=interval())
