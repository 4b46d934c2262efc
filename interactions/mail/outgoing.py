"""The email sender: an agent's reply (or an acknowledgement) over SMTP through Django's email backend.

Idempotency: the Message-ID is derived from the interaction's idempotency key, and the interaction notes
`smtp.accepted_at` as soon as the SMTP server has taken the message. A retried task (the worker died after the
server's 250, before the status was saved) finds that note and does not send again. A task that died during the SMTP
transaction itself cannot know whether the server kept the message: it sends again with the same Message-ID, which
receiving systems use to drop duplicates; losing a reply would be worse.
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.html import linebreaks
from django.utils.translation import gettext as _

from customers.models import Identity
from interactions.mail import threads
from interactions.mail.models import MessageReference
from interactions.models import Channel, Interaction
from interactions.outbound import DeliveryError, SendResult, TransientDeliveryError

AUTO_SUBMITTED = "auto-replied"


def message_id_for(interaction: Interaction) -> str:
    domain = threads.channel_address(interaction.channel).rpartition("@")[2] or "omnidesk.invalid"
    return f"{interaction.idempotency_key or interaction.pk}@{domain}"


def recipient_for(interaction: Interaction) -> str:
    """Where the reply goes: the explicit address, else the customer's last email address in this case."""
    if interaction.meta.get("to"):
        return str(interaction.meta["to"])
    last = (
        Interaction.objects.filter(
            conversation_id=interaction.conversation_id,
            customer_id=interaction.customer_id,
            direction=Interaction.Direction.INBOUND,
            channel__kind=Channel.Kind.EMAIL,
        )
        .exclude(meta__has_key="unknown_sender")
        .order_by("-id")
        .values_list("meta__from_address", flat=True)
        .first()
    )
    if last:
        return str(last)
    identity = (
        Identity.objects.filter(customer_id=interaction.customer_id, kind=Identity.Kind.EMAIL)
        .order_by("-verified", "id")
        .first()
    )
    if identity is None:
        raise DeliveryError("this customer has no email address")
    return identity.address


def thread_headers(interaction: Interaction) -> tuple[str, dict[str, str]]:
    """The subject and the In-Reply-To/References that keep the reply in the customer's thread."""
    references = list(
        MessageReference.objects.filter(conversation_id=interaction.conversation_id)
        .exclude(interaction_id=interaction.pk)
        .order_by("id")
        .values_list("message_id", "direction", "interaction__meta__subject")
    )
    headers: dict[str, str] = {}
    subject = ""
    inbound = [row for row in references if row[1] == MessageReference.Direction.INBOUND]
    if inbound:
        headers["In-Reply-To"] = f"<{inbound[-1][0]}>"
        subject = str(inbound[-1][2] or "")
    if references:
        headers["References"] = " ".join(f"<{row[0]}>" for row in references[-10:])
    tag = threads.subject_tag(interaction.conversation_id)
    if interaction.meta.get("auto_reply"):
        # An acknowledgement goes to whoever claimed to write: never echo their subject (it would make us a relay
        # for their text). A fixed subject and the case's reference only.
        acknowledged = str(interaction.channel.config.get("acknowledgement_subject") or _("We received your message"))
        return f"{acknowledged} {tag}", headers
    if not subject:
        subject = str(interaction.channel.config.get("subject", "Your request"))
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    if tag not in subject:
        subject = f"{subject} {tag}"
    return subject, headers


def smtp_connection(channel: Channel) -> Any:
    config, secrets = channel.config, channel.secrets
    return get_connection(
        settings.OMNIDESK_EMAIL_BACKEND,
        host=config.get("smtp_host", settings.EMAIL_HOST),
        port=int(config.get("smtp_port", settings.EMAIL_PORT)),
        username=config.get("smtp_username", settings.EMAIL_HOST_USER),
        password=secrets.get("smtp_password", settings.EMAIL_HOST_PASSWORD),
        use_tls=bool(config.get("smtp_use_tls", settings.EMAIL_USE_TLS)),
        use_ssl=bool(config.get("smtp_use_ssl", settings.EMAIL_USE_SSL)),
        timeout=settings.EMAIL_TIMEOUT,
    )


def build_message(interaction: Interaction, *, to: str, message_id: str) -> EmailMultiAlternatives:
    channel = interaction.channel
    subject, headers = thread_headers(interaction)
    headers["Message-ID"] = f"<{message_id}>"
    if interaction.meta.get("auto_reply"):
        headers["Auto-Submitted"] = AUTO_SUBMITTED
        headers["X-Auto-Response-Suppress"] = "All"
    message = EmailMultiAlternatives(
        subject=subject,
        body=interaction.text,
        from_email=str(channel.config.get("from") or threads.channel_address(channel)),
        to=[to],
        reply_to=[threads.reply_address(channel, interaction.conversation_id)],
        headers=headers,
    )
    message.attach_alternative(linebreaks(interaction.text, autoescape=True), "text/html")
    for attachment in interaction.attachments.exclude(file=""):
        with attachment.file.open("rb") as handle:
            message.attach(attachment.filename, handle.read(), attachment.content_type or None)
    return message


def note_smtp_state(interaction: Interaction, **state: str) -> None:
    with transaction.atomic():
        locked = Interaction.objects.select_for_update().get(pk=interaction.pk)
        locked.meta = {**locked.meta, "smtp": {**locked.meta.get("smtp", {}), **state}}
        locked.save(update_fields=["meta"])
    interaction.meta = locked.meta


def send_email(interaction: Interaction) -> SendResult:
    """Registered sender for email channels. Raises TransientDeliveryError on 4xx and network errors, DeliveryError
    on 5xx refusals."""
    message_id = message_id_for(interaction)
    smtp_state = interaction.meta.get("smtp", {})
    if smtp_state.get("accepted_at"):
        return SendResult(external_id=message_id, meta={"message_id": message_id})
    to = recipient_for(interaction)
    message = build_message(interaction, to=to, message_id=message_id)
    note_smtp_state(interaction, sending_at=timezone.now().isoformat(), message_id=message_id)
    try:
        smtp_connection(interaction.channel).send_messages([message])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _text in error.recipients.values()]
        detail = "; ".join(f"{code} {text!r}" for code, text in error.recipients.values())
        if all(500 <= code < 600 for code in codes):
            raise DeliveryError(f"SMTP refused the recipient: {detail}") from error
        raise TransientDeliveryError(f"SMTP deferred the recipient: {detail}") from error
    except smtplib.SMTPResponseException as error:
        text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        if 500 <= error.smtp_code < 600:
            raise DeliveryError(f"SMTP {error.smtp_code}: {text}") from error
        raise TransientDeliveryError(f"SMTP {error.smtp_code}: {text}") from error
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise TransientDeliveryError(f"SMTP connection failed: {error}") from error
    note_smtp_state(interaction, accepted_at=timezone.now().isoformat())
    MessageReference.objects.get_or_create(
        interaction=interaction,
        message_id=message_id.lower(),
        defaults={"direction": MessageReference.Direction.OUTBOUND, "conversation_id": interaction.conversation_id},
    )
    return SendResult(external_id=message_id, meta={"message_id": message_id, "to": to, "subject": message.subject})
