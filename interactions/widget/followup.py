"""Continuity when a chat ends without an agent (issue 13 item 7): the visitor leaves an email address instead.

When no agent can take the chat (none available for the channel's queue, or the visitor has waited longer than
`OMNIDESK_WIDGET_FOLLOWUP_AFTER_SECONDS`) or the visitor goes before an answer, the widget offers to continue by
email. `continue_by_email` then, in one transaction:

- keeps the address as an email identity of the visitor's own customer, unverified: the visitor typed it, nothing
  proved they own it. An address that already belongs to another customer is never moved nor merged (typing someone
  else's address must not open their history); the transcript still goes there, and the case stays as it was;
- makes the mailbox the case's reply channel, so the agent's later reply goes by email by default;
- queues the transcript on that mailbox through the one outbound path (`outbound.queue_outbound`): it is sent by the
  email sender with the case's Reply-To token and subject tag, and its Message-ID is recorded, so the customer's
  answer threads into the SAME case (the continuity rule: email thread markers win).
"""

from __future__ import annotations

import logging
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from contact.load import read_load
from customers.models import Customer, Identity
from customers.services import normalize_email
from interactions import inbound, outbound
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from interactions.visitors import is_visitor_of
from interactions.widget.limits import setting

logger = logging.getLogger(__name__)
TRANSCRIPT_LIMIT = 200


class FollowupOffer(TypedDict):
    """What the widget is told in its welcome: whether it may offer email, whether no agent can take the chat right
    now (offered as soon as the visitor's first message is stored), and after how long without an answer."""

    email: bool
    no_agent: bool
    after_seconds: float


def followup_after_seconds() -> float:
    # A float on the wire too: the widget's frames carry no integers (those could be internal ids).
    return float(setting("OMNIDESK_WIDGET_FOLLOWUP_AFTER_SECONDS", 180))


def followup_mailbox(*, channel: Channel) -> Channel | None:
    """The mailbox a chat continues on: the one named in the chat channel's config, else an active one of its queue."""
    mailboxes = Channel.objects.filter(kind=Channel.Kind.EMAIL, is_active=True)
    named = channel.config.get("followup_email_channel")
    if named is not None:
        return mailboxes.filter(pk=named).first()
    return mailboxes.filter(queue_id=channel.queue_id).order_by("pk").first()


def followup_offer(*, channel: Channel) -> FollowupOffer:
    # In the welcome, not a frame of its own: the socket's answers to messages stay exactly as they were.
    email = followup_mailbox(channel=channel) is not None
    return {
        "email": email,
        "no_agent": email and no_agent_can_answer(channel=channel),
        "after_seconds": followup_after_seconds(),
    }


def no_agent_can_answer(*, channel: Channel) -> bool:
    """Whether no available agent of the chat's queue has chat capacity right now (the widget then offers email)."""
    if channel.queue is None or followup_mailbox(channel=channel) is None:
        return False
    load = read_load(queue=channel.queue, channel_kind=Channel.Kind.CHAT, skill_ids=(), now=timezone.now())
    return load.agents == 0


def waiting_case(*, customer_id: int, channel: Channel) -> Conversation | None:
    """The visitor's latest unresolved case holding a chat message of theirs on this channel."""
    return (
        Conversation.objects.filter(
            customer_id=customer_id,
            interactions__channel=channel,
            interactions__direction=Interaction.Direction.INBOUND,
        )
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-last_message_at", "-pk")
        .first()
    )


def transcript_text(*, conversation: Conversation, channel: Channel, customer: Customer) -> str:
    """The chat as the visitor saw it: their messages and the agents' replies on this channel, never notes."""
    messages = (
        Interaction.objects.filter(conversation=conversation, channel=channel, kind=Interaction.Kind.MESSAGE)
        .select_related("author")
        .order_by("created_at", "pk")[:TRANSCRIPT_LIMIT]
    )
    lines = [_("Here is the transcript of your chat with us. Reply to this email to continue; no need to repeat.")]
    for message in messages:
        if message.direction == Interaction.Direction.INBOUND:
            speaker = _("You")
        else:
            speaker = (message.author.get_short_name() or message.author.get_username()) if message.author else ""
            speaker = speaker or _("Support")
        lines.append(f"{speaker}: {message.text}")
    return "\n\n".join(lines)


def process_pending_messages(*, channel: Channel, visitor_id: str) -> None:
    """Ingest the visitor's accepted but not yet processed messages now: the transcript must hold them, and the
    first one makes the case. Idempotent with the worker (an event it is processing right now is skipped)."""
    pending = InboundEvent.objects.filter(
        channel=channel, processed_at__isnull=True, dead_lettered_at__isnull=True, payload__visitor=visitor_id
    ).values_list("pk", flat=True)
    for event_id in list(pending):
        try:
            inbound.process_inbound_event(event_id=event_id)
        except Exception:
            # The worker retries (and dead-letters) it as for any message; the visitor is told to write first.
            logger.warning("follow-up could not process inbound event %s", event_id, exc_info=True)


def continue_by_email(*, channel: Channel, visitor_id: str, address: object, language: str = "en") -> Interaction:
    """Record the visitor's address and mail them the chat's transcript; the case continues by email.

    Raises ValidationError (`invalid_email`, `followup_unavailable`, `nothing_to_follow`) with a message for the
    visitor.
    """
    if not isinstance(address, str) or len(address) > 320:
        raise ValidationError(_("Please enter a valid email address."), code="invalid_email")
    try:
        email = normalize_email(address)
    except ValidationError:
        raise ValidationError(_("Please enter a valid email address."), code="invalid_email") from None
    mailbox = followup_mailbox(channel=channel)
    if mailbox is None:
        raise ValidationError(_("We cannot answer by email on this website."), code="followup_unavailable")
    process_pending_messages(channel=channel, visitor_id=visitor_id)
    visitor = Identity.objects.filter(kind=Identity.Kind.WIDGET, address=visitor_id).first()
    if visitor is None or not is_visitor_of(channel=channel, visitor_id=visitor_id):
        raise ValidationError(_("Write your question first, then leave your address."), code="nothing_to_follow")
    with transaction.atomic():
        case = waiting_case(customer_id=visitor.customer_id, channel=channel)
        if case is None:
            raise ValidationError(_("Write your question first, then leave your address."), code="nothing_to_follow")
        case = Conversation.objects.select_for_update().get(pk=case.pk)
        identity, _created = Identity.objects.get_or_create(
            kind=Identity.Kind.EMAIL, address=email, defaults={"customer_id": visitor.customer_id, "verified": False}
        )
        if identity.customer_id == visitor.customer_id:
            # The reply channel: where the customer can now be answered. Another customer's address keeps the chat.
            case.channel = mailbox
            case.save(update_fields=["channel", "updated_at"])
        customer = Customer.objects.get(pk=visitor.customer_id)
        with translation.override(language if language in ("en", "fr") else "en"):
            text = transcript_text(conversation=case, channel=channel, customer=customer)
        return outbound.queue_outbound(
            conversation=case,
            channel=mailbox,
            text=text,
            meta={"to": email, "transcript": True, "followup_of": channel.pk},
            counts_as_response=False,
        )
