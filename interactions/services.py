"""Business verbs about conversations and their messages; every interface calls these."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer
from interactions import access, events, visitors
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from reporting import transitions as reporting_transitions  # rep
from routing import sla

logger = logging.getLogger(__name__)

# --- messages ------------------------------------------------------------------------------------------------------


def validate_message_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("A message cannot be empty."), code="empty_message")
    limit = settings.OMNIDESK_MESSAGE_MAX_LENGTH
    if len(text) > limit:
        raise ValidationError(
            _("A message can be at most %(limit)d characters long.") % {"limit": limit}, code="message_too_long"
        )
    return text


def receive_message(
    *,
    customer: Customer,
    channel: Channel,
    external_id: str,
    text: str,
    html: str = "",
    meta: dict[str, Any] | None = None,
    kind: str = Interaction.Kind.MESSAGE,
    conversation: Conversation | None = None,
    new_conversation: bool = False,
) -> Interaction:
    """Append an inbound message to the customer's open conversation on `channel`, or open one and route it.

    `conversation` is the case the channel's threading found (an email reply, say); it is used unless resolved.
    `new_conversation=True` opens a new case when `conversation` is None or resolved, for channels whose threading
    is explicit (an email with no thread markers is a new request, even from a customer with an open case).
    The caller holds the customer's row lock. A second message with the same external id on the channel violates a
    unique constraint: callers deduplicate before (InboundEvent is unique per channel and external id).
    """
    from routing.services import enqueue_conversation

    now = timezone.now()
    if conversation is not None:
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "channel", "assignee", "queue")  # the queue: SLA reads it per message
            .exclude(status=Conversation.Status.RESOLVED)
            .filter(pk=conversation.pk)
            .first()
        )
    if conversation is None and not new_conversation:
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "channel", "assignee", "queue")  # the queue: SLA reads it per message
            .filter(customer=customer, channel=channel)
            .exclude(status=Conversation.Status.RESOLVED)
            .order_by("-created_at")
            .first()
        )
    is_new = conversation is None
    if conversation is None:
        conversation = Conversation.objects.create(customer=customer, channel=channel, last_message_at=now)
    else:
        conversation.last_message_at = now
        conversation.save(update_fields=["last_message_at", "updated_at"])
    interaction = Interaction.objects.create(
        conversation=conversation,
        customer=customer,
        channel=channel,
        kind=kind,
        direction=Interaction.Direction.INBOUND,
        external_id=external_id,
        text=text,
        html=html,
        meta=meta or {},
    )
    if is_new:
        enqueue_conversation(conversation=conversation, queue=channel.queue)
        # Routing may have assigned it through another instance of the row; announce the state as it now is.
        conversation.refresh_from_db(fields=["assignee", "assigned_at", "queue", "queued_at"])
        sla.start_sla_clocks(conversation=conversation)
    else:
        if conversation.status in (Conversation.Status.PENDING, Conversation.Status.SNOOZED):
            # The customer answered: the case is theirs no longer, its clocks run again.
            set_conversation_status(conversation=conversation, status=Conversation.Status.OPEN, by=None)
            conversation.refresh_from_db(fields=["status", "snoozed_until", *SLA_FIELDS])
        sla.note_customer_message(conversation=conversation)
    reporting_transitions.customer_wrote(interaction=interaction)  # rep: reporting event
    announce_message(interaction=interaction)
    return interaction


# --- agents' actions ----------------------------------------------------------------------------------------------


def reply_to_conversation(
    *, conversation: Conversation, author: Any, text: Any, channel: Channel | None = None
) -> Interaction:
    """Send an agent's reply and announce it to the desk (and to the customer's widget for chat).

    `channel` is the one the agent chose for this reply (default: the conversation's); another channel must be one
    whose queue `author` may act on (PermissionDenied otherwise). On a provider channel the reply is queued
    with an idempotency key and a task delivers it after commit; its delivery status follows.
    """
    from interactions import outbound

    text = validate_message_text(text)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        channel = channel or conversation.channel
        if channel.pk != conversation.channel_id and not access.may_reply_through(author, conversation, channel):
            # Another team's channel speaks in that team's name (its number, its mailbox): never through ours.
            raise PermissionDenied(_("You may not reply through this channel."))
        if not channel.is_active:
            raise ValidationError(_("This channel is not active."), code="channel_inactive")
        outbound.check_reply(conversation=conversation, channel=channel)
        sender = outbound.sender_for(channel)
        now = timezone.now()
        interaction = Interaction.objects.create(
            conversation=conversation,
            customer_id=conversation.customer_id,
            channel=channel,
            direction=Interaction.Direction.OUTBOUND,
            author=author,
            text=text,
            status=Interaction.Status.QUEUED if sender else Interaction.Status.SENT,
            status_at=now,
            idempotency_key=uuid.uuid4().hex if sender else None,
        )
        conversation.last_message_at = now
        fields = ["last_message_at", "updated_at"]
        if conversation.first_response_at is None:
            conversation.first_response_at = now
            fields.append("first_response_at")
        conversation.save(update_fields=fields)
        sla.note_agent_reply(conversation=conversation, now=now)
        reporting_transitions.agent_replied(interaction=interaction)  # rep: reporting event
        announce_message(interaction=interaction)
        if sender:
            outbound.enqueue_delivery(interaction=interaction)
    return interaction


def resolve_conversation(*, conversation: Conversation, by: Any) -> Conversation:
    """Close the case; the agent's capacity is freed for the next waiting conversation."""
    from routing.services import release_capacity

    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            return conversation
        conversation.status = Conversation.Status.RESOLVED
        conversation.resolved_at = timezone.now()
        conversation.save(update_fields=["status", "resolved_at", "updated_at"])
        sla.stop_sla_clocks(conversation=conversation)
        reporting_transitions.conversation_resolved(conversation=conversation)  # rep: reporting event + survey
        announce_conversation(conversation=conversation, type="conversation.resolved")
        release_capacity(agent=conversation.assignee, queue=conversation.queue)
    return conversation


HOLD_STATUSES = (Conversation.Status.PENDING, Conversation.Status.SNOOZED)
SLA_FIELDS = ("first_response_due_at", "next_response_due_at", "resolution_due_at", "sla_paused_at", "sla_warned_at")


def set_conversation_status(
    *, conversation: Conversation, status: str, by: Any, snoozed_until: datetime | None = None
) -> Conversation:
    """Put the case on hold (pending: waiting for the customer; snoozed: until `snoozed_until`) or reopen it.

    On hold, the SLA clocks pause and the agent's capacity is freed; reopening resumes them (a resolved case reopened
    starts fresh clocks). Resolving goes through `resolve_conversation`. `by` is None for the system (a snooze that
    ends, a customer who writes back).
    """
    from routing.services import release_capacity

    if status == Conversation.Status.RESOLVED:
        return resolve_conversation(conversation=conversation, by=by)
    if status not in Conversation.Status.values:
        raise ValidationError(_("Unknown status %(status)r.") % {"status": status}, code="unknown_status")
    if status == Conversation.Status.SNOOZED and (snoozed_until is None or snoozed_until <= timezone.now()):
        raise ValidationError(_("Snooze until a moment in the future."), code="snooze_not_in_future")
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("customer", "channel", "assignee", "queue")
            .get(pk=conversation.pk)
        )
        previous = conversation.status
        until = snoozed_until if status == Conversation.Status.SNOOZED else None
        if previous == status and conversation.snoozed_until == until:
            return conversation
        conversation.status = status
        conversation.snoozed_until = until
        fields = ["status", "snoozed_until", "updated_at"]
        if previous == Conversation.Status.RESOLVED:
            conversation.resolved_at = None
            fields.append("resolved_at")
        conversation.save(update_fields=fields)
        if status in HOLD_STATUSES:
            sla.pause_sla(conversation=conversation)
        elif previous == Conversation.Status.RESOLVED:
            sla.start_sla_clocks(conversation=conversation)
        else:
            sla.resume_sla(conversation=conversation)
        reporting_transitions.status_changed(conversation=conversation, previous=previous)  # rep: reporting event
        announce_conversation(conversation=conversation, type="conversation.status_changed")
        if previous == Conversation.Status.OPEN:
            release_capacity(agent=conversation.assignee, queue=conversation.queue)
    return conversation


# --- announcements ------------------------------------------------------------------------------------------------


def announce_message(*, interaction: Interaction) -> None:
    """Tell the desk, and the customer's open widgets, about a new message. Internal notes stay on the desk."""
    conversation = interaction.conversation
    message = events.message_data(interaction)
    desk: events.MessageCreated = {
        "conversation_id": conversation.pk,
        "message": message,
        "conversation": events.conversation_summary(conversation, preview=interaction.text),
    }
    announcements = [realtime.Announcement("message.created", desk, access.audience_for_conversation(conversation))]
    announcements += visitors.visitor_announcements(interaction=interaction)
    realtime.publish_many_on_commit(announcements)


def announce_conversation(*, conversation: Conversation, type: str, extra_groups: list[str] | None = None) -> None:
    data: events.ConversationChanged = {"conversation": events.conversation_summary(conversation)}
    groups = access.audience_for_conversation(conversation) + (extra_groups or [])
    realtime.publish_on_commit(type=type, data=data, groups=groups)
