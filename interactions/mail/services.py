"""Business verbs of the email channel: store a raw mail, turn a stored mail into a timeline entry, acknowledge.

`record_raw_mail` is what every inbound path calls (IMAP poll, provider webhook, `ingest_email`): it stores the
RFC 822 bytes in an InboundEvent before anything else. `process_mail_event` is the processor the worker runs on
it, inside the batch transaction; it is idempotent (the interaction is unique per channel and external id).
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import lock_customer_by_identity, normalize_email
from interactions import outbound, services
from interactions.adapters import InvalidPayload
from interactions.inbound import DeferProcessing, record_inbound_event
from interactions.mail import loops, threads
from interactions.mail.models import Acknowledgement, MessageReference
from interactions.mail.parsing import ParsedMail, external_id_for, parse_mail
from interactions.models import Attachment, Channel, Conversation, InboundEvent, Interaction

logger = logging.getLogger(__name__)

PROVIDER = "email"


def record_raw_mail(*, channel: Channel, raw: bytes, source: str) -> tuple[InboundEvent, bool]:
    """Store one RFC 822 message (base64 in the event's payload) for processing; a second copy is a no-op."""
    payload = {"raw": base64.b64encode(raw).decode("ascii"), "source": source}
    return record_inbound_event(channel=channel, external_id=external_id_for(raw), payload=payload, provider=PROVIDER)


def raw_of(event: InboundEvent) -> bytes:
    try:
        return base64.b64decode(event.payload["raw"])
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidPayload(f"email event without raw message: {error}") from error


def attachment_limit(channel: Channel) -> int:
    return int(channel.config.get("attachment_max_bytes", settings.OMNIDESK_EMAIL_ATTACHMENT_MAX_BYTES))


def process_mail_event(event: InboundEvent) -> Interaction | None:
    """The worker's processor for stored mail: parse, resolve the sender, thread, append, route, acknowledge."""
    # Idempotent by construction: the worker runs a processor only on an unprocessed event it holds locked, and
    # marks it processed in the same transaction; the interaction's unique (channel, external id) backs that up.
    channel = event.channel
    parsed = parse_mail(raw_of(event))
    if parsed.is_bounce and record_bounce(parsed):
        return None
    automatic = loops.automatic_reason(parsed, channel)
    kind, address = sender_address(parsed)
    if event.attempts > 1:
        process_parents_first(event, parsed)
    # The sender's lock before threading: the same customer's mail is threaded one message at a time.
    sender = lock_customer_by_identity(kind=kind, address=address, display_name=parsed.from_name)
    thread = threads.find_thread(parsed)
    if thread is None and event.attempts <= 1 and pending_parents(event, parsed).exists():
        # The message this one answers is stored but not processed yet (another worker's batch has it, or its turn
        # has not come): threading now would open a second case. Try again shortly, first in a batch of its own.
        raise DeferProcessing("the message this one replies to is not processed yet", countdown=0.5)
    meta = mail_meta(parsed, automatic=automatic, thread=thread)
    target = thread.conversation if thread else None
    customer = sender
    if target is not None and target.status != Conversation.Status.RESOLVED and target.customer_id != sender.pk:
        # Someone else wrote into the case (a colleague in Cc, a forwarded thread, a guessed subject tag): the mail
        # joins the case, but the agent is told it is not from the customer, and the address is not linked to them.
        meta["unknown_sender"] = {"address": parsed.from_address, "name": parsed.from_name}
        customer = Customer.objects.select_for_update().get(pk=target.customer_id)
    interaction = services.receive_message(
        customer=customer,
        channel=channel,
        external_id=event.external_id,
        text=parsed.text or _("(This email has no text.)"),
        html=parsed.html,
        meta=meta,
        conversation=target,
        new_conversation=True,
    )
    store_attachments(interaction=interaction, parsed=parsed, limit=attachment_limit(channel))
    if parsed.message_id:
        MessageReference.objects.create(
            message_id=parsed.message_id,
            direction=MessageReference.Direction.INBOUND,
            conversation_id=interaction.conversation_id,
            interaction=interaction,
        )
    if not automatic and thread is None and "unknown_sender" not in meta:
        acknowledge(interaction=interaction, parsed=parsed)
    return interaction


def pending_parents(event: InboundEvent, parsed: ParsedMail) -> QuerySet[InboundEvent]:
    """The stored, not yet processed (nor dead) messages of the channel that this one refers to."""
    referenced = [*parsed.in_reply_to, *parsed.references]
    return InboundEvent.objects.filter(
        channel_id=event.channel_id,
        external_id__in=referenced or [""],
        processed_at__isnull=True,
        dead_lettered_at__isnull=True,
    ).exclude(pk=event.pk)


def process_parents_first(event: InboundEvent, parsed: ParsedMail) -> None:
    """Wait for the messages this one answers, or process them here when nobody has them.

    Called on a retried event, which the worker runs first in its batch: no customer or conversation lock is held
    yet, so waiting for another batch's row locks cannot deadlock on them. After the wait (READ COMMITTED re-checks
    the filter) what is still pending was waiting for its turn: it is processed now, in this transaction.
    """
    from interactions.inbound import process_one

    if not (parsed.in_reply_to or parsed.references):
        return
    for parent in pending_parents(event, parsed).select_for_update(of=("self",)).select_related("channel__queue"):
        process_one(parent)
        InboundEvent.objects.filter(pk=parent.pk).update(processed_at=timezone.now(), last_error="")


def sender_address(parsed: ParsedMail) -> tuple[str, str]:
    """The identity a mail's sender resolves to; mail without a usable From is kept under an external identity."""
    try:
        return Identity.Kind.EMAIL, normalize_email(parsed.from_address)
    except ValidationError:
        parsed.problems.append(f"no valid sender address ({parsed.header('from') or 'missing'})")
        return Identity.Kind.EXTERNAL, f"email-sender:{parsed.header('from') or 'unknown'}"[:200]


def mail_meta(parsed: ParsedMail, *, automatic: str, thread: threads.Thread | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "email": True,
        "subject": parsed.subject,
        "from": parsed.header("from"),
        "from_address": parsed.from_address,
        "to": parsed.to,
        "cc": parsed.cc,
        "message_id": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references[-20:],
        "headers": parsed.headers,
        "latest_reply": parsed.latest_reply if parsed.latest_reply != parsed.text else "",
        "problems": parsed.problems,
    }
    if automatic:
        meta["automatic"] = automatic
    if thread is not None:
        meta["threaded_by"] = thread.by
    return meta


def store_attachments(*, interaction: Interaction, parsed: ParsedMail, limit: int) -> None:
    for item in parsed.attachments:
        attachment = Attachment(
            interaction=interaction,
            filename=item.filename,
            content_type=item.content_type[:255],
            size=len(item.data),
            content_id=item.content_id if item.inline else "",
        )
        if len(item.data) > limit:
            attachment.omitted_reason = _("Attachment omitted: larger than %(limit)s bytes.") % {"limit": limit}
        else:
            attachment.file.save(item.filename, ContentFile(item.data), save=False)
        attachment.save()


def record_bounce(parsed: ParsedMail) -> bool:
    """A DSN about one of our messages marks that outbound interaction failed; False if it is about none of ours."""
    references = MessageReference.objects.filter(
        message_id__in=parsed.bounced_message_ids, direction=MessageReference.Direction.OUTBOUND
    ).select_related("interaction")
    found = False
    for reference in references:
        error = parsed.bounce_diagnostic or _("The message bounced.")
        outbound.record_delivery_status(
            interaction=reference.interaction, status=Interaction.Status.FAILED, error=error
        )
        found = True
    return found


def acknowledge(*, interaction: Interaction, parsed: ParsedMail) -> Interaction | None:
    """The channel's automatic acknowledgement of a new case, if enabled and the sender has not had one lately."""
    channel = interaction.channel
    text = channel.config.get("acknowledgement")
    if not text or not parsed.from_address:
        return None
    if not loops.acknowledgement_allowed(channel=channel, address=parsed.from_address):
        return None
    Acknowledgement.objects.create(channel=channel, address=parsed.from_address.lower())
    reply = Interaction.objects.create(
        conversation=interaction.conversation,
        customer=interaction.customer,
        channel=channel,
        kind=Interaction.Kind.MESSAGE,
        direction=Interaction.Direction.OUTBOUND,
        text=str(text),
        meta={"auto_reply": True, "to": parsed.from_address},
        status=Interaction.Status.QUEUED,
        status_at=timezone.now(),
        idempotency_key=uuid.uuid4().hex,
    )
    services.announce_message(interaction=reply)
    outbound.enqueue_delivery(interaction=reply)
    return reply
