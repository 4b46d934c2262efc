"""Business verbs of the email channel: store a raw mail, turn a stored mail into a timeline entry, acknowledge.

`record_raw_mail` is what every inbound path calls (IMAP poll, provider webhook, `ingest_email`): it stores the
RFC 822 bytes in an InboundEvent before anything else. `process_mail_event` is the processor the worker runs on
it, inside the batch transaction; it is idempotent (the interaction is unique per channel and external id).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import lock_customer_by_identity, normalize_email
from interactions import continuity, inbound_bulk, outbound, services
from interactions.adapters import InvalidPayload
from interactions.inbound import DeferProcessing, process_one, record_inbound_event
from interactions.inbound_batch import Sender, note_processed_in_batch, prepared_for, processed_in_batch
from interactions.inbound_many import record_inbound_events
from interactions.mail import loops, threads
from interactions.mail.authentication import Authentication, read_authentication
from interactions.mail.models import Acknowledgement, MessageReference
from interactions.mail.parsing import ParsedMail, external_id_for, parse_mail
from interactions.models import Attachment, Channel, Conversation, InboundEvent, Interaction
from routing import new_items

logger = logging.getLogger(__name__)

PROVIDER = "email"
# The continuity decisions that open a case (interactions/continuity.py).
NEW_CASE_REASONS = frozenset({continuity.UNTHREADED, continuity.NEW_INTENT, continuity.NO_CASE})


def record_raw_mail(*, channel: Channel, raw: bytes, source: str) -> tuple[InboundEvent, bool]:
    """Store one RFC 822 message (base64 in the event's payload) for processing; a second copy is a no-op.

    A message over the channel's size cap is not stored whole: its headers are, with a note saying it was too large
    (`too_large_mail`), so that the agent sees it arrived and the inbound queue never chews on it.
    """
    external_id, payload = raw_mail_event(channel=channel, raw=raw, source=source)
    return record_inbound_event(channel=channel, external_id=external_id, payload=payload, provider=PROVIDER)


def record_raw_mails(*, channel: Channel, mails: list[tuple[str, bytes]]) -> int:
    """`record_raw_mail` of many (source, raw) mails in one statement (inbound_many.py); how many were new."""
    events = [raw_mail_event(channel=channel, raw=raw, source=source) for source, raw in mails]
    return record_inbound_events(channel=channel, events=events, provider=PROVIDER)


def raw_mail_event(*, channel: Channel, raw: bytes, source: str) -> tuple[str, dict[str, Any]]:
    """The stored event's external id and payload for a raw mail (capped at the channel's size)."""
    limit = max_message_bytes(channel)
    if len(raw) > limit:
        raw = too_large_mail(head=raw[:HEAD_BYTES], size=len(raw), limit=limit, source=source)
    return external_id_for(raw), {"raw": base64.b64encode(raw).decode("ascii"), "source": source}


# The default cap on a whole message (headers, body, attachments, as received): larger ones are kept as a note.
DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
HEAD_BYTES = 64 * 1024
TOO_LARGE_HEADER = "X-Omnidesk-Too-Large"
# Headers of the original that would describe a body the note no longer has.
BODY_HEADERS = ("content-type", "content-transfer-encoding", "content-disposition", "mime-version", TOO_LARGE_HEADER)


def max_message_bytes(channel: Channel) -> int:
    default = getattr(settings, "OMNIDESK_EMAIL_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES)
    return int(channel.config.get("max_message_bytes", default))


def too_large_mail(*, head: bytes, size: int, limit: int, source: str) -> bytes:
    """A stand-in for a message over the size cap: its own headers (Message-ID, From, Subject… so it threads and
    deduplicates like the original) and a plain-text body saying what happened and where the original is."""
    end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=len(head))
    message = BytesHeaderParser(policy=policy.compat32).parsebytes(head[:end] + b"\n\n")
    for name in BODY_HEADERS:
        del message[name]
    message[TOO_LARGE_HEADER] = str(size)
    note = _(
        "This email (%(size)s bytes) is larger than the %(limit)s bytes this channel accepts, so it was not"
        " downloaded. The original stays with the mail provider (%(source)s)."
    ) % {"size": size, "limit": limit, "source": source}
    message.set_payload(note, "utf-8")  # also writes MIME-Version, Content-Type and a base64 encoding
    try:
        return message.as_bytes(policy=policy.compat32.clone(linesep="\r\n"))
    except Exception:  # headers too broken to write back: keep none of them rather than lose the note
        fallback = EmailMessage()
        fallback[TOO_LARGE_HEADER] = str(size)
        fallback.set_content(note)
        return fallback.as_bytes()


def raw_of(event: InboundEvent) -> bytes:
    try:
        return base64.b64decode(event.payload["raw"])
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidPayload(f"email event without raw message: {error}") from error


def attachment_limit(channel: Channel) -> int:
    return int(channel.config.get("attachment_max_bytes", settings.OMNIDESK_EMAIL_ATTACHMENT_MAX_BYTES))


@dataclass(frozen=True)
class ReadMail:
    """A stored mail, read: what its processing needs before it writes anything."""

    parsed: ParsedMail
    authentication: Authentication
    automatic: str
    kind: str  # the sender's identity
    address: str


def read_mail(event: InboundEvent) -> ReadMail:
    channel = event.channel
    parsed = parse_mail(raw_of(event))
    authentication = read_authentication(parsed.authentication_results, channel=channel)
    automatic = loops.automatic_reason(parsed, channel)
    kind, address = sender_address(parsed, authentication=authentication)
    return ReadMail(parsed, authentication, automatic, kind, address)


@contextmanager
def mail_batch(events: list[InboundEvent], senders: dict[int, Sender]) -> Iterator[None]:
    """A prepared batch of mails reads the threads and parents its mails refer to at once (mail/threads.py), and
    its new cases read routing's intents and skills once (routing/new_items.py)."""
    mails = [sender.prepared.parsed for sender in senders.values() if isinstance(sender.prepared, ReadMail)]
    with threads.batch_threads(channel=events[0].channel, mails=mails), new_items.batch_of_new_cases():
        yield


def mail_sender(event: InboundEvent) -> Sender | None:
    """Who wrote the mail, for the batch's prelude, which hands the read mail back to `process_mail_event` (a mail is
    parsed once). None for a bounce: recording it may make no timeline entry at all."""
    read = read_mail(event)
    if read.parsed.is_bounce:
        return None
    return Sender(read.kind, read.address, read.parsed.from_name, prepared=read)


def process_mail_event(event: InboundEvent) -> Interaction | None:
    """The worker's processor for stored mail: parse, resolve the sender, thread, append, route, acknowledge."""
    # Idempotent by construction: the worker runs a processor only on an unprocessed event it holds locked, and
    # marks it processed in the same transaction; the interaction's unique (channel, external id) backs that up.
    channel = event.channel
    read = prepared_for(event.pk)
    if not isinstance(read, ReadMail):
        read = read_mail(event)
    parsed, authentication, automatic = read.parsed, read.authentication, read.automatic
    kind, address = read.kind, read.address
    if parsed.is_bounce and record_bounce(parsed):
        new_items.forget_failures()
        return None
    # Embedded mode runs tasks in-process, one at a time: a parent still pending is simply next in line, and
    # deferring would only re-enter this task synchronously. Process it here instead.
    eager = bool(settings.CELERY_TASK_ALWAYS_EAGER)
    if event.attempts > 1 or eager:
        process_parents_first(event, parsed)
    # The sender's lock before threading: the same customer's mail is threaded one message at a time.
    sender = lock_customer_by_identity(kind=kind, address=address, display_name=parsed.from_name)
    thread = threads.find_thread(parsed, channel=channel)
    if (
        thread is None
        and event.attempts <= 1
        and not eager
        and threads.may_have_pending_parents(parsed, channel=channel, skip={event.pk, *processed_in_batch()})
        and pending_parents(event, parsed).exists()
    ):
        # The message this one answers is stored but not processed yet (another worker's batch has it, or its turn
        # has not come): threading now would open a second case. Try again shortly, first in a batch of its own.
        raise DeferProcessing("the message this one replies to is not processed yet", countdown=0.5)
    meta = mail_meta(parsed, automatic=automatic, authentication=authentication)
    target: Conversation | None = None
    if thread is not None:
        refusal = thread_refusal(thread=thread, sender=sender, authentication=authentication)
        if refusal:
            # A marker anyone can copy (a forwarded thread, a Cc'd colleague, a forged From) does not make its
            # sender the customer: the mail opens a case of its own, under who really wrote it.
            meta["thread_refused"] = {"by": thread.by, "reason": refusal}
        else:
            target = thread.conversation
            meta["threaded_by"] = thread.by
    interaction = services.receive_message(
        customer=sender,
        channel=channel,
        external_id=event.external_id,
        text=parsed.text or _("(This email has no text.)"),
        html=parsed.html,
        meta=meta,
        conversation=target,
        new_conversation=True,
    )
    if interaction.meta.get("continuity") not in NEW_CASE_REASONS:
        new_items.forget_failures()  # it continued a case, which routing may have moved: an agent may be free now
    store_attachments(interaction=interaction, parsed=parsed, limit=attachment_limit(channel))
    if parsed.message_id:
        reference = MessageReference(
            message_id=parsed.message_id,
            direction=MessageReference.Direction.INBOUND,
            conversation_id=interaction.conversation_id,
            interaction_id=interaction.pk,  # the id: the instance's descriptor costs every mail, nothing reads it
        )
        if inbound_bulk.active():
            inbound_bulk.defer_create(reference)  # inserted with the batch's entries
        else:
            reference.save()
        threads.note_reference(message_id=parsed.message_id, conversation=interaction.conversation)
    if (
        not automatic
        and target is None
        and acknowledges(channel)
        and may_acknowledge(parsed, authentication=authentication, sender=sender)
    ):
        acknowledge(interaction=interaction, parsed=parsed)
    return interaction


def thread_refusal(*, thread: threads.Thread, sender: Customer, authentication: Authentication) -> str:
    """Why the mail must not join the conversation its markers point at ("" when it may)."""
    if authentication.forged:
        return "dmarc-fail"
    if thread.conversation.customer_id != sender.pk:
        return "not-the-customer"
    return ""


def acknowledges(channel: Channel) -> bool:
    """Whether the channel acknowledges new cases at all (an `acknowledgement` text): asked before `may_acknowledge`,
    whose verified-identity read was one statement per new case on every channel without one."""
    return bool(channel.config.get("acknowledgement"))


def may_acknowledge(parsed: ParsedMail, *, authentication: Authentication, sender: Customer) -> bool:
    """Acknowledge only senders we can believe: their domain vouches for the mail (DMARC, else SPF/DKIM), or the
    address is a verified identity of theirs. Anything else may be a forged From aiming our mail at a victim."""
    if authentication.forged or not parsed.from_address:
        return False
    if authentication.authenticated:
        return True
    try:
        address = normalize_email(parsed.from_address)
    except ValidationError:
        return False
    return Identity.objects.filter(customer=sender, kind=Identity.Kind.EMAIL, address=address, verified=True).exists()


def pending_parents(event: InboundEvent, parsed: ParsedMail) -> QuerySet[InboundEvent]:
    """The stored, not yet processed (nor dead) messages of the channel that this one refers to."""
    referenced = [*parsed.in_reply_to, *parsed.references][-50:]
    return InboundEvent.objects.filter(
        channel_id=event.channel_id,
        external_id__in=referenced or [""],
        processed_at__isnull=True,
        dead_lettered_at__isnull=True,
    ).exclude(pk__in=[event.pk, *processed_in_batch()])


# The events whose ancestors are being processed right now, in this thread: a References loop (A cites B, B cites
# A) or a very long chain must end.
_ancestry: ContextVar[tuple[int, ...]] = ContextVar("mail_ancestry", default=())
MAX_ANCESTRY = 20


def process_parents_first(event: InboundEvent, parsed: ParsedMail) -> None:
    """Wait for the messages this one answers, or process them here when nobody has them.

    Called on a retried event, which the worker runs first in its batch (no customer or conversation lock is held
    yet, so waiting for another batch's row locks cannot deadlock on them), and on every event in embedded mode.
    After the wait (READ COMMITTED re-checks the filter) what is still pending was waiting for its turn: it is
    processed now, in this transaction, its own parents first (it counts as retried), so a thread of replies
    stored newest first still threads and nothing re-enters the task.
    """
    ancestry = _ancestry.get()
    if not (parsed.in_reply_to or parsed.references) or len(ancestry) >= MAX_ANCESTRY:
        return
    skip = {event.pk, *ancestry, *processed_in_batch()}
    if not threads.may_have_pending_parents(parsed, channel=event.channel, skip=skip):
        return  # the batch read this mail's parents: none is waiting
    token = _ancestry.set((*ancestry, event.pk))
    try:
        parents = pending_parents(event, parsed).exclude(pk__in=ancestry)
        for parent in parents.select_for_update(of=("self",)).select_related("channel__queue"):
            parent.attempts = max(parent.attempts, 2)  # in memory only: "retried", so it does not defer either
            made = process_one(parent)
            note_processed_in_batch(event_id=parent.pk, interaction=made)  # marked processed with its batch
    finally:
        _ancestry.reset(token)


def sender_address(parsed: ParsedMail, *, authentication: Authentication | None = None) -> tuple[str, str]:
    """The identity a mail's sender resolves to; mail without a usable From is kept under an external identity.

    A mail whose DMARC check failed never resolves to an existing verified email identity: whoever wrote it is not
    shown as that customer. It is filed under an unverified stand-in identity instead."""
    try:
        address = normalize_email(parsed.from_address)
    except ValidationError:
        parsed.problems.append(f"no valid sender address ({parsed.header('from') or 'missing'})")
        return Identity.Kind.EXTERNAL, f"email-sender:{parsed.header('from') or 'unknown'}"[:200]
    if authentication is not None and authentication.forged:
        verified = Identity.objects.filter(kind=Identity.Kind.EMAIL, address=address, verified=True)
        if verified.exists():
            return Identity.Kind.EXTERNAL, f"unverified-email:{address}"[:200]
    return Identity.Kind.EMAIL, address


def mail_meta(parsed: ParsedMail, *, automatic: str, authentication: Authentication) -> dict[str, Any]:
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
        "authentication": authentication.as_meta(),
    }
    if authentication.forged:
        meta["sender_unverified"] = True
    if automatic:
        meta["automatic"] = automatic
    too_large = parsed.header(TOO_LARGE_HEADER)
    if too_large:
        meta["too_large"] = too_large
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
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=interaction.conversation_id)
        # A machine's answer: the customer still waits for a person, so the first-response clock keeps running.
        reply = outbound.queue_outbound(
            conversation=conversation,
            channel=channel,
            text=str(text),
            meta={"auto_reply": True, "to": parsed.from_address},
            counts_as_response=False,
        )
    return reply
