"""Two transactions writing for one customer at once still mark the resolution repeated (the customer's lock).

Without the lock, the contact's transaction would not see the resolution (not committed yet) and the resolution's
check would have run before the contact existed: the mark would be lost.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from reporting import kpis
from reporting.events import record
from reporting.models import EventKind
from tests.stack import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the customer's lock is PostgreSQL's")
def test_it_marks_a_repeat_written_while_the_resolution_is_not_committed_yet() -> None:
    errors: list[BaseException] = []

    def contact() -> None:
        try:
            with transaction.atomic():
                record(
                    kind=EventKind.CUSTOMER_MESSAGE,
                    at=T0 + timedelta(hours=1),
                    conversation_id=2,
                    customer_id=7,
                    channel_kind="email",
                )
        except BaseException as error:  # reported in the main thread
            errors.append(error)
        finally:
            connection.close()

    other = threading.Thread(target=contact)
    with transaction.atomic():
        record(kind=EventKind.RESOLVED, at=T0, conversation_id=1, customer_id=7, channel_kind="chat")
        other.start()
        # The contact's transaction has written its event and waits for the customer's lock, which this one holds.
        wait_until(_someone_waits_for_an_advisory_lock, timeout=10, message="the contact to wait for the customer")
        assert other.is_alive()
    other.join(timeout=10)
    assert not errors and not other.is_alive()
    assert kpis.first_contact_resolution(start=T0 - timedelta(days=1), end=T0 + timedelta(days=1)) == (0, 1)


def _someone_waits_for_an_advisory_lock() -> bool:
    with connection.cursor() as cursor:
        # pg_locks, not pg_stat_activity: the latter is a snapshot taken once per transaction, and this one is open.
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return bool(cursor.fetchone()[0])
