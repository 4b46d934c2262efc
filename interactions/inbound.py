"""Inbound events: stored before they are acknowledged, then processed at least once and idempotently.

Every inbound message (widget frame, provider webhook, polled mail…) is first an InboundEvent row, unique per
(channel, external id), so a redelivery never stores it twice. A Celery task per event processes it; under load one
task also takes the events nobody has started yet, so that one transaction, one commit and one push serve many
messages. A webhook publishes a task only when none is pending for its channel (see `nudge_channel`). A sweeper
re-enqueues what a lost broker message or a killed worker left behind, and after too many failed
attempts an event is dead-lettered, visible in the admin, never dropped silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.services import lock_customer_by_identity
from interactions import inbound_batch, inbound_claims, inbound_run, lanes
from interactions.adapters import InvalidPayload, widget
from interactions.inbound_nudge import clear_pending_mark, mark_store, pending_mark
from interactions.models import Channel, InboundEvent, Interaction
from interactions.services import receive_message, validate_message_text
from omnidesk import compiled_queries, realtime
from omnidesk.celery import registered_task

logger = logging.getLogger(__name__)

# How each kind of stored event becomes timeline entries, keyed by the event's provider, else its channel's kind.
# Channel apps register theirs in AppConfig.ready(). A processor runs inside the batch's transaction, must be
# idempotent, and returns the interaction it made (None for events that make none, e.g. delivery receipts).
Processor = Callable[[InboundEvent], Interaction | None]
PROCESSORS: dict[str, Processor] = {}


def register_processor(key: str, processor: Processor, *, sender: inbound_batch.SenderOf | None = None) -> None:
    """`sender`: names who wrote an event of `key` without writing, so a batch locks its senders at once."""
    PROCESSORS[key] = processor
    if sender is not None:
        inbound_batch.register_sender(key, sender)


class DeferProcessing(Exception):
    """Raised by a processor, before it writes anything that matters, when the event must wait for another one
    (an email reply whose parent is stored but not processed yet): the event stays pending and is enqueued again."""

    def __init__(self, reason: str, *, countdown: float = 1.0) -> None:
        super().__init__(reason)
        self.countdown = countdown


def record_widget_message(*, channel: Channel, visitor_id: str, uuid: Any, text: Any) -> InboundEvent:
    """Store a visitor's message for processing; resending the same uuid returns the stored event."""
    if not isinstance(uuid, str) or not 8 <= len(uuid) <= 64:
        raise ValidationError(_("Each message needs a client uuid."), code="bad_uuid")
    text = validate_message_text(text)
    event, _created = record_inbound_event(
        channel=channel, external_id=uuid, payload={"visitor": visitor_id, "uuid": uuid, "text": text}
    )
    return event


def record_inbound_event(
    *, channel: Channel, external_id: str, payload: dict[str, Any], provider: str = ""
) -> tuple[InboundEvent, bool]:
    """Durably store a raw inbound event and enqueue it once committed (`store_inbound_event`); the event, stored now
    or before, and whether it is new. Idempotent on (channel, external id)."""
    received_at = timezone.now()
    stored = store_inbound_event(
        channel=channel, external_id=external_id, payload=payload, provider=provider, received_at=received_at
    )
    if stored is None:
        return InboundEvent.objects.get(channel=channel, external_id=external_id), False
    event = InboundEvent(
        pk=stored,
        channel=channel,
        provider=provider,
        external_id=external_id,
        payload=payload,
        received_at=received_at,
        attempts=0,
    )
    return event, True


def store_inbound_event(
    *,
    channel: Channel,
    external_id: str,
    payload: dict[str, Any],
    provider: str = "",
    received_at: datetime | None = None,
) -> int | None:
    """Durably store a raw inbound event and enqueue it once committed; its id when new, None for a redelivery.

    One INSERT … ON CONFLICT DO NOTHING instead of get_or_create's transaction, SELECT and INSERT: this runs for
    every inbound message, in the web process. The webhook intake needs only whether it was new, so no model
    instance is built here (`record_inbound_event` builds one for the callers that read it).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboundEvent._meta.db_table} (channel_id, provider, external_id, payload, received_at,"
            " attempts, last_error) VALUES (%s, %s, %s, %s, %s, 0, '')"
            " ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
            [channel.pk, provider, external_id, json.dumps(payload), received_at or timezone.now()],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    nudged = _nudged_in_block.get()
    if nudged is None or channel.pk not in nudged:
        if nudged is not None:
            nudged.add(channel.pk)
        transaction.on_commit(partial(nudge_channel, channel_id=channel.pk, event_id=row[0], kind=channel.kind))
    return int(row[0])


# The channels already nudged by the block storing many events in one transaction (see `one_nudge_per_channel`).
_nudged_in_block: ContextVar[set[int] | None] = ContextVar("nudged_in_block", default=None)


@contextmanager
def one_nudge_per_channel() -> Iterator[None]:
    """Within the block, which must be one transaction that commits or rolls back whole (a mail archive's chunk, a
    poll), only a channel's first stored event nudges it: the task that nudge publishes claims them all. In the
    embedded mode each further nudge ran a whole task in-process that found nothing to do (~3 statements and a task's
    overhead per message, docs/performance.md)."""
    token = _nudged_in_block.set(set())
    try:
        yield
    finally:
        _nudged_in_block.reset(token)


def nudge_channel(*, channel_id: int, event_id: int = 0, kind: str | None = None) -> None:
    """Make sure a task will claim the channel's committed pending events: publish one unless one is waiting.

    `event_id` 0 names no event: the task then claims only events never attempted. `kind`: the channel's, when the
    caller holds it (it picks the lane; else it is read when a lane is set).
    """
    store = mark_store()
    if store is not None:
        try:
            # The command itself: redis-py's `set` wrapper checks and rebuilds its arguments on every call, and this
            # runs for every stored webhook (docs/performance-hooks.md).
            mark = pending_mark(channel_id)
            if not store.execute_command("SET", mark, event_id, "NX", "EX", settings.OMNIDESK_INBOUND_RETRY_AFTER):
                return
        except Exception:
            logger.exception("could not check the ingest mark of channel %s; publishing anyway", channel_id)
    if not enqueue_inbound_event(event_id=event_id, channel_id=channel_id, kind=kind) and store is not None:
        try:
            store.delete(pending_mark(channel_id))  # else events would skip publishing until the mark expires
        except Exception:
            logger.exception("could not clear the ingest mark of channel %s", channel_id)


# The Celery message header carrying the channel's kind, when the publisher knew it (see `enqueue_inbound_event`).
KIND_HEADER = "omnidesk_channel_kind"
# The task running `process_inbound_event` (interactions/tasks.py), enqueued by its name: see `registered_task`.
PROCESS_TASK = "interactions.tasks.process_inbound_event_task"


def enqueue_inbound_event(
    *,
    event_id: int,
    countdown: float = 0,
    channel_id: int | None = None,
    retake: bool = False,
    kind: str | None = None,
) -> bool:
    """Publish a task for `event_id` (and a batch); with `channel_id` it is the channel's debounced task. False if
    the broker refused it. `retake`: see `process_inbound_event`."""
    process_inbound_event_task = registered_task(PROCESS_TASK)
    options: dict[str, Any] = {"countdown": countdown}
    if kind is None and lanes.lane_queues():
        kind = lanes.kind_of(channel_id=channel_id, event_id=event_id)
    queue = lanes.queue_for(kind=kind or "")
    if queue:
        options["queue"] = queue
    if kind and channel_id is not None:
        # The task reads its channel's kind from this header instead of a SELECT before each task (a header, not an
        # argument: the task's arguments stay ids).
        options["headers"] = {KIND_HEADER: kind}
    try:
        if channel_id is None:
            process_inbound_event_task.apply_async((event_id,), **options)
        elif retake:
            process_inbound_event_task.apply_async((event_id,), {"channel_id": channel_id, "retake": True}, **options)
        else:
            process_inbound_event_task.apply_async((event_id,), {"channel_id": channel_id}, **options)
    except Exception:
        # Stored already: the sweeper will enqueue it again once the broker is back.
        logger.exception("could not enqueue inbound event %s", event_id)
        return False
    return True


def process_inbound_event(
    *, event_id: int, channel_id: int | None = None, retake: bool = False, kind: str | None = None
) -> Interaction | None:
    """Process `event_id`, and with it other pending events nobody is working on (a batch). Idempotent.

    `channel_id` is set for the channel's debounced task (see `nudge_channel`); `event_id` may then be 0 (none).
    `retake`: this task's worker died under it (a redelivery), or a worker starts after one did: take back at once
    every claimed event of the channel that no transaction holds, instead of waiting for their lease to expire.
    Returns the interaction made from `event_id`, or None when there was nothing to do (already processed, or being
    processed by another worker right now). Raises when `event_id` itself cannot be processed, after the rest of its
    batch was committed: a failing event is isolated in a savepoint (see `process_claimed_events`). `kind`: the
    channel's, when the task's publisher named it (else it is read).
    """
    if not kind or channel_id is None:
        kind = lanes.kind_of(channel_id=channel_id, event_id=event_id)
    if channel_id is None or not lanes.one_task_at_a_time(kind=kind):
        if channel_id is not None:
            clear_pending_mark(channel_id=channel_id)
        return _process_batch(event_id=event_id, channel_id=channel_id, retake=retake, kind=kind)
    # A mailbox keeps its mark while its batch runs, so its slow mail never holds every worker process: a chat
    # message then waits for no mailbox (tests/test_mail_poison_stack.py). What arrived meanwhile follows at once.
    try:
        return _process_batch(event_id=event_id, channel_id=channel_id, retake=retake, kind=kind)
    finally:
        clear_pending_mark(channel_id=channel_id)
        if InboundEvent.objects.filter(
            channel_id=channel_id, processed_at__isnull=True, dead_lettered_at__isnull=True, attempts=0
        ).exists():
            nudge_channel(channel_id=channel_id, kind=kind)


def _process_batch(*, event_id: int, channel_id: int | None, retake: bool, kind: str) -> Interaction | None:
    limit = lanes.batch_size_for(kind=kind)
    claimed, more = inbound_claims.claim(event_id=event_id, channel_id=channel_id, retake=retake, limit=limit)
    more = more and channel_id is not None
    if more and not settings.CELERY_TASK_ALWAYS_EAGER:
        # More are waiting: the next task claims them (perhaps elsewhere). A claim that took the last pending event
        # publishes nothing: with the call lane's batches of one, that was one empty task after every event.
        nudge_channel(channel_id=channel_id or 0, kind=kind)
    elif retake:
        retake_later(event_id=event_id, channel_id=channel_id, claimed=claimed)
    try:
        return _process_claimed_batch(event_id=event_id, claimed=claimed)
    finally:
        if more and settings.CELERY_TASK_ALWAYS_EAGER:
            # The embedded mode runs that task here and now: after this batch, so that batches go oldest first (a
            # newest-first order made ~half of the mails wait for their parents, processed ahead of their turn).
            nudge_channel(channel_id=channel_id or 0, kind=kind)


def _process_claimed_batch(*, event_id: int, claimed: list[int]) -> Interaction | None:
    if not claimed:
        return None
    try:
        return process_claimed_events(event_ids=claimed, raise_for=event_id).get(event_id)
    except EventFailed as failed:
        raise failed.error from None  # the batch is committed; the task records this one and retries it
    except SoftTimeLimitExceeded:
        # The task's time is nearly up (a pathological message): no time to retry the others here. Each gets a task
        # of its own, so that the slow one fails alone and is dead-lettered after its attempts.
        for other_id in claimed:
            if other_id != event_id:
                enqueue_inbound_event(event_id=other_id)
        raise
    except Exception:
        # The whole batch failed (the connection, not one event: those are isolated): one by one, so that whatever
        # can be processed is.
        if claimed == [event_id]:
            raise
    for other_id in claimed:
        if other_id == event_id:
            continue
        try:
            process_claimed_events(event_ids=[other_id])
        except Exception as error:
            record_inbound_failure(event_id=other_id, error=repr(error), permanent=isinstance(error, InvalidPayload))
            enqueue_inbound_event(event_id=other_id)
    if event_id not in claimed:
        return None
    try:
        return process_claimed_events(event_ids=[event_id], raise_for=event_id).get(event_id)
    except EventFailed as failed:
        raise failed.error from None


def retake_later(*, event_id: int, channel_id: int | None, claimed: list[int]) -> None:
    """A dead worker's database session may hold its rows a moment longer than the worker lives (PostgreSQL notices
    a vanished client only when the statement running for it ends), so the retaking claim skipped them: try again in a
    second, as long as claimed events of the channel are left that this task did not take."""
    if channel_id is None:
        channel_id = InboundEvent.objects.filter(pk=event_id).values_list("channel_id", flat=True).first()
        if channel_id is None:
            return
    left = (
        InboundEvent.objects.filter(
            channel_id=channel_id, processed_at__isnull=True, dead_lettered_at__isnull=True, attempts__gt=0
        )
        .filter(last_error="")
        .exclude(pk__in=claimed)
        .exists()
    )
    if left:
        enqueue_inbound_event(event_id=0, channel_id=channel_id, countdown=1.0, retake=True)


class EventFailed(Exception):
    """`raise_for`'s event failed in its savepoint; the rest of its batch is committed. `error` says why."""

    def __init__(self, error: Exception) -> None:
        super().__init__(repr(error))
        self.error = error


def process_claimed_events(*, event_ids: list[int], raise_for: int = 0) -> dict[int, Interaction | None]:
    """Turn claimed events into timeline entries in one transaction; their announcements go out in one push.

    Each event runs in a savepoint: one that fails (a poison message) rolls back alone, with its announcements, and
    is recorded as failed (dead-lettered when hopeless, else retried alone with backoff) while the rest of the batch
    commits. `raise_for`'s failure is not recorded but raised as EventFailed once the batch has committed, so that
    its task records it and retries.
    """
    with inbound_batch.processing():
        return _process_claimed_events(event_ids=event_ids, raise_for=raise_for)


def _process_claimed_events(*, event_ids: list[int], raise_for: int) -> dict[int, Interaction | None]:
    if len(event_ids) == 1:
        return _process_alone(event_id=event_ids[0], raise_for=raise_for)
    interactions = inbound_batch.processed_in_batch()
    failures: dict[int, Exception] = {}
    with transaction.atomic(), realtime.batched():
        pending = inbound_batch.pending_events(event_ids=event_ids)
        deferred: list[tuple[int, float]] = []
        with inbound_batch.prepared(pending) as prelude:
            # First all at once, writing continuing messages in bulk; one by one only when that failed.
            in_one_run = inbound_run.processed_in_one_run(
                pending, done=interactions, process=process_one, waits=DeferProcessing, deferred=deferred
            )
            for event in [] if in_one_run else pending:
                if event.pk in interactions:
                    continue  # processed earlier in this batch, as the parent of a reply
                before = set(interactions)
                try:
                    with realtime.savepoint():
                        interactions[event.pk] = process_one(event)
                except DeferProcessing as deferral:
                    deferred.append((event.pk, deferral.countdown))
                    inbound_batch.message_failed()
                except inbound_batch.NOT_ONE_EVENTS_FAULT:
                    # Not one event's fault: the whole batch stops and is retried (isolating it would record every
                    # event of the batch as failed).
                    raise
                except Exception as error:
                    # Parents it processed ahead of their turn rolled back with it: they are pending again.
                    for event_id in set(interactions) - before:
                        del interactions[event_id]
                    failures[event.pk] = error
                    inbound_batch.message_failed()
                    if event.pk != raise_for:
                        record_isolated_failure(event_id=event.pk, error=error)
            inbound_batch.finish(prelude, all_done=not (failures or deferred))
        done = [event_id for event_id in interactions if event_id in event_ids]
        # With the events processed ahead of their turn (an email's parents, perhaps of another batch): one UPDATE.
        inbound_batch.mark_processed(list(interactions))
        for event_id, countdown in deferred:
            transaction.on_commit(partial(enqueue_inbound_event, event_id=event_id, countdown=countdown))
    if raise_for in failures:
        raise EventFailed(failures[raise_for])
    return {event_id: interactions[event_id] for event_id in done}


def _process_alone(*, event_id: int, raise_for: int) -> dict[int, Interaction | None]:
    """A batch of one (light traffic): as a batch, without the savepoint around its event (2 statements). When the
    event fails, the whole transaction rolls back, which is exactly what its savepoint would have rolled back: the
    batch holds nothing else (the parents an email processed ahead of its turn roll back with it in both)."""
    interactions = inbound_batch.processed_in_batch()
    try:
        with transaction.atomic(), realtime.batched():
            found = compiled_queries.fetch(inbound_batch.pending_event, event_id=event_id)
            if not found:
                return {}
            event = found[0]
            interactions[event.pk] = process_one(event)
            inbound_batch.mark_processed(list(interactions))
    except DeferProcessing as deferral:
        interactions.clear()
        enqueue_inbound_event(event_id=event_id, countdown=deferral.countdown)
        return {}
    except inbound_batch.NOT_ONE_EVENTS_FAULT:
        raise  # not the event's fault: as in a batch, the task retries it
    except Exception as error:
        interactions.clear()
        if event_id == raise_for:
            raise EventFailed(error) from None
        record_isolated_failure(event_id=event_id, error=error)
        return {}
    return {event_id: interactions[event_id]}


def record_isolated_failure(*, event_id: int, error: Exception) -> None:
    """A poison event of a batch, rolled back to its savepoint: note why (in the batch's transaction) and, unless it
    is dead-lettered now, retry it alone after a backoff once the batch commits."""
    logger.warning("inbound event %s failed in its batch: %r", event_id, error)
    if record_inbound_failure(event_id=event_id, error=repr(error), permanent=isinstance(error, InvalidPayload)):
        return
    attempts = InboundEvent.objects.filter(pk=event_id).values_list("attempts", flat=True).first() or 1
    countdown = min(2 ** (attempts - 1), 30)
    transaction.on_commit(partial(enqueue_inbound_event, event_id=event_id, countdown=countdown))


def process_one(event: InboundEvent) -> Interaction | None:
    key = event.provider or event.channel.kind
    processor = PROCESSORS.get(key)
    if processor is None:
        raise InvalidPayload(f"no processor for {key!r} events")
    return processor(event)


def widget_sender(event: InboundEvent) -> inbound_batch.Sender:
    message = widget.parse(event.payload)
    return inbound_batch.Sender(message.identity_kind, message.address, message.display_name)


def process_widget_event(event: InboundEvent) -> Interaction:
    message = widget.parse(event.payload)
    customer = lock_customer_by_identity(
        kind=message.identity_kind, address=message.address, display_name=message.display_name
    )
    return receive_message(customer=customer, channel=event.channel, external_id=message.external_id, text=message.text)


def record_inbound_failure(*, event_id: int, error: str, permanent: bool = False) -> bool:
    """Note why processing failed; dead-letter the event when retrying is pointless or exhausted. True if dead."""
    with transaction.atomic():
        event = InboundEvent.objects.select_for_update().get(pk=event_id)
        event.last_error = error[:2000]
        dead = permanent or event.attempts >= settings.OMNIDESK_INBOUND_MAX_ATTEMPTS
        if dead and event.dead_lettered_at is None and event.processed_at is None:
            event.dead_lettered_at = timezone.now()
            logger.error("inbound event %s dead-lettered after %s attempts: %s", event_id, event.attempts, error)
        event.save(update_fields=["last_error", "dead_lettered_at"])
    return event.dead_lettered_at is not None


register_processor(Channel.Kind.CHAT, process_widget_event, sender=widget_sender)
