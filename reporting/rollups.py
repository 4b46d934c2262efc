"""The one writer of rollup rows: add (or subtract) counters to one bucket × dimensions key, and to its UTC day.

An `INSERT … ON CONFLICT DO UPDATE SET col = col + excluded.col`: concurrent writers to the same row never lose an
addition. A leaf module (models only), shared by `reporting.events` (an event's own counters) and
`reporting.followups` (FCR and attrition marks, which land in an earlier event's row).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.db import connection

from omnidesk import prepared
from reporting.models import COUNTERS, DailyStat, IntervalStat, ReportingEvent

KEY = ("bucket", "queue_id", "channel_kind", "intent_id", "agent_id")
DAILY_KEY = ("day", "queue_id", "channel_kind", "intent_id", "agent_id")
Key = tuple[datetime, int, str, int, int]


def key_of(event: ReportingEvent) -> Key:
    """An event's rollup key (0 / "" for a missing dimension)."""
    return (event.bucket, event.queue_id or 0, event.channel_kind or "", event.intent_id or 0, event.agent_id or 0)


def utc_day(bucket: datetime) -> date:
    return (bucket.astimezone(UTC) if bucket.tzinfo else bucket).date()


def _upsert(table: str, key_columns: tuple[str, ...], additions: dict[str, float]) -> str:
    # Every counter is given explicitly (Django leaves no database defaults); only the additions are added.
    columns = [*key_columns, *COUNTERS]
    updates = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in additions)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {updates}"
    )


def _parts(key: Key, additions: dict[str, float]) -> tuple[str, list[Any], str, list[Any]]:
    counters = [additions.get(name, 0) for name in COUNTERS]
    # Adapted as the ORM would store them, so that raw and ORM writes of one row are the same key (SQLite: text).
    fine: list[Any] = [connection.ops.adapt_datetimefield_value(key[0]), *key[1:], *counters]
    daily: list[Any] = [connection.ops.adapt_datefield_value(utc_day(key[0])), *key[1:], *counters]
    fine_sql = _upsert(IntervalStat._meta.db_table, KEY, additions)
    daily_sql = _upsert(DailyStat._meta.db_table, DAILY_KEY, additions)
    return fine_sql, fine, daily_sql, daily


def upsert_ctes(key: Key, additions: dict[str, float]) -> tuple[str, list[Any]]:
    """`add` as the data-modifying CTEs of another PostgreSQL statement ("" when nothing is added): the caller's
    statement (an event's INSERT) and the rollup's then travel together, one round trip instead of two."""
    additions = {name: value for name, value in additions.items() if value}
    if not additions:
        return "", []
    fine_sql, fine, daily_sql, daily = _parts(key, additions)
    return f"rollup_fine AS ({fine_sql} RETURNING 1), rollup_daily AS ({daily_sql} RETURNING 1)", fine + daily


def add(key: Key, additions: dict[str, float]) -> None:
    """Add to the 15-minute row and to its UTC day's row (one statement on PostgreSQL)."""
    additions = {name: value for name, value in additions.items() if value}
    if not additions:
        return
    fine_sql, fine, daily_sql, daily = _parts(key, additions)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            prepared.execute(
                cursor, f"WITH fine AS ({fine_sql} RETURNING 1) {daily_sql}", fine + daily, owner="reporting"
            )
        else:
            cursor.execute(fine_sql, fine)
            cursor.execute(daily_sql, daily)
