"""The inbound sweeper, the admin's retry and a starting worker's recovery: the verbs that give stored events another
round, apart from the ingest path itself (interactions/inbound.py), which they call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from interactions.inbound import clear_pending_mark, enqueue_inbound_event, record_inbound_failure
from interactions.models import InboundEvent


@dataclass(frozen=True)
class SweepResult:
    requeued: list[int]
    dead_lettered: list[int]


def sweep_inbound_events(*, now: datetime | None = None) -> SweepResult:
    """Re-enqueue events stuck unprocessed (lost broker message, killed worker); dead-letter exhausted ones."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.OMNIDESK_INBOUND_RETRY_AFTER)
    pending = InboundEvent.objects.filter(
        processed_at__isnull=True, dead_lettered_at__isnull=True, received_at__lt=stale
    )
    pending = pending.exclude(last_attempt_at__gte=stale)
    limit = settings.OMNIDESK_INBOUND_MAX_ATTEMPTS
    exhausted = list(pending.filter(attempts__gte=limit).values_list("pk", flat=True)[:1000])
    for event_id in exhausted:
        record_inbound_failure(event_id=event_id, error=_("Gave up after repeated failed attempts."), permanent=True)
    stale_events = list(pending.filter(attempts__lt=limit).values_list("pk", "channel_id", "last_error")[:1000])
    # Events that failed wait for their own retry: one task each. The others (never claimed, or claimed by a worker
    # that died) are all taken by their channel's tasks: one retaking task per channel, which goes on with the next
    # batch while batches come out full. A task per event made a backlog of thousands into thousands of tasks, and
    # sweeps that overlapped (each took longer than the interval under load) into several times that.
    for event_id, _channel_id, error in stale_events:
        if error:
            enqueue_inbound_event(event_id=event_id)
    for channel_id in sorted({channel_id for _event_id, channel_id, error in stale_events if not error}):
        clear_pending_mark(channel_id=channel_id)
        enqueue_inbound_event(event_id=0, channel_id=channel_id, retake=True)
    return SweepResult(requeued=[event_id for event_id, _c, _e in stale_events], dead_lettered=exhausted)


def retry_inbound_event(*, event_id: int) -> None:
    """An admin gives a dead-lettered event another round of attempts."""
    InboundEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(dead_lettered_at=None, attempts=0)
    transaction.on_commit(lambda: enqueue_inbound_event(event_id=event_id))


def recover_claims() -> list[int]:
    """At a worker's start: give every channel with events waiting a task that takes them back at once; the channels.

    A worker whose main process was killed outright takes with it the tasks it had reserved (the broker redelivers
    them only after its visibility timeout) and may leave a channel's debounce mark set, so that new events publish
    nothing until the mark expires. Its claimed events would wait for their lease and the next event, or the sweeper.
    """
    channel_ids = sorted(
        set(
            InboundEvent.objects.filter(processed_at__isnull=True, dead_lettered_at__isnull=True).values_list(
                "channel_id", flat=True
            )
        )
    )
    for channel_id in channel_ids:
        clear_pending_mark(channel_id=channel_id)
        enqueue_inbound_event(event_id=0, channel_id=channel_id, retake=True)
    return channel_ids
