"""The socket consumers' database calls: a bounded pool of threads whose PostgreSQL connections are kept.

channels' `database_sync_to_async` closes "old" connections before and after each call, by CONN_MAX_AGE. The `web`
process runs with `DB_CONN_MAX_AGE=0` (Procfile): under ASGI each HTTP request runs in a fresh thread, so connections
kept there would pile up until PostgreSQL refuses clients (docs/deployment.md). So every widget message and every
desk call on a socket opened a PostgreSQL connection of its own — a backend forked and authenticated, 3 to 9 ms here
(docs/performance.md, "The sockets' database connections") — before its one INSERT.

The sockets' calls run here instead: on at most OMNIDESK_SOCKET_DB_THREADS threads, so at most that many connections
per process whatever the number of sockets, each kept across calls. A connection that broke is closed after the call
that found it (the rule Django applies at the end of a request, and the worker after a task:
`worker_connections.drop_broken_connections`), so the next call opens a new one; a call that meets a connection
PostgreSQL dropped meanwhile fails as a request would (the widget keeps an unacknowledged message and sends it again
on its new socket, the uuid makes that idempotent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from django.conf import settings

from omnidesk.worker_connections import drop_broken_connections

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process's pool of socket database threads, made at first use (after the settings are loaded)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=settings.OMNIDESK_SOCKET_DB_THREADS, thread_name_prefix="socket-db")
        return _pool


class KeptConnectionSyncToAsync(SyncToAsync):
    """`database_sync_to_async` for socket consumers: the call runs on the pool, its thread's connection kept."""

    def __init__(self, func: Callable[..., Any]) -> None:
        super().__init__(func, thread_sensitive=False, executor=pool())

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            drop_broken_connections()


# Used as channels' own: `await socket_database(function)(arguments)`.
socket_database = KeptConnectionSyncToAsync
