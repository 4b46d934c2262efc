"""An ingest batch processed in one run: continuing messages written in bulk, one by one only when that fails.

See interactions/inbound_bulk.py for what a run defers, and interactions/inbound.py for the batch around it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection

from interactions.inbound_batch import NOT_ONE_EVENTS_FAULT, message_failed, sender_resolved
from interactions.inbound_bulk import deferring
from interactions.models import Channel, InboundEvent, Interaction
from omnidesk import realtime

logger = logging.getLogger(__name__)


def processed_in_one_run(
    events: list[InboundEvent],
    *,
    done: dict[int, Interaction | None],
    process: Callable[[InboundEvent], Interaction | None],
    waits: type[Exception] | None = None,
    deferred: list[tuple[int, float]] | None = None,
) -> bool:
    """Process the batch's `events` in one savepoint, deferring what continuing messages write; True when all of
    them were processed (`done` holds what each made, as the batch's loop would have it).

    False, with everything rolled back (`done` emptied, their announcements dropped), when any of them failed or
    must wait (a poison message, a reply whose parent is not processed yet) or the bulk writes failed: the caller
    then processes them one by one, each in its own savepoint, which isolates the one at fault. The batch's work
    is then done twice, which only a failing message costs. Calls (voice) keep the per-message path: their
    processors read and write what this module would defer in ways it does not follow.

    `waits` (inbound.DeferProcessing), raised for an event whose sender the prelude resolved, does not stop the
    run: its processor raises it before writing anything, and naming such a sender writes nothing, so the event is
    noted in `deferred` ((event id, countdown)) and the run goes on (a mail whose parent another worker's batch
    holds: with a worker pool and a busy mailbox, not a rare case)."""
    if connection.vendor != "postgresql" or not events or events[0].channel.kind == Channel.Kind.VOICE:
        return False
    try:
        with realtime.savepoint(), deferring(expected=len(events)):
            for event in events:
                if event.pk in done:
                    continue  # processed earlier in this run, as the parent of a reply
                try:
                    done[event.pk] = process(event)
                except Exception as wait:
                    if waits is None or deferred is None or not isinstance(wait, waits):
                        raise
                    if not sender_resolved(event.pk):
                        raise  # its processor may have made its customer: that must roll back with it
                    deferred.append((event.pk, float(getattr(wait, "countdown", 1.0))))
    except NOT_ONE_EVENTS_FAULT:
        raise  # not one event's fault: the batch stops, as in its loop
    except Exception as error:
        logger.info("an ingest batch goes message by message after %r", error)
        done.clear()
        if deferred is not None:
            deferred.clear()
        message_failed()  # the cases in memory may be the rolled-back ones
        return False
    return True
