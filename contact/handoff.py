"""From the contact page to a chat or an email already qualified with the visitor's intent."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from contact.models import ChatHandoff, ContactSite, FunnelEvent, IntentNode, Visit
from contact.visits import current_version_seen, record_step
from customers.models import Identity
from interactions import visitors
from interactions.mail.services import record_raw_mail
from interactions.models import Conversation, Interaction
from routing.models import ConversationIntent

HANDOFF_TTL_MINUTES = 30
MAX_FORM_TEXT = 4000


def hand_chat_over(*, site: ContactSite, visit: Visit, node: IntentNode, token: Any) -> ChatHandoff:
    """The visitor (proved by their widget token) chose chat for `node`: their next conversation gets that intent."""
    claim = visitors.visitor_from_token(channel=site.chat_channel, token=token)
    if claim is None:
        raise ValidationError(_("The chat session is not valid; reopen the chat."), code="bad_token")
    visitor_id = claim.visitor_id
    handoff = ChatHandoff.objects.create(visitor_id=visitor_id, visit=visit, node=node)
    record_step(
        visit=visit,
        step=FunnelEvent.Step.SOLUTION_CHOSEN,
        node=node,
        version=current_version_seen(visit=visit, node=node),
        solution="chat",
    )
    return handoff


def stated_intent(*, conversation: Conversation) -> IntentNode | None:
    """The intent the customer stated on the contact page for this conversation, if it came from there."""
    made = (
        FunnelEvent.objects.filter(conversation=conversation, step=FunnelEvent.Step.CONTACT_CREATED)
        .select_related("node__intent")
        .first()
    )
    if made is not None:
        return made.node
    addresses = list(
        Identity.objects.filter(customer_id=conversation.customer_id, kind=Identity.Kind.WIDGET).values_list(
            "address", flat=True
        )
    )
    if not addresses:
        return None
    since = timezone.now() - timedelta(minutes=HANDOFF_TTL_MINUTES)
    handoff = (
        ChatHandoff.objects.select_related("node__intent", "visit")
        .filter(visitor_id__in=addresses, used_at=None, created_at__gte=since)
        .order_by("-created_at")
        .first()
    )
    if handoff is None:
        return None
    ChatHandoff.objects.filter(pk=handoff.pk).update(used_at=timezone.now())
    record_step(
        visit=handoff.visit,
        step=FunnelEvent.Step.CONTACT_CREATED,
        node=handoff.node,
        version=current_version_seen(visit=handoff.visit, node=handoff.node),
        solution="chat",
        conversation=conversation,
    )
    return handoff.node


def apply_stated_intent(sender: Any, instance: ConversationIntent, created: bool, **kwargs: Any) -> None:
    """post_save of ConversationIntent: a conversation opened from the contact page keeps the intent the customer
    chose there, whatever detection guessed. Routing then reads this very instance (queue, skills, priority)."""
    node = stated_intent(conversation=instance.conversation)
    if node is None or node.intent_id is None or instance.intent_id == node.intent_id:
        return
    instance.intent_id = node.intent_id
    instance.confidence = 1.0
    ConversationIntent.objects.filter(pk=instance.pk).update(intent_id=node.intent_id, confidence=1.0)


def join_contact_mail(sender: Any, instance: Interaction, created: bool, **kwargs: Any) -> None:
    """post_save of Interaction: the contact form's mail, once it is an interaction, joins its funnel event, and its
    conversation takes the stated intent (detection may find none in a short text)."""
    if not created or not (instance.external_id or "").startswith("contact-"):
        return
    joined = FunnelEvent.objects.filter(
        step=FunnelEvent.Step.CONTACT_CREATED, data__message_id=instance.external_id, conversation=None
    ).update(conversation_id=instance.conversation_id)
    if joined:
        node = stated_intent(conversation=instance.conversation)
        if node is not None and node.intent_id is not None:
            ConversationIntent.objects.get_or_create(
                conversation_id=instance.conversation_id, defaults={"intent_id": node.intent_id, "confidence": 1.0}
            )


def send_contact_form(
    *, site: ContactSite, visit: Visit, node: IntentNode, email: Any, name: Any, text: Any
) -> FunnelEvent | None:
    """The short form becomes an email-channel conversation: stored as an inbound event first, then processed."""
    channel = site.email_channel
    if channel is None:
        raise ValidationError(_("Email is not available here."), code="no_email")
    email = str(email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(_("Enter a valid email address."), code="bad_email") from None
    text = str(text or "").strip()
    if not text or len(text) > MAX_FORM_TEXT:
        raise ValidationError(_("Write your message (up to 4000 characters)."), code="bad_text")
    if visit.events.filter(step=FunnelEvent.Step.CONTACT_CREATED, node=node).exists():
        raise ValidationError(_("You already asked us about this."), code="already_done")
    message = EmailMessage()
    message["From"] = formataddr((str(name or "").strip()[:100], email))
    message["To"] = str(channel.config.get("address") or "support@omnidesk.invalid")
    message["Subject"] = f"[{node.label(visit.language)}] " + text.splitlines()[0][:80]
    # One message per visit and intent: a double submit (or a race of two) is the same Message-ID, stored once.
    message["Message-ID"] = f"<contact-{visit.visit_id}-{node.pk}@contact.omnidesk.invalid>"
    message["X-Omnidesk-Contact-Visit"] = visit.visit_id
    message["X-Omnidesk-Intent"] = node.intent.key if node.intent else ""
    message.set_content(text)
    version = current_version_seen(visit=visit, node=node)
    with transaction.atomic():
        event, _created = record_raw_mail(channel=channel, raw=message.as_bytes(), source="contact-page")
        record_step(visit=visit, step=FunnelEvent.Step.SOLUTION_CHOSEN, node=node, version=version, solution="email")
        contact = record_step(
            visit=visit,
            step=FunnelEvent.Step.CONTACT_CREATED,
            node=node,
            version=version,
            solution="email",
            data={"inbound_event": event.pk, "message_id": event.external_id},
        )
    return contact


def join_email_contact(*, contact: FunnelEvent) -> int | None:
    """The conversation the form's email became, once the pipeline processed it."""
    contact.refresh_from_db(fields=["conversation"])
    return contact.conversation_id
