"""One verb for everything that appears in a case's timeline without being a customer's or agent's message:
system entries (a transfer, a callback's progress), internal notes, call records.

Inbound messages (`services.receive_message`) and queued outbound messages (`outbound.queue_outbound`) have their own
verbs because they also move the case's clocks and delivery; the entry itself is written the same way.
"""

from __future__ import annotations

from typing import Any

from interactions.announcements import announce_message
from interactions.models import Channel, Conversation, Interaction


def add_entry(
    *,
    conversation: Conversation,
    kind: str,
    text: str,
    channel: Channel | None = None,
    author: Any = None,
    direction: str = Interaction.Direction.OUTBOUND,
    meta: dict[str, Any] | None = None,
    external_id: str | None = None,
    announce: bool = True,
) -> Interaction:
    """Write an entry (`kind`: system, note, call or message) in `conversation`'s timeline and announce it.

    `channel` defaults to the conversation's; the customer is the conversation's. `external_id` is the entry's id at
    the channel (a call's `call:<id>`), unique per channel. `announce=False` leaves the push to a caller that must
    first refresh what the announcement shows (the assignee after a transfer, say) and then calls `announce_message`.
    """
    entry = Interaction.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        channel=channel if channel is not None else conversation.channel,
        kind=kind,
        direction=direction,
        author=author,
        text=text,
        meta=meta or {},
        external_id=external_id,
    )
    if announce:
        announce_message(interaction=entry)
    return entry
