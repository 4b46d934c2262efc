"""Business verbs about conversations and their messages; every interface calls these."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import lock_customer_by_identity
from interactions import access, events
from interactions.adapters import InvalidPayload, widget
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from omnidesk import realtime

logger = logging.getLogger(__name__)

ADAPTERS = {Channel.Kind.CHAT: widget.parse}
VISITOR_TOKEN_SALT = "omnidesk.widget.visitor"


# --- website visitors ---------------------------------------------------------------------------------------------


def issue_visitor_token(*, channel: Channel, visitor_id: str) -> str:
    """A signed token naming the visitor: nothing secret is stored, and it is only valid on its own channel."""
    return signing.dumps({"c": channel.pk, "v": visitor_id}, salt=VISITOR_TOKEN_SALT, compress=True)


def visitor_from_token(*, channel: Channel, token: str | None) -> str | None:
    if not token or not isinstance(token, str):
        return None
    try:
        claims = signing.loads(token, salt=VISITOR_TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(claims, dict) or claims.get("c") != channel.pk or not isinstance(claims.get("v"), str):
        return None
    return str(claims["v"])


# --- inbound ------------------------------------------------------------------------------------------------------


def validate_message_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(_("A message cannot be empty."), code="empty_message")
    limit = settings.OMNIDESK_MESSAGE_MAX_LENGTH
    if len(text) > limit:
        raise ValidationError(
            _("A message can be at most %(limit)d characters long.") % {"limit": limit}, code="message_too_long"
        )
    return text


def record_widget_message(*, channel: Channel, visitor_id: str, uuid: str, text: Any) -> InboundEvent:
    """Store a visitor's message for processing; resending the same uuid returns the stored event."""
    if not isinstance(uuid, str) or not 8 <= len(uuid) <= 64:
        raise ValidationError(_("Each message needs a client uuid."), code="bad_uuid")
    text = validate_message_text(text)
    event, _created = record_inbound_event(
        channel=channel, external_id=uuid, payload={"visitor": visitor_id, "uuid": uuid, "text": text}
    )
    return event


def record_inbound_event(*, channel: Channel, external_id: str, payload: dict[str, Any]) -> tuple[InboundEvent, bool]:
    """Durably store a raw inbound event and enqueue it once committed. Idempotent on (channel, external id).

    One INSERT … ON CONFLICT DO NOTHING instead of get_or_create's transaction, SELECT and INSERT: this runs for
    every inbound message, in the web process.
    """
    received_at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboundEvent._meta.db_table} (channel_id, external_id, payload, received_at, attempts,"
            " last_error) VALUES (%s, %s, %s, %s, 0, '') ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
            [channel.pk, external_id, json.dumps(payload), received_at],
        )
        row = cursor.fetchone()
    if row is None:
        return InboundEvent.objects.get(channel=channel, external_id=external_id), False
    event = InboundEvent(
        pk=row[0], channel=channel, external_id=external_id, payload=payload, received_at=received_at, attempts=0
    )
    transaction.on_commit(lambda: enqueue_inbound_event(event_id=event.pk))
    return event, True


def enqueue_inbound_event(*, event_id: int) -> None:
    from interactions.tasks import process_inbound_event_task

    try:
        process_inbound_event_task.delay(event_id)
    except Exception:
        # Stored already: the sweeper will enqueue it again once the broker is back.
        logger.exception("could not enqueue inbound event %s", event_id)


def process_inbound_event(*, event_id: int) -> Interaction | None:
    """Turn a stored inbound event into a timeline entry, route it and announce it. Idempotent.

    The attempt is counted in its own transaction first, so that a worker killed mid-way still counts it.
    """
    InboundEvent.objects.filter(pk=event_id, processed_at__isnull=True, dead_lettered_at__isnull=True).update(
        attempts=F("attempts") + 1, last_attempt_at=timezone.now()
    )
    with transaction.atomic():
        # of=self: locking the joined channel row too would serialize every worker and every ingest on it.
        event = InboundEvent.objects.select_for_update(of=("self",)).select_related("channel").get(pk=event_id)
        if event.processed_at or event.dead_lettered_at:
            return None
        adapter = ADAPTERS.get(event.channel.kind)  # type: ignore[call-overload]
        if adapter is None:
            raise InvalidPayload(f"no adapter for channel kind {event.channel.kind}")
        message = adapter(event.payload)
        customer = lock_customer_by_identity(
            kind=message.identity_kind, address=message.address, display_name=message.display_name
        )
        interaction = receive_message(
            customer=customer,
            channel=event.channel,
            external_id=message.external_id,
            text=message.text,
        )
        event.processed_at = timezone.now()
        event.last_error = ""
        event.save(update_fields=["processed_at", "last_error"])
    return interaction


def receive_message(
    *,
    customer: Customer,
    channel: Channel,
    external_id: str,
    text: str,
) -> Interaction:
    """Append an inbound message to the customer's open conversation on `channel`, or open one and route it.

    The caller holds the customer's row lock. A second message with the same external id on the channel violates a
    unique constraint: callers deduplicate before (InboundEvent is unique per channel and external id).
    """
    from routing.services import enqueue_conversation

    now = timezone.now()
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("customer", "channel", "assignee")
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
        direction=Interaction.Direction.INBOUND,
        external_id=external_id,
        text=text,
    )
    if is_new:
        enqueue_conversation(conversation=conversation, queue=channel.queue)
        # Routing may have assigned it through another instance of the row; announce the state as it now is.
        conversation.refresh_from_db(fields=["assignee", "assigned_at", "queue", "queued_at"])
    announce_message(interaction=interaction)
    return interaction


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


@dataclass(frozen=True)
class SweepResult:
    requeued: list[int]
    dead_lettered: list[int]


def sweep_inbound_events(*, now: Any = None) -> SweepResult:
    """Re-enqueue events stuck unprocessed (lost broker message, killed worker); dead-letter exhausted ones."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.OMNIDESK_INBOUND_RETRY_AFTER)
    pending = InboundEvent.objects.filter(
        processed_at__isnull=True, dead_lettered_at__isnull=True, received_at__lt=stale
    )
    pending = pending.exclude(last_attempt_at__gte=stale)
    exhausted = list(
        pending.filter(attempts__gte=settings.OMNIDESK_INBOUND_MAX_ATTEMPTS).values_list("pk", flat=True)[:1000]
    )
    for event_id in exhausted:
        record_inbound_failure(event_id=event_id, error=_("Gave up after repeated failed attempts."), permanent=True)
    requeued = list(
        pending.filter(attempts__lt=settings.OMNIDESK_INBOUND_MAX_ATTEMPTS).values_list("pk", flat=True)[:1000]
    )
    for event_id in requeued:
        enqueue_inbound_event(event_id=event_id)
    return SweepResult(requeued=requeued, dead_lettered=exhausted)


# --- agents' actions ----------------------------------------------------------------------------------------------


def reply_to_conversation(*, conversation: Conversation, author: Any, text: Any) -> Interaction:
    """Send an agent's reply on the conversation's channel and announce it to the desk and the customer."""
    text = validate_message_text(text)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        now = timezone.now()
        interaction = Interaction.objects.create(
            conversation=conversation,
            customer_id=conversation.customer_id,
            channel_id=conversation.channel_id,
            direction=Interaction.Direction.OUTBOUND,
            author=author,
            text=text,
        )
        conversation.last_message_at = now
        fields = ["last_message_at", "updated_at"]
        if conversation.first_response_at is None:
            conversation.first_response_at = now
            fields.append("first_response_at")
        conversation.save(update_fields=fields)
        announce_message(interaction=interaction)
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
        announce_conversation(conversation=conversation, type="conversation.resolved")
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
    if interaction.kind == Interaction.Kind.MESSAGE and interaction.channel.kind == Channel.Kind.CHAT:
        visitors = Identity.objects.filter(customer_id=interaction.customer_id, kind=Identity.Kind.WIDGET)
        visitor_ids = list(visitors.values_list("address", flat=True))
        if visitor_ids:
            public: events.VisitorMessageCreated = {"conversation_id": conversation.pk, "message": message}
            groups = [realtime.visitor_group(visitor_id) for visitor_id in visitor_ids]
            announcements.append(realtime.Announcement("message.created", public, groups))
    realtime.publish_many_on_commit(announcements)


def announce_conversation(*, conversation: Conversation, type: str, extra_groups: list[str] | None = None) -> None:
    data: events.ConversationChanged = {"conversation": events.conversation_summary(conversation)}
    groups = access.audience_for_conversation(conversation) + (extra_groups or [])
    realtime.publish_on_commit(type=type, data=data, groups=groups)


def retry_inbound_event(*, event_id: int) -> None:
    """An admin gives a dead-lettered event another round of attempts."""
    InboundEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(dead_lettered_at=None, attempts=0)
    transaction.on_commit(lambda: enqueue_inbound_event(event_id=event_id))
