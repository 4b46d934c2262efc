"""A worker process drops a database connection that broke (omnidesk/worker_connections.py), on the real
PostgreSQL: its server process is terminated, as a PostgreSQL restart does, and the next task gets a new one."""

from __future__ import annotations

import psycopg2
import pytest
from celery.signals import task_postrun
from django.db import DatabaseError, connection

from omnidesk.worker_connections import drop_broken_connections

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_server_process_of_our_connection() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    settings = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:
        other.autocommit = True
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


def query() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return int(cursor.fetchone()[0])


def test_it_replaces_a_connection_whose_server_went_away_after_the_task_that_found_it() -> None:
    terminate_server_process_of_our_connection()
    with pytest.raises(DatabaseError):
        query()  # the task that finds it broken fails (and retries)
    task_postrun.send(sender=None)  # as the worker sends it after that task
    assert connection.connection is None
    assert query() == 1  # the next task works


def test_it_keeps_a_connection_that_still_answers_after_an_error() -> None:
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    raw = connection.connection
    assert connection.errors_occurred
    assert drop_broken_connections() == 0
    assert connection.connection is raw and not connection.errors_occurred
