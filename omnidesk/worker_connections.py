"""A worker process drops a database connection that broke, after the task that found it broken.

The worker keeps its database connections across tasks (CELERY_DB_REUSE_MAX, omnidesk/settings.py: Celery's Django
fix-up then closes them only every 1,000 tasks, instead of around every task). Django itself drops a broken connection
at the end of a request (`close_if_unusable_or_obsolete`), but nothing does so between tasks: after a PostgreSQL
restart, each worker process kept its dead connection and every task it ran failed on it ("connection already
closed", then the task's retry 8 s later), until that process happened to recycle it (the faults benchmark's worker
log). Here, after each task that had a database error, a connection that no longer answers is closed, so the next
task opens a new one. A usable one is kept (its error was the task's own, e.g. a lock timeout).
"""

from __future__ import annotations

from typing import Any

from django.db import connections


def drop_broken_connections(**_signal: Any) -> int:
    """Close every connection of this process that had an error and no longer answers; how many were closed."""
    closed = 0
    for connection in connections.all(initialized_only=True):
        if connection.connection is None or not connection.errors_occurred:
            continue
        if connection.in_atomic_block:
            continue  # an eager task inside a caller's transaction: the caller owns it
        if connection.is_usable():
            connection.errors_occurred = False
            continue
        connection.close()
        closed += 1
    return closed
