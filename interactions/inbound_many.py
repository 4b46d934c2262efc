"""Storing many inbound events of one channel at once (a mail archive's chunk): one INSERT, one nudge.

`inbound.record_inbound_event` stores one event per statement, which is right for a webhook or a widget frame (one
message per request). A mail archive or an IMAP poll holds many: storing them one statement each was a tenth of what
a mail cost in the embedded mode (docs/performance-ingest.md).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from interactions.inbound import nudge_channel
from interactions.models import Channel, InboundEvent


def record_inbound_events(*, channel: Channel, events: list[tuple[str, dict[str, Any]]], provider: str = "") -> int:
    """Durably store `events` ((external id, payload) of `channel`) in one INSERT … ON CONFLICT DO NOTHING, and
    enqueue the channel's task once committed. Idempotent on (channel, external id), as one by one; how many were
    new."""
    if not events:
        return 0
    received_at = timezone.now()
    params: list[Any] = []
    for external_id, payload in events:
        params += [channel.pk, provider, external_id, json.dumps(payload), received_at]
    rows = ", ".join(["(%s, %s, %s, %s, %s, 0, '')"] * len(events))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboundEvent._meta.db_table} (channel_id, provider, external_id, payload, received_at,"
            f" attempts, last_error) VALUES {rows} ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
            params,
        )
        stored = [row[0] for row in cursor.fetchall()]
    if stored:
        transaction.on_commit(partial(nudge_channel, channel_id=channel.pk, event_id=min(stored), kind=channel.kind))
    return len(stored)
