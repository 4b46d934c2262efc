"""The sockets' database calls keep their connections (omnidesk/socket_db.py), on the real PostgreSQL, with the web
process's setting: CONN_MAX_AGE 0, under which channels' `database_sync_to_async` opens one per call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import DatabaseError, connection, connections

from omnidesk import socket_db

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def one_thread_pool(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The web process's settings, and a pool of one thread made from them for this test; its connection closed at
    the end (an open one would keep the test database from being dropped)."""
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    settings.OMNIDESK_SOCKET_DB_THREADS = 1
    monkeypatch.setattr(socket_db, "_pool", None)
    yield
    pool = socket_db.pool()
    pool.submit(connections.close_all).result()
    pool.shutdown()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def pids_of(calls: int, wrap: Callable[[Callable[[], int]], Any]) -> list[int]:
    async def run() -> list[int]:
        return [await wrap(backend_pid)() for _ in range(calls)]

    return asyncio.run(run())


def close_this_threads_connection() -> None:
    connection.close()


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_it_keeps_the_connection_of_a_socket_call_for_the_next_one(one_thread_pool: None) -> None:
    assert len(set(pids_of(10, socket_db.socket_database))) == 1
    # What it replaces: a new PostgreSQL backend (fork, authentication) for every call. Its thread may hold a
    # connection an earlier test opened under CONN_MAX_AGE 60, kept until then: closed first, as a new process has none.
    asyncio.run(database_sync_to_async(close_this_threads_connection)())
    assert len(set(pids_of(10, database_sync_to_async))) == 10


def test_it_replaces_a_connection_postgresql_dropped_after_the_call_that_found_it(one_thread_pool: None) -> None:
    (pid,) = set(pids_of(3, socket_db.socket_database))
    terminate(pid)

    async def call() -> int:
        return await socket_db.socket_database(backend_pid)()

    with pytest.raises(DatabaseError):
        asyncio.run(call())  # the call that meets the dropped connection fails, as a request would
    after = pids_of(5, socket_db.socket_database)
    assert pid not in after and len(set(after)) == 1
