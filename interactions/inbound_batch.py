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
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from customers.batch import batch_keys, drop_unused, lock_customers_by_identities
from customers.models import Customer
from customers.services import customers_locked_for_batch
from interactions import continuity
from interactions.models import InboundEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sender:
    """Who wrote an event: the identity its processor will lock, and what the processor may reuse (`prepared`, e.g.
    the parsed mail) instead of computing it again."""

    kind: str
    address: str
    display_name: str = ""
    prepared: Any = None


SenderOf = Callable[[InboundEvent], Sender | None]
SENDERS: dict[str, SenderOf] = {}


def register_sender(key: str, sender_of: SenderOf) -> None:
    """How to name the sender of an event of `key` (a processor's key, see inbound.register_processor), with no
    writes; None when the event has none (a receipt). It may raise: the event then takes the per-message path."""
    SENDERS[key] = sender_of


@dataclass
class Prelude:
    created: set[int] = field(default_factory=set)  # customers made here (see `finish`)


_prepared: ContextVar[dict[int, Any] | None] = ContextVar("batch_prepared", default=None)


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
    wanted = batch_keys((s.kind, s.address, s.display_name) for s in senders.values())
    customers: dict[tuple[str, str], Customer] = {}
    if wanted:
        try:
            with transaction.atomic():
                customers, prelude.created = lock_customers_by_identities(wanted=wanted)
        except (OperationalError, InterfaceError):
            raise  # the connection, not the batch's data: the batch fails as a whole and is retried
        except Exception:
            logger.exception("could not prepare an ingest batch; its messages go one by one")
            customers = {}
    token = _prepared.set({event_id: sender.prepared for event_id, sender in senders.items()})
    try:
        with (
            customers_locked_for_batch(customers),
            continuity.cases_locked_for_batch(
                customer_ids={customer.pk for customer in customers.values()}, now=timezone.now()
            ),
        ):
            yield prelude
    finally:
        _prepared.reset(token)


def message_failed(prelude: Prelude) -> None:
    """A message of the batch rolled back to its savepoint: cases it changed in memory are no longer what the
    database holds, so the rest of the batch looks them up again."""
    continuity.forget_batch_cases()


def finish(prelude: Prelude, *, all_done: bool) -> None:
    """At the batch's end: unless every message was processed, drop the customers made for those that were not
    (rolled back or deferred, their per-message path would have left none)."""
    if not all_done:
        drop_unused(created=prelude.created)
