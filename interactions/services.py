"""Business verbs about conversations and their messages; every interface calls these."""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import normalize_email, resolve_identity
from interactions import access, events
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from routing import sla

logger = logging.getLogger(__name__)

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


def sign_visitor_email(*, channel: Channel, email: str) -> str:
    """What the website's server computes for a logged-in user: HMAC-SHA256(identity secret, email), in hex."""
    return hmac.new(channel.identity_secret.encode(), email.encode(), hashlib.sha256).hexdigest()


def identify_visitor(*, channel: Channel, visitor_id: str, email: Any, name: Any, identifier_hash: Any) -> Customer:
    """Take what the website says about its visitor; link to an existing customer only when the website signed it.

    With a valid `identifier_hash` the visitor becomes the customer who owns that email (created if new), so their
    history follows them across devices. Without one, or with a wrong one, nothing links: typing someone else's email
    must never open their history. The claim is then kept as an unverified attribute of the visitor's own customer.
    A visitor who chatted anonymously before logging in keeps that earlier conversation on the anonymous record.
    """
    email = email.strip() if isinstance(email, str) else ""
    name = name.strip()[:200] if isinstance(name, str) else ""
    signed = (
        bool(email)
        and isinstance(identifier_hash, str)
        and hmac.compare_digest(sign_visitor_email(channel=channel, email=email), identifier_hash.strip().lower())
    )
    normalized = ""
    if signed:
        try:
            normalized = normalize_email(email)
        except ValidationError:
            signed = False
    with transaction.atomic():
        if signed:
            identity = resolve_identity(kind=Identity.Kind.EMAIL, address=normalized, display_name=name, verified=True)
            customer = identity.customer
            if not identity.verified:
                Identity.objects.filter(pk=identity.pk).update(verified=True)
            visitor, _created = Identity.objects.get_or_create(
                kind=Identity.Kind.WIDGET, address=visitor_id, defaults={"customer": customer, "verified": True}
            )
            if visitor.customer_id != customer.pk:
                Identity.objects.filter(pk=visitor.pk).update(customer=customer, verified=True)
            if name and not customer.display_name:
                Customer.objects.filter(pk=customer.pk).update(display_name=name)
            return customer
        identity = resolve_identity(kind=Identity.Kind.WIDGET, address=visitor_id, display_name=name)
        customer = Customer.objects.select_for_update().get(pk=identity.customer_id)
        if email:
            customer.attributes["unverified_email"] = email[:320]
        if name:
            customer.display_name = name
        customer.save(update_fields=["attributes", "display_name", "updated_at"])
        return customer


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
    announce_message(interaction=interaction)
    return interaction


# --- agents' actions ----------------------------------------------------------------------------------------------


def reply_to_conversation(
    *, conversation: Conversation, author: Any, text: Any, channel: Channel | None = None
) -> Interaction:
    """Send an agent's reply and announce it to the desk (and to the customer's widget for chat).

    `channel` is the one the agent chose for this reply (default: the conversation's). On a provider channel the
    reply is queued with an idempotency key and a task delivers it after commit; its delivery status follows.
    """
    from interactions import outbound

    text = validate_message_text(text)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        channel = channel or conversation.channel
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
    if interaction.kind == Interaction.Kind.MESSAGE and interaction.channel.kind == Channel.Kind.CHAT:
        # Only chat entries go to the widget: the visitor did not write (nor receive) the email or SMS ones.
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
