"""Claiming inbound events: which pending events of a channel one batch takes, and for how long it holds them.

See interactions/inbound.py for the batch that processes what is claimed here.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from interactions import lanes
from interactions.models import InboundEvent


def claim_lease() -> float:
    """Seconds a claim is exclusive. A worker holds the rows it processes locked, so the lease only matters for rows
    whose worker died between its claim and its commit (SIGKILL, OOM, a host lost): any later claim of the channel
    then takes them back, long before the sweeper's OMNIDESK_INBOUND_RETRY_AFTER."""
    return float(getattr(settings, "OMNIDESK_INGEST_CLAIM_LEASE", 2.0))


def claim_inbound_events(
    *, event_id: int, channel_id: int | None = None, retake: bool = False, limit: int | None = None
) -> list[int]:
    """Count an attempt on `event_id` and on other pending events of the same channel that nobody works on: never
    attempted, or claimed by a worker that died (lease expired, or at once with `retake`). A batch in all; their ids.

    A batch never mixes channels: a chat message must not wait behind a channel's slow mail (parsing, attachments),
    nor its SMS behind that. The channel is `channel_id` when given, else `event_id`'s.
    It commits on its own, before any processing, so that an attempt by a worker killed mid-way still counts.
    Rows another worker holds are skipped: they are being processed. An event that failed (it has a `last_error`)
    is never taken back here: its own retry, with backoff, or the sweeper take it, so that a poison message does not
    ride along in every batch. `limit`: the batch's size, by default the channel kind's (`lanes.batch_size_for`).
    """
    return claim(event_id=event_id, channel_id=channel_id, retake=retake, limit=limit)[0]


def claim(*, event_id: int, channel_id: int | None, retake: bool, limit: int | None) -> tuple[list[int], bool]:
    """`claim_inbound_events`, and whether more claimable events were left behind than the batch could take."""
    table = InboundEvent._meta.db_table
    if channel_id is None:
        channel_id = InboundEvent.objects.filter(pk=event_id).values_list("channel_id", flat=True).first()
        if channel_id is None:
            return [], False
    if limit is None:
        limit = lanes.batch_size_for(kind=lanes.kind_of(channel_id=channel_id))
    now = timezone.now()
    expired = now if retake else now - timedelta(seconds=claim_lease())
    # SQLite (the embedded mode) has no row locks: it serializes writers, so there is nothing to skip.
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    with transaction.atomic(), connection.cursor() as cursor:
        # The batch is chosen once, in a CTE: as `WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` PostgreSQL
        # may run the subquery again for each row it updates, and a re-run skips the rows this very statement has
        # just updated, so it returned the next ones: a batch of 1 claimed 3 events (tests/test_screen_pop_lane.py).
        # One candidate more than the batch takes (locked only until this claim commits) tells whether the next task
        # has anything to claim; SQLite cannot count it in RETURNING, so there a full batch still assumes more.
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH found AS (SELECT id, id = %s AS own FROM {table} WHERE processed_at IS NULL"
                "  AND dead_lettered_at IS NULL AND channel_id = %s"
                "  AND (id = %s OR attempts = 0 OR (last_error = '' AND last_attempt_at < %s))"
                f"  ORDER BY id = %s DESC, id LIMIT %s{skip_locked}),"
                " batch AS (SELECT id FROM found ORDER BY own DESC, id LIMIT %s)"
                f" UPDATE {table} SET attempts = attempts + 1, last_attempt_at = %s WHERE id IN (SELECT id FROM batch)"
                " RETURNING id, (SELECT count(*) FROM found)",
                [event_id, channel_id, event_id, expired, event_id, limit + 1, limit, now],
            )
            rows = cursor.fetchall()
            return sorted(row[0] for row in rows), bool(rows) and rows[0][1] > limit
        cursor.execute(
            f"WITH batch AS (SELECT id FROM {table} WHERE processed_at IS NULL AND dead_lettered_at IS NULL"
            "  AND channel_id = %s AND (id = %s OR attempts = 0 OR (last_error = '' AND last_attempt_at < %s))"
            f"  ORDER BY id = %s DESC, id LIMIT %s{skip_locked})"
            f" UPDATE {table} SET attempts = attempts + 1, last_attempt_at = %s WHERE id IN (SELECT id FROM batch)"
            " RETURNING id",
            [channel_id, event_id, expired, event_id, limit, now],
        )
        claimed = sorted(row[0] for row in cursor.fetchall())
        return claimed, len(claimed) >= limit
