"""Business verbs shared by the messaging providers: take in a parsed message, apply a receipt, record the
provider's id of a sent message, the WhatsApp customer-service window and approved templates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Identity
from customers.services import lock_customer_by_identity, locked_in_batch
from interactions import inbound_batch, outbound
from interactions.announcements import announce_delivery_status
from interactions.inbound_batch import Sender, known_absent
from interactions.messaging.models import PendingReceipt
from interactions.models import Attachment, Channel, Conversation, Interaction
from interactions.outbound import SendResult
from interactions.services import receive_message
from reporting import surveys  # rep
from reporting import transitions as reporting_transitions  # rep

WHATSAPP_WINDOW = timedelta(hours=24)
# Phone numbers are one person whether they write by SMS or WhatsApp.
NUMBER_KINDS = (Identity.Kind.PHONE, Identity.Kind.WHATSAPP)


@dataclass(frozen=True)
class Media:
    """A file announced by the provider: metadata now, the bytes fetched later by a task (see media.py)."""

    filename: str
    content_type: str = ""
    size: int = 0
    url: str = ""  # where the provider serves it (Twilio MediaUrl, Messenger payload.url…)
    media_id: str = ""  # or the provider's id to resolve first (WhatsApp media id, Telegram file_id)


@dataclass(frozen=True)
class ParsedMessage:
    """One inbound message, whatever the provider. `meta` holds location, contacts, reply-to ids…"""

    identity_kind: str
    address: str
    external_id: str
    text: str
    display_name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    media: list[Media] = field(default_factory=list)


def sender_of(message: ParsedMessage) -> Sender:
    """Who wrote `message`, for the batch's prelude (interactions/inbound_batch.py); the parsed message rides along
    for the processor (`inbound_batch.prepared_for`)."""
    return Sender(
        message.identity_kind, message.address, message.display_name, prepared=message, message_id=message.external_id
    )


def lock_customer_for_sender(*, kind: str, address: str, display_name: str = "") -> Customer:
    """The customer behind a sender, row-locked. A number first seen on WhatsApp joins the customer who already has
    it as a phone (and the other way round): the same E.164 number is the same person on both channels."""
    if kind in NUMBER_KINDS:
        address = inbound_batch.normalized_address(kind, address)
        if (locked := locked_in_batch(kind=kind, address=address)) is not None:
            return locked  # the batch's prelude resolved and locked it (a number known in its kind, or new in both)
        known = (
            Customer.objects.select_for_update(of=("self",))
            .filter(identities__kind=kind, identities__address=address, merged_into__isnull=True)
            .first()
        )
        if known is not None:
            return known  # the common case: one query
        sibling = Identity.objects.filter(kind__in=NUMBER_KINDS, address=address).exclude(kind=kind).first()
        if sibling is not None:
            try:
                with transaction.atomic():
                    Identity.objects.create(customer_id=sibling.customer_id, kind=kind, address=address)
            except IntegrityError:
                pass  # another worker linked it at the same moment
        # No identity of this kind a moment ago and no sibling: a new person (a concurrent creation is caught there).
        return lock_customer_by_identity(
            kind=kind, address=address, display_name=display_name, normalized=True, known_new=sibling is None
        )
    return lock_customer_by_identity(kind=kind, address=address, display_name=display_name)


def receive_provider_message(*, channel: Channel, message: ParsedMessage) -> Interaction:
    """Append `message` to the sender's timeline; its media are recorded and fetched after commit. Idempotent."""
    # The fetch task runs this module's verbs (messaging.tasks imports it): the task is looked up when used.
    from interactions.messaging.tasks import fetch_attachment_task

    if not known_absent(channel_id=channel.pk, message_id=message.external_id):
        existing = Interaction.objects.filter(channel=channel, external_id=message.external_id).first()
        if existing is not None:
            return existing
    customer = lock_customer_for_sender(
        kind=message.identity_kind, address=message.address, display_name=message.display_name
    )
    text = message.text or (_("(attachment)") if message.media else "")
    meta = {"from": message.address, **message.meta}
    if message.media:
        meta["media"] = [{"filename": m.filename, "content_type": m.content_type} for m in message.media]
    # rep: a digit reply to a pending survey answers it instead of opening a case.
    if answer := surveys.answer_from_reply(
        customer=customer, channel=channel, external_id=message.external_id, text=text, meta=meta
    ):
        return answer
    interaction = receive_message(
        customer=customer, channel=channel, external_id=message.external_id, text=text[:10_000], meta=meta
    )
    for item in message.media:
        attachment = Attachment.objects.create(
            interaction=interaction,
            filename=item.filename[:255],
            content_type=item.content_type[:255],
            size=item.size,
            content_id=item.media_id[:255],
            source_url=item.url[:2000],
        )
        transaction.on_commit(partial(fetch_attachment_task.delay, attachment.pk))
    return interaction


def _lock_provider_id(channel: Channel, external_id: str) -> None:
    """Serialize "receipt arrives" with "sender records the provider id" for one message (see PendingReceipt)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [channel.pk, external_id])


def apply_receipt(*, channel: Channel, external_id: str, status: str, error: str = "") -> Interaction | None:
    """A provider's delivery receipt for one of our messages. Duplicates and disorder are harmless: statuses only move
    forward. A receipt for a message whose provider id is not recorded yet waits as a PendingReceipt."""
    with transaction.atomic():
        _lock_provider_id(channel, external_id)
        interaction = Interaction.objects.filter(
            channel=channel, external_id=external_id, direction=Interaction.Direction.OUTBOUND
        ).first()
        if interaction is None:
            PendingReceipt.objects.create(channel=channel, external_id=external_id, status=status, error=error)
            return None
        outbound.record_delivery_status(interaction=interaction, status=status, error=error)
    return interaction


def record_provider_id(*, interaction: Interaction, external_id: str) -> None:
    """Keep the provider's id of a sent message at once (a retried task then never sends again) and apply the
    receipts that arrived before it."""
    with transaction.atomic():
        _lock_provider_id(interaction.channel, external_id)
        Interaction.objects.filter(pk=interaction.pk, external_id__isnull=True).update(external_id=external_id)
        interaction.external_id = external_id
        waiting = PendingReceipt.objects.filter(channel=interaction.channel, external_id=external_id).order_by("pk")
        for receipt in waiting:
            outbound.record_delivery_status(interaction=interaction, status=receipt.status, error=receipt.error)
        waiting.delete()


def prune_pending_receipts(*, older_than: timedelta) -> int:
    deleted, _by_model = PendingReceipt.objects.filter(received_at__lt=timezone.now() - older_than).delete()
    return deleted


def recipient_of(interaction: Interaction, identity_kinds: tuple[str, ...]) -> str:
    """Where a reply goes: the address the customer last wrote from on this channel, else their identity."""
    last = (
        Interaction.objects.filter(
            customer_id=interaction.customer_id, channel=interaction.channel, direction=Interaction.Direction.INBOUND
        )
        .order_by("-created_at", "-id")
        .values_list("meta", flat=True)
        .first()
    )
    if last and last.get("from"):
        return str(last["from"])
    identity = (
        Identity.objects.filter(customer_id=interaction.customer_id, kind__in=identity_kinds).order_by("pk").first()
    )
    if identity is None:
        raise outbound.DeliveryError(_("This customer has no address on this channel."))
    return identity.address


# --- the WhatsApp customer-service window -------------------------------------------------------------------------


def whatsapp_window_closes_at(*, customer_id: int, channel: Channel) -> datetime | None:
    """When the 24-hour window opened by the customer's last message on `channel` closes; None if never opened."""
    last = (
        Interaction.objects.filter(customer_id=customer_id, channel=channel, direction=Interaction.Direction.INBOUND)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return last + WHATSAPP_WINDOW if last else None


def window_closed_error() -> str:
    return _("Outside WhatsApp's 24-hour window: only an approved template can be sent.")


def whatsapp_window_open(*, customer_id: int, channel: Channel, now: datetime | None = None) -> bool:
    closes_at = whatsapp_window_closes_at(customer_id=customer_id, channel=channel)
    return closes_at is not None and (now or timezone.now()) < closes_at


def check_free_text_reply(*, conversation: Conversation, channel: Channel) -> None:
    """Refuse free text on WhatsApp outside the window: only an approved template may be sent then."""
    if channel.kind == Channel.Kind.WHATSAPP and not whatsapp_window_open(
        customer_id=conversation.customer_id, channel=channel
    ):
        raise ValidationError(
            _(
                "The customer's last WhatsApp message is more than 24 hours old: WhatsApp only accepts an approved"
                " template now."
            ),
            code="whatsapp_window_closed",
        )


def approved_templates(channel: Channel) -> list[dict[str, str]]:
    """The channel's approved templates, from its config: [{"name", "language", "text"}]."""
    templates = channel.config.get("templates") or []
    return [
        {"name": str(t["name"]), "language": str(t.get("language", "en")), "text": str(t.get("text", t["name"]))}
        for t in templates
        if isinstance(t, dict) and t.get("name")
    ]


def send_template(*, conversation: Conversation, author: Any, template_name: str) -> Interaction:
    """Send one of the channel's approved templates (the only thing WhatsApp accepts outside the window)."""
    channel = conversation.channel
    template = next((t for t in approved_templates(channel) if t["name"] == template_name), None)
    if template is None:
        raise ValidationError(_("Pick one of the approved templates."), code="unknown_template")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            raise ValidationError(_("This conversation is resolved."), code="conversation_resolved")
        # An agent chose the template: it answers the customer as a free-text reply would (the SLA clocks stop).
        interaction = outbound.queue_outbound(
            conversation=conversation,
            channel=channel,
            text=template["text"],
            author=author,
            meta={"template": {"name": template["name"], "language": template["language"]}},
            counts_as_response=True,
        )
        reporting_transitions.agent_replied(interaction=interaction)  # rep: reporting event
    return interaction


def retry_delivery(*, interaction: Interaction) -> Interaction:
    """An agent sends a failed outbound message again: a fresh send, with a new idempotency key."""
    with transaction.atomic():
        locked = Interaction.objects.select_for_update().get(pk=interaction.pk)
        if locked.direction != Interaction.Direction.OUTBOUND or locked.status != Interaction.Status.FAILED:
            raise ValidationError(_("Only a failed message can be sent again."), code="not_failed")
        locked.status = Interaction.Status.QUEUED
        locked.status_at = timezone.now()
        locked.error = ""
        locked.external_id = None
        locked.idempotency_key = uuid.uuid4().hex
        locked.save(update_fields=["status", "status_at", "error", "external_id", "idempotency_key"])
        announce_delivery_status(interaction=locked)
        outbound.enqueue_delivery(interaction=locked)
    return locked


def send_whatsapp(interaction: Interaction) -> SendResult:
    """WhatsApp goes through Meta's Cloud API or through Twilio, as the channel is configured."""
    # Each provider's module registers this sender and imports this module's verbs: the sender looks them up late.
    from interactions.messaging import meta, twilio

    if interaction.channel.config.get("provider") == "twilio":
        return twilio.send(interaction)
    return meta.send(interaction)
