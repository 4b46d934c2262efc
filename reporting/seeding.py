"""Synthetic reporting events and their rollups for a bulk-loaded data set (seed_volume, bench/reports.py).

One event per interaction, spread evenly over the last `days` days (newest interaction = now), its kind taken from
the interaction id (offered, answered, customer message, first response, resolved, abandoned: one in six each), with
durations from the id too. Written in SQL (INSERT … SELECT) because a million `record()` calls would take minutes;
the rollups are the same sums `reporting.events` keeps incrementally, built here with one GROUP BY, and FCR's and
channel attrition's marks are the ones `reporting.followups` keeps, derived by `derive_followups` (also the
migration that introduced them, for the events written before).
"""

from __future__ import annotations

from django.db import connection
from django.db.backends.utils import CursorWrapper

from reporting import followups
from reporting.models import COUNTERS, DailyStat, IntervalStat, RepeatedResolution, ReportingCase, ReportingEvent

# Literal "%" doubled: these go into a parametrized query.
KIND_OF = (
    "CASE i.id %% 6 WHEN 0 THEN 'offered_to_queue' WHEN 1 THEN 'answered' WHEN 2 THEN 'customer_message' "
    "WHEN 3 THEN 'first_response' WHEN 4 THEN 'resolved' ELSE 'abandoned' END"
)
DURATION_OF = (
    "CASE i.id %% 6 WHEN 1 THEN (i.id %% 45)::float WHEN 3 THEN (i.id %% 600)::float "
    "WHEN 5 THEN (5 + i.id %% 115)::float ELSE NULL END"
)
SUMS = {
    "offered": "count(*) FILTER (WHERE kind = 'offered_to_queue')",
    "answered": "count(*) FILTER (WHERE kind = 'answered')",
    "answered_in_target": "count(*) FILTER (WHERE kind = 'answered' AND duration_seconds <= 20)",
    "answer_wait_seconds": "coalesce(sum(duration_seconds) FILTER (WHERE kind = 'answered'), 0)",
    "answer_wait_business_seconds": "coalesce(sum(business_seconds) FILTER (WHERE kind = 'answered'), 0)",
    "abandoned": "count(*) FILTER (WHERE kind = 'abandoned')",
    "abandoned_in_target": "count(*) FILTER (WHERE kind = 'abandoned' AND duration_seconds <= 20)",
    "abandon_wait_seconds": "coalesce(sum(duration_seconds) FILTER (WHERE kind = 'abandoned'), 0)",
    "first_responses": "count(*) FILTER (WHERE kind = 'first_response')",
    "first_response_seconds": "coalesce(sum(duration_seconds) FILTER (WHERE kind = 'first_response'), 0)",
    "first_response_business_seconds": "coalesce(sum(business_seconds) FILTER (WHERE kind = 'first_response'), 0)",
    "resolved": "count(*) FILTER (WHERE kind = 'resolved')",
    "handled": "count(*) FILTER (WHERE handle_seconds IS NOT NULL)",
    "handle_seconds": "coalesce(sum(handle_seconds), 0)",
}


def seed_reporting(*, days: int = 90, agent_id: int | None = None) -> tuple[int, int]:
    """(events written, rollup rows) for every interaction; does nothing once reporting events exist (re-seeding
    would count them twice)."""
    events, stats = ReportingEvent._meta.db_table, IntervalStat._meta.db_table
    if ReportingEvent.objects.exists():
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM interactions_interaction")
        low, high = cursor.fetchone() or (None, None)
        if low is None:
            return 0, 0
        span = max(1, high - low)
        cursor.execute(
            f"""
            INSERT INTO {events} (kind, at, bucket, queue_id, channel_kind, channel_id, intent_id, agent_id,
                customer_id, conversation_id, in_business_hours, duration_seconds, business_seconds,
                handle_seconds, score, meta)
            SELECT e.kind, e.at, date_bin('15 minutes', e.at, TIMESTAMPTZ '2000-01-01'), e.queue_id, 'email',
                e.channel_id, NULL, CASE WHEN e.kind IN ('answered', 'first_response', 'resolved') THEN %s::integer END,
                e.customer_id, e.conversation_id, true, e.duration, e.duration,
                CASE WHEN e.kind = 'resolved' THEN (60 + e.id %% 900)::float END, NULL, '{{}}'::jsonb
            FROM (
                SELECT i.id, {KIND_OF} AS kind, {DURATION_OF} AS duration,
                    now() - make_interval(secs => (%s - i.id)::float / %s * %s * 86400) AS at,
                    c.queue_id, i.channel_id, i.customer_id, i.conversation_id
                FROM interactions_interaction i JOIN interactions_conversation c ON c.id = i.conversation_id
            ) e
            """,
            [agent_id, high, span, days],
        )
        written = cursor.rowcount
        columns = ", ".join(COUNTERS)
        values = ", ".join(SUMS.get(name, "0") for name in COUNTERS)
        updates = ", ".join(f"{name} = {stats}.{name} + excluded.{name}" for name in COUNTERS)
        cursor.execute(
            f"""
            INSERT INTO {stats} (bucket, queue_id, channel_kind, intent_id, agent_id, {columns})
            SELECT bucket, coalesce(queue_id, 0), channel_kind, coalesce(intent_id, 0), coalesce(agent_id, 0), {values}
            FROM {events} GROUP BY bucket, coalesce(queue_id, 0), channel_kind, coalesce(intent_id, 0),
                coalesce(agent_id, 0)
            ON CONFLICT (bucket, queue_id, channel_kind, intent_id, agent_id) DO UPDATE SET {updates}
            """
        )
        rollups = cursor.rowcount
        derive_followups(cursor)
        derive_daily(cursor)
        cursor.execute(f"ANALYZE {events}")
        cursor.execute(f"ANALYZE {stats}")
        cursor.execute(f"ANALYZE {DailyStat._meta.db_table}")
    return written, rollups


CONTACTS = "('offered_to_queue', 'customer_message')"


def derive_followups(cursor: CursorWrapper) -> None:
    """From the stored events, the marks `reporting.followups` keeps and their rollup counters (PostgreSQL; once,
    on events without marks): repeated resolutions, cases with their first resolution and attrition, and
    `resolutions_repeated` / `cases` / `cases_attrited` added to the rows of the resolutions and first offers."""
    events, stats = ReportingEvent._meta.db_table, IntervalStat._meta.db_table
    repeated, cases = RepeatedResolution._meta.db_table, ReportingCase._meta.db_table
    cursor.execute(
        f"""
        INSERT INTO {repeated} (resolution_id)
        SELECT r.id FROM {events} r
        WHERE r.kind = 'resolved' AND r.customer_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM {events} c WHERE c.customer_id = r.customer_id AND c.kind IN {CONTACTS}
                AND c.at > r.at AND c.at <= r.at + make_interval(days => %s))
        ON CONFLICT DO NOTHING
        """,
        [followups.fcr_days()],
    )
    cursor.execute(
        f"""
        INSERT INTO {cases} (conversation_id, customer_id, channel_kind, offered_at, resolved_at, attrited, bucket,
            queue_id, intent_id, agent_id)
        SELECT o.conversation_id, o.customer_id, o.channel_kind, o.at, res.at,
            o.customer_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM {events} c WHERE c.customer_id = o.customer_id AND c.kind IN {CONTACTS}
                    AND c.at > o.at AND (res.at IS NULL OR c.at < res.at) AND c.channel_kind <> o.channel_kind),
            o.bucket, coalesce(o.queue_id, 0), coalesce(o.intent_id, 0), coalesce(o.agent_id, 0)
        FROM (
            SELECT DISTINCT ON (conversation_id) * FROM {events}
            WHERE kind = 'offered_to_queue' AND conversation_id IS NOT NULL ORDER BY conversation_id, at, id
        ) o
        LEFT JOIN LATERAL (
            SELECT min(r.at) AS at FROM {events} r
            WHERE r.conversation_id = o.conversation_id AND r.kind = 'resolved' AND r.at >= o.at
        ) res ON true
        ON CONFLICT DO NOTHING
        """
    )
    added = ("resolutions_repeated", "cases", "cases_attrited")
    columns = ", ".join(COUNTERS)
    values = ", ".join(f"sum({name})" if name in added else "0" for name in COUNTERS)
    updates = ", ".join(f"{name} = {stats}.{name} + excluded.{name}" for name in added)
    cursor.execute(
        f"""
        INSERT INTO {stats} (bucket, queue_id, channel_kind, intent_id, agent_id, {columns})
        SELECT bucket, queue_id, channel_kind, intent_id, agent_id, {values} FROM (
            SELECT e.bucket, coalesce(e.queue_id, 0) AS queue_id, e.channel_kind, coalesce(e.intent_id, 0) AS intent_id,
                coalesce(e.agent_id, 0) AS agent_id, 1 AS resolutions_repeated, 0 AS cases, 0 AS cases_attrited
            FROM {repeated} m JOIN {events} e ON e.id = m.resolution_id
            UNION ALL
            SELECT bucket, queue_id, channel_kind, intent_id, agent_id, 0, 1, attrited::int FROM {cases}
        ) marks GROUP BY bucket, queue_id, channel_kind, intent_id, agent_id
        ON CONFLICT (bucket, queue_id, channel_kind, intent_id, agent_id) DO UPDATE SET {updates}
        """
    )


def derive_daily(cursor: CursorWrapper) -> None:
    """The daily rollups as the sums of the 15-minute rows of each UTC day (PostgreSQL; on an empty daily table)."""
    stats, daily = IntervalStat._meta.db_table, DailyStat._meta.db_table
    columns = ", ".join(COUNTERS)
    sums = ", ".join(f"sum({name})" for name in COUNTERS)
    cursor.execute(
        f"""
        INSERT INTO {daily} (day, queue_id, channel_kind, intent_id, agent_id, {columns})
        SELECT (bucket AT TIME ZONE 'UTC')::date, queue_id, channel_kind, intent_id, agent_id, {sums} FROM {stats}
        GROUP BY 1, queue_id, channel_kind, intent_id, agent_id
        """
    )
