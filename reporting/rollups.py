"""The one writer of 15-minute rollup rows: add (or subtract) counters to one bucket × dimensions key.

An `INSERT … ON CONFLICT DO UPDATE SET col = col + excluded.col`: concurrent writers to the same row never lose an
addition. A leaf module (models only), shared by `reporting.events` (an event's own counters) and
`reporting.followups` (FCR and attrition marks, which land in an earlier event's row).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection

from reporting.models import COUNTERS, IntervalStat, ReportingEvent

KEY = ("bucket", "queue_id", "channel_kind", "intent_id", "agent_id")
Key = tuple[datetime, int, str, int, int]


def key_of(event: ReportingEvent) -> Key:
    """An event's rollup key (0 / "" for a missing dimension)."""
    return (event.bucket, event.queue_id or 0, event.channel_kind or "", event.intent_id or 0, event.agent_id or 0)


def add(key: Key, additions: dict[str, float]) -> None:
    additions = {name: value for name, value in additions.items() if value}
    if not additions:
        return
    table = IntervalStat._meta.db_table
    # Every counter is given explicitly (Django leaves no database defaults); only the additions are added.
    columns = [*KEY, *COUNTERS]
    # Adapted as the ORM would store it, so that raw and ORM writes of one bucket are the same key (SQLite: text).
    values: list[Any] = [connection.ops.adapt_datetimefield_value(key[0]), *key[1:]]
    values += [additions.get(name, 0) for name in COUNTERS]
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in additions)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
