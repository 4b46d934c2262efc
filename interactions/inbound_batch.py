"""The batch's prelude: what every message of an ingest batch needs, fetched for all of them at once.

Message by message, ingest looked up and locked its sender (identity SELECT, customer SELECT … FOR UPDATE, on a new
sender a customer and an identity INSERT, each in a savepoint) and then the sender's cases (two or three SELECT …
FOR UPDATE): ~8–12 statements per message (docs/performance.md). Before its loop, a batch now names every sender
(`register_sender`: each channel family says who wrote an event, without writing anything), resolves and locks them
all in id order (customers/batch.py), and locks their cases in one statement (interactions/continuity.py); the
per-message verbs then find them without a statement. Same answers, same rules: what cannot be prepared here (an
unparseable payload, an address that does not normalize, a channel that names no sender) takes the per-message path.

A batch of one goes straight through, as before: nothing to share, and a retried event (it may process its parents
first, waiting on their rows: interactions/mail) keeps the per-message order of locks, so a batch holding a retried
event is not prepared either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from customers.batch import batch_keys, drop_unused, lock_customers_by_identities
from customers.models import Customer
from customers.services import customers_locked_for_batch, normalize_address
from interactions import continuity, visitors
from interactions.models import Channel, InboundEvent, Interaction
from omnidesk import compiled_queries

logger = logging.getLogger(__name__)

# Failures that are no event's fault (the connection, the task's time): they stop the batch, in its prelude as in
# its loop (interactions/inbound.py).
NOT_ONE_EVENTS_FAULT: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded, OperationalError, InterfaceError)


@dataclass(frozen=True)
class Sender:
    """Who wrote an event: the identity its processor will lock, and what the processor may reuse (`prepared`, e.g.
    the parsed mail) instead of computing it again."""

    kind: str
    address: str
    display_name: str = ""
    prepared: Any = None
    # The external id of the timeline entry it will make, when its processor first looks whether it exists (a
    # provider may send one message under two webhook ids): the batch looks for all of them in one statement.
    message_id: str = ""


SenderOf = Callable[[InboundEvent], Sender | None]
SENDERS: dict[str, SenderOf] = {}


# What a channel family fetches once for its whole batch (a mailbox: the threads its mails refer to), entered within
# the prelude: called with the batch's events and their senders, it returns the block's context.
BatchContext = Callable[[list[InboundEvent], dict[int, "Sender"]], AbstractContextManager[None]]
BATCH_CONTEXTS: dict[str, BatchContext] = {}


def register_batch_context(key: str, context: BatchContext) -> None:
    """`context(events, senders)` is entered around a prepared batch of `key`'s events (see `prepared`)."""
    BATCH_CONTEXTS[key] = context


def register_sender(key: str, sender_of: SenderOf) -> None:
    """How to name the sender of an event of `key` (a processor's key, see inbound.register_processor), with no
    writes; None when the event has none (a receipt). It may raise: the event then takes the per-message path."""
    SENDERS[key] = sender_of


@dataclass
class Prelude:
    created: set[int] = field(default_factory=set)  # customers made here (see `finish`)


_prepared: ContextVar[dict[int, Any] | None] = ContextVar("batch_prepared", default=None)
# (channel id, message id) of the batch's messages that had no timeline entry when it started, each taken once.
_absent: ContextVar[set[tuple[int, str]] | None] = ContextVar("batch_absent", default=None)


def known_absent(*, channel_id: int, message_id: str) -> bool:
    """True when the batch found no entry for this message when it started, and nobody asked since: no need to look.
    Asked once per message: a second ask (a failed attempt's retry within the batch) looks again."""
    absent = _absent.get()
    if absent is None or (channel_id, message_id) not in absent:
        return False
    absent.discard((channel_id, message_id))
    return True


def absent_messages(events: list[InboundEvent], senders: dict[int, Sender]) -> set[tuple[int, str]]:
    """The batch's message ids with no timeline entry yet, in one statement (a batch has one channel)."""
    channel_of = {event.pk: event.channel_id for event in events}
    wanted = {(channel_of[event_id], s.message_id) for event_id, s in senders.items() if s.message_id}
    if not wanted:
        return set()
    present = set(
        Interaction.objects.filter(
            channel_id__in={channel_id for channel_id, _m in wanted},
            external_id__in={message_id for _c, message_id in wanted},
        ).values_list("channel_id", "external_id")
    )
    return wanted - present


# The events whose sender the prelude resolved: their processors find the customer without a statement.
_resolved: ContextVar[set[int]] = ContextVar("batch_resolved", default=set())  # noqa: B039 (never mutated)


# (kind, address as the event gave it) → normalized address, for the batch's senders the prelude normalized.
_normalized: ContextVar[dict[tuple[str, str], str]] = ContextVar("batch_normalized", default={})  # noqa: B039


def normalized_address(kind: str, address: str) -> str:
    """`customers.services.normalize_address`, answered from the batch's prelude when it normalized this sender."""
    known = _normalized.get().get((kind, address))
    return normalize_address(kind, address) if known is None else known


def sender_resolved(event_id: int) -> bool:
    """True when the batch's prelude resolved and locked `event_id`'s sender: naming its customer writes nothing."""
    return event_id in _resolved.get()


def prepared_for(event_id: int) -> Any:
    """What the batch's `Sender` of `event_id` carried for its processor (None outside a prepared batch)."""
    prepared = _prepared.get()
    return None if prepared is None else prepared.get(event_id)


def senders_of(events: list[InboundEvent]) -> dict[int, Sender]:
    senders: dict[int, Sender] = {}
    for event in events:
        sender_of = SENDERS.get(event.provider or event.channel.kind)
        if sender_of is None:
            continue
        try:
            sender = sender_of(event)
        except NOT_ONE_EVENTS_FAULT:
            raise  # the task's time is up (a pathological mail), or the connection is gone: as in the batch's loop
        except Exception:  # a poison payload: its own processing fails, in its savepoint
            continue
        if sender is not None:
            senders[event.pk] = sender
    return senders


@contextmanager
def prepared(events: list[InboundEvent]) -> Iterator[Prelude]:
    """Within the block, the batch's senders are locked and resolved, and their cases locked (see the module)."""
    prelude = Prelude()
    senders = {} if len(events) < 2 or any(event.attempts > 1 for event in events) else senders_of(events)
    # Each sender's address normalized once (a phone number's parsing was three times per SMS).
    keys = {event_id: batch_keys([(s.kind, s.address, s.display_name)]) for event_id, s in senders.items()}
    wanted: dict[tuple[str, str], str] = {}
    for sender_keys in keys.values():  # as batch_keys over them all: the first message's display name
        for key, display_name in sender_keys.items():
            wanted.setdefault(key, display_name)
    customers: dict[tuple[str, str], Customer] = {}
    if wanted:
        try:
            with transaction.atomic():
                customers, prelude.created = lock_customers_by_identities(wanted=wanted)
        except NOT_ONE_EVENTS_FAULT:
            raise  # the connection, not the batch's data: the batch fails as a whole and is retried
        except Exception:
            logger.exception("could not prepare an ingest batch; its messages go one by one")
            customers = {}
    token = _prepared.set({event_id: sender.prepared for event_id, sender in senders.items()})
    resolved_token = _resolved.set(
        {event_id for event_id, sender_keys in keys.items() if any(key in customers for key in sender_keys)}
    )
    normalized_token = _normalized.set(
        {(senders[event_id].kind, senders[event_id].address): key[1] for event_id, ks in keys.items() for key in ks}
    )
    absent_token = _absent.set(absent_messages(events, senders))
    customer_ids = {customer.pk for customer in customers.values()}
    chat = bool(events) and events[0].channel.kind == Channel.Kind.CHAT  # a batch has one channel
    family = BATCH_CONTEXTS.get(events[0].provider or events[0].channel.kind) if senders else None
    channels = {event.channel_id: event.channel for event in events}.values()
    try:
        with (
            customers_locked_for_batch(customers),
            continuity.cases_locked_for_batch(customer_ids=customer_ids, channels=channels, now=timezone.now()),
            visitors.widget_identities_for_batch(customer_ids=customer_ids if chat else set()),
            family(events, senders) if family is not None else nullcontext(),
        ):
            yield prelude
    finally:
        _prepared.reset(token)
        _absent.reset(absent_token)
        _resolved.reset(resolved_token)
        _normalized.reset(normalized_token)


def message_failed() -> None:
    """A message of the batch rolled back to its savepoint: cases it changed in memory are no longer what the
    database holds, so the rest of the batch looks them up again."""
    continuity.forget_batch_cases()


def finish(prelude: Prelude, *, all_done: bool) -> None:
    """At the batch's end: unless every message was processed, drop the customers made for those that were not
    (rolled back or deferred, their per-message path would have left none)."""
    if not all_done:
        drop_unused(created=prelude.created)


# The events processed so far by the batch running in this thread (and what each made). They are marked processed
# in the database only when the batch ends, so a processor that looks for pending events (an email reply processing
# its parents first) must skip these: processing one twice violates the interaction's unique (channel, external id),
# which used to fail the whole batch and have it redone event by event.
_processed_in_batch: ContextVar[dict[int, Interaction | None] | None] = ContextVar("processed_in_batch", default=None)


def processed_in_batch() -> dict[int, Interaction | None]:
    """The events the current batch has processed already (empty outside a batch): not pending any more."""
    done = _processed_in_batch.get()
    return {} if done is None else done


def note_processed_in_batch(*, event_id: int, interaction: Interaction | None) -> None:
    """`event_id` was processed by a processor, ahead of its turn: within a batch, the batch's one UPDATE at its end
    marks it processed (its row is locked until then); outside any batch, it is marked now."""
    done = _processed_in_batch.get()
    if done is None:
        mark_processed([event_id])
    else:
        done[event_id] = interaction


def pending_event(*, event_id: int) -> QuerySet[InboundEvent]:
    """A batch of one's event, locked unless another worker holds it, with its channel and queue; compiled once
    (omnidesk/compiled_queries.py)."""
    # of=self: locking the joined channel row too would serialize every worker and every ingest on it.
    return (
        InboundEvent.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("channel__queue")
        .filter(pk=event_id, processed_at__isnull=True, dead_lettered_at__isnull=True)
        .order_by("pk")[:1]
    )


def pending_events(*, event_ids: list[int]) -> list[InboundEvent]:
    """A batch's events still pending, locked unless another worker holds them, in id order, each with its channel
    and the channel's queue: one instance of them for the batch (a batch has one channel). Joined in the events'
    query, every event came with its own copies (~a tenth of a continuing message's CPU in a batch: three models
    built and five JSON columns decoded per event)."""
    events = compiled_queries.fetch(locked_pending_events, event_ids=sorted(event_ids))
    channels: dict[int, Channel] = {}
    for channel_id in sorted({event.channel_id for event in events}):
        found = compiled_queries.fetch(channel_with_queue, channel_id=channel_id)
        if found:
            channels[channel_id] = found[0]
    channel_field = InboundEvent.channel.field
    for event in events:
        if event.channel_id in channels:
            channel_field.set_cached_value(event, channels[event.channel_id])
    return events


def locked_pending_events(*, event_ids: list[int]) -> QuerySet[InboundEvent]:
    """The query of `pending_events` (compiled once per batch size: omnidesk/compiled_queries.py)."""
    # of=self is implied (no join): locking the channel row would serialize every worker and every ingest on it.
    return (
        InboundEvent.objects.select_for_update(skip_locked=True)
        .filter(pk__in=event_ids, processed_at__isnull=True, dead_lettered_at__isnull=True)
        .order_by("pk")
    )


def channel_with_queue(*, channel_id: int) -> QuerySet[Channel]:
    """A batch's channel and its queue, not locked (see `pending_events`)."""
    return Channel.objects.select_related("queue").filter(pk=channel_id)


def mark_processed(event_ids: list[int]) -> None:
    """`InboundEvent.objects.filter(pk__in=event_ids).update(processed_at=now, last_error="")`, as SQL text: its
    compilation cost more CPU than PostgreSQL spent on it, once per batch (a message, under light traffic)."""
    if not event_ids:
        return
    if connection.vendor != "postgresql":  # the embedded default (SQLite) has no arrays
        InboundEvent.objects.filter(pk__in=event_ids).update(processed_at=timezone.now(), last_error="")
        return
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET processed_at = %s, last_error = '' WHERE id = ANY(%s)", [timezone.now(), event_ids]
        )


@contextmanager
def processing() -> Iterator[None]:
    """The block is one batch: `processed_in_batch` starts empty."""
    token = _processed_in_batch.set({})
    try:
        yield
    finally:
        _processed_in_batch.reset(token)
