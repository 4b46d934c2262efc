"""Sending the composer's files as provider media (issue 15, item 6): WhatsApp (Meta Cloud API), Messenger, Telegram.

Each channel family registers one sender per kind (interactions.outbound.register_sender). `install()` (from
AssistConfig.ready, after the messaging app registered its senders) registers, for these kinds, a sender that hands a
reply WITHOUT files to the family's own sender unchanged, and sends a reply WITH files by uploading each file to the
provider and sending it as media, the reply's text as the caption of the last one (Messenger, which has no captions,
gets the text as its own message). The provider's id of the last message is the reply's external id, so delivery
receipts and the "never twice" guard work as for text. Email needs nothing: its sender attaches stored files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from customers.models import Identity
from interactions import outbound
from interactions.messaging import http, meta, telegram
from interactions.messaging.services import recipient_of, record_provider_id, whatsapp_window_open, window_closed_error
from interactions.models import Attachment, Channel, Interaction
from interactions.outbound import DeliveryError, Sender, SendResult

TELEGRAM_CAPTION_MAX = 1024
# Media types WhatsApp shows inline as an image; any other file goes as a document (with its name).
WHATSAPP_IMAGE_TYPES = {"image/jpeg", "image/png"}


def _read(attachment: Attachment) -> bytes:
    with attachment.file.open("rb") as handle:
        return handle.read()


def _meta_token(channel: Channel) -> dict[str, str]:
    token = str(channel.secrets.get("access_token", ""))
    if not token:
        raise DeliveryError("this Meta channel has no access token")
    return {"Authorization": f"Bearer {token}"}


def send_whatsapp_media(interaction: Interaction, files: list[Attachment]) -> str:
    channel = interaction.channel
    if channel.config.get("provider") == "twilio":
        raise DeliveryError("WhatsApp through Twilio cannot send files from the desk")
    headers = _meta_token(channel)
    to = recipient_of(interaction, (Identity.Kind.WHATSAPP,)).lstrip("+")
    if not whatsapp_window_open(customer_id=interaction.customer_id, channel=channel):
        raise DeliveryError(window_closed_error())
    base = f"{meta.graph_base(channel)}/{channel.config.get('phone_number_id', '')}"
    message_id = ""
    for number, attachment in enumerate(files, start=1):
        uploaded = http.call(
            "POST",
            f"{base}/media",
            provider="Meta",
            data={"messaging_product": "whatsapp", "type": attachment.content_type},
            files={"file": (attachment.filename, _read(attachment), attachment.content_type)},
            headers=headers,
        )
        kind = "image" if attachment.content_type in WHATSAPP_IMAGE_TYPES else "document"
        media: dict[str, Any] = {"id": str(uploaded.get("id", ""))}
        if kind == "document":
            media["filename"] = attachment.filename
        if number == len(files) and interaction.text:
            media["caption"] = interaction.text
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind, kind: media}
        answer = http.call("POST", f"{base}/messages", provider="Meta", json=body, headers=headers)
        message_id = str(((answer.get("messages") or [{}])[0]).get("id", ""))
    return message_id


def send_messenger_media(interaction: Interaction, files: list[Attachment]) -> str:
    channel = interaction.channel
    headers = _meta_token(channel)
    to = recipient_of(interaction, (Identity.Kind.MESSENGER,))
    account = channel.config.get("page_id") or "me"
    base = f"{meta.graph_base(channel)}/{account}"
    message_id = ""
    for attachment in files:
        kind = "image" if attachment.content_type.startswith("image/") else "file"
        uploaded = http.call(
            "POST",
            f"{base}/message_attachments",
            provider="Meta",
            data={"message": f'{{"attachment": {{"type": "{kind}", "payload": {{"is_reusable": false}}}}}}'},
            files={"filedata": (attachment.filename, _read(attachment), attachment.content_type)},
            headers=headers,
        )
        payload = {"attachment_id": str(uploaded.get("attachment_id", ""))}
        body = {
            "recipient": {"id": to},
            "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": kind, "payload": payload}},
        }
        message_id = str(
            http.call("POST", f"{base}/messages", provider="Meta", json=body, headers=headers).get("message_id", "")
        )
    if interaction.text:
        body = {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": interaction.text}}
        message_id = str(
            http.call("POST", f"{base}/messages", provider="Meta", json=body, headers=headers).get("message_id", "")
        )
    return message_id


def send_telegram_media(interaction: Interaction, files: list[Attachment]) -> str:
    chat_id = recipient_of(interaction, (Identity.Kind.TELEGRAM,))
    message_id = ""
    for number, attachment in enumerate(files, start=1):
        data = {"chat_id": chat_id}
        if number == len(files) and interaction.text:
            data["caption"] = interaction.text[:TELEGRAM_CAPTION_MAX]
        answer = http.call(
            "POST",
            telegram.bot_url(interaction.channel, "sendDocument"),
            provider="Telegram",
            data=data,
            files={"document": (attachment.filename, _read(attachment), attachment.content_type)},
        )
        result = answer.get("result") or {}
        if not answer.get("ok") or "message_id" not in result:
            raise DeliveryError(f"Telegram refused the file: {answer.get('description', '')}")
        message_id = f"{(result.get('chat') or {}).get('id', chat_id)}:{result['message_id']}"
    return message_id


MEDIA_SENDERS: dict[str, Callable[[Interaction, list[Attachment]], str]] = {
    Channel.Kind.WHATSAPP: send_whatsapp_media,
    Channel.Kind.MESSENGER: send_messenger_media,
    Channel.Kind.TELEGRAM: send_telegram_media,
}


def with_files(kind: str, text_sender: Sender) -> Sender:
    """`text_sender` for replies without stored files (and templates); the media path for replies with files."""
    media_sender = MEDIA_SENDERS[kind]

    def send(interaction: Interaction) -> SendResult:
        files = list(interaction.attachments.exclude(file="").order_by("pk"))
        if not files or interaction.meta.get("template"):
            return text_sender(interaction)
        if interaction.external_id:
            return SendResult(external_id=interaction.external_id)  # sent by an earlier attempt of this task
        message_id = media_sender(interaction, files)
        if not message_id:
            raise DeliveryError("the provider accepted the files without a message id")
        record_provider_id(interaction=interaction, external_id=message_id)
        return SendResult(external_id=message_id, meta={"media_sent": len(files)})

    send.wraps = text_sender  # type: ignore[attr-defined]
    return send


def install() -> None:
    """Wrap the registered senders of the kinds that carry media (once: a second call keeps the first wrapping)."""
    for kind in MEDIA_SENDERS:
        current = outbound.SENDERS.get(kind)
        if current is None or hasattr(current, "wraps"):
            continue
        outbound.register_sender(kind, with_files(kind, current))
