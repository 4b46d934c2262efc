"""Outbound delivery: the mirror of inbound.

An agent's reply on a provider channel (email, SMS, WhatsApp…) is first an outbound Interaction in status QUEUED with
an idempotency key, written in the reply's transaction; after commit a task hands it to the sender registered for
the channel's kind. Senders live with their channel app (SMTP, provider HTTP APIs) and register in
AppConfig.ready(). Delivery receipts (sent, delivered, read, failed) come back through `record_delivery_status`,
which only moves a status forward, so duplicated or out-of-order receipts end in the right state.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from interactions.announcements import announce_delivery_status, announce_message
from interactions.models import STATUS_RANK, Channel, Conversation, Interaction
from routing import sla

logger = logging.getLogger(__name__)


class DeliveryError(Exception):
    """The provider refused the message for good (bad number, outside a messaging window…): do not retry."""


class TransientDeliveryError(Exception):
    """The provider or the network failed this time (timeout, 5xx, SMTP 4xx): retry with backoff."""


@dataclass(frozen=True)
class SendResult:
    """What the provider answered: its id for the message (receipts refer to it) and anything worth keeping."""

    external_id: str
    status: str = Interaction.Status.SENT
    meta: Mapping[str, Any] = field(default_factory=dict)


Sender = Callable[[Interaction], SendResult]
SENDERS: dict[str, Sender] = {}

FINAL_OK = {Interaction.Status.SENT, Interaction.Status.DELIVERED, Interaction.Status.READ}


def register_sender(kind: str, sender: Sender) -> None:
    SENDERS[kind] = sender


# Channel rules a reply must meet before it is queued (WhatsApp's 24-hour window…): raise ValidationError to refuse.
ReplyCheck = Callable[..., None]
REPLY_CHECKS: dict[str, ReplyCheck] = {}


def register_reply_check(kind: str, check: ReplyCheck) -> None:
    """`check(conversation=, channel=)` runs before a free-text reply on a `kind` channel is queued."""
    REPLY_CHECKS[kind] = check


def check_reply(*, conversation: Any, channel: Channel) -> None:
    check = REPLY_CHECKS.get(channel.kind)
    if check is not None:
        check(conversation=conversation, channel=channel)


def sender_for(channel: Channel) -> Sender | None:
    return SENDERS.get(channel.kind)


def queue_outbound(
    *,
    conversation: Conversation,
    channel: Channel,
    text: str,
    author: Any = None,
    meta: dict[str, Any] | None = None,
    counts_as_response: bool,
) -> Interaction:
    """Write an outbound message in `conversation`'s timeline, announce it and hand it to its channel's sender.

    The caller holds `conversation`'s row lock and has checked the message may go (status, channel rules). On a
    channel with a sender the message is QUEUED with an idempotency key and a task delivers it after commit; on the
    others (the website chat: the widget's socket is the delivery) it is SENT at once.

    `counts_as_response`: a person's answer (an agent's reply, a WhatsApp template an agent chose) stops the
    first-response and next-response clocks and sets `first_response_at`; a machine's (the automatic acknowledgement
    of an email) does not, since the customer still waits for a person. Either way the case's last message moves.
    """
    sender = sender_for(channel)
    now = timezone.now()
    interaction = Interaction.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        channel=channel,
        kind=Interaction.Kind.MESSAGE,
        direction=Interaction.Direction.OUTBOUND,
        author=author,
        text=text,
        meta=meta or {},
        status=Interaction.Status.QUEUED if sender else Interaction.Status.SENT,
        status_at=now,
        idempotency_key=uuid.uuid4().hex if sender else None,
    )
    conversation.last_message_at = now
    conversation.save(update_fields=["last_message_at", "updated_at"])
    if counts_as_response:
        sla.note_agent_reply(conversation=conversation, now=now)
    announce_message(interaction=interaction)
    if sender:
        enqueue_delivery(interaction=interaction)
    return interaction


def enqueue_delivery(*, interaction: Interaction) -> None:
    """After commit, hand the interaction to the delivery task (the sweeper-free path: the task retries itself)."""
    # The delivery task runs `deliver_interaction` (interactions.tasks imports this module): looked up when used.
    from interactions.tasks import deliver_interaction_task

    transaction.on_commit(lambda: deliver_interaction_task.delay(interaction.pk))


def deliver_interaction(*, interaction_id: int) -> Interaction:
    """Send a queued outbound interaction through its channel's sender, once.

    Idempotent: an interaction already sent (a retried or duplicated task) is returned untouched. The sender gets the
    interaction's idempotency key and must pass it to the provider where the provider supports one. Raises
    TransientDeliveryError for the task to retry; a DeliveryError marks the interaction failed.
    """
    interaction = Interaction.objects.select_related("channel", "conversation", "customer", "author").get(
        pk=interaction_id
    )
    if interaction.status in FINAL_OK or interaction.status == Interaction.Status.FAILED:
        return interaction
    sender = sender_for(interaction.channel)
    if sender is None:
        record_delivery_failure(interaction=interaction, error=f"no sender for {interaction.channel.kind} channels")
        return interaction
    try:
        result = sender(interaction)
    except DeliveryError as error:
        record_delivery_failure(interaction=interaction, error=str(error))
        return interaction
    except TransientDeliveryError as error:
        note_delivery_problem(interaction=interaction, error=str(error))
        raise
    with transaction.atomic():
        locked = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if result.external_id and not locked.external_id:
            locked.external_id = result.external_id
        locked.meta = {**locked.meta, **dict(result.meta)}
        locked.error = ""
        locked.save(update_fields=["external_id", "meta", "error"])
        record_delivery_status(interaction=locked, status=result.status)
    return locked


def record_delivery_status(
    *, interaction: Interaction, status: str, at: datetime | None = None, error: str = ""
) -> bool:
    """Move `interaction` to `status` unless it is already further along; True if it changed.

    Receipts arrive duplicated and out of order (delivered before sent): ranking them keeps the furthest one.
    """
    with transaction.atomic():
        locked = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if STATUS_RANK.get(status, -1) <= STATUS_RANK.get(locked.status, -1):  # type: ignore[call-overload]
            return False
        locked.status = status
        locked.status_at = at or timezone.now()
        fields = ["status", "status_at"]
        if error:
            locked.error = error[:2000]
            fields.append("error")
        locked.save(update_fields=fields)
        announce_delivery_status(interaction=locked)
    interaction.status, interaction.status_at, interaction.error = locked.status, locked.status_at, locked.error
    return True


def record_delivery_failure(*, interaction: Interaction, error: str) -> None:
    logger.warning("delivery of interaction %s failed: %s", interaction.pk, error)
    record_delivery_status(interaction=interaction, status=Interaction.Status.FAILED, error=error)


def note_delivery_problem(*, interaction: Interaction, error: str) -> None:
    """A retryable failure: shown on the interaction while the task retries."""
    Interaction.objects.filter(pk=interaction.pk).update(error=error[:2000])
