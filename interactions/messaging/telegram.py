"""Telegram bots: Update objects in (webhook with a secret token), Bot API sendMessage out.

An Update is {"update_id", "message": {"message_id", "from": {"id", "first_name", "last_name", "username"},
"chat": {"id", "type"}, "date", "text" | "caption" + "photo": [PhotoSize] | "document" | "voice" | "video" |
"location": {"latitude", "longitude"} | "contact": {"phone_number", "first_name"}, "reply_to_message"}}.
Telegram sends no delivery receipts: a message the Bot API accepted is "sent".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from customers.models import Identity
from interactions.adapters import InvalidPayload
from interactions.inbound_batch import Sender
from interactions.messaging import http
from interactions.messaging.services import (
    Media,
    ParsedMessage,
    receive_provider_message,
    recipient_of,
    record_provider_id,
    sender_of,
)
from interactions.models import Channel, InboundEvent, Interaction
from interactions.outbound import DeliveryError, SendResult

FILE_KINDS = ("document", "voice", "audio", "video", "animation", "sticker")


def events_from_update(update: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise InvalidPayload("a Telegram update without update_id")
    return [(str(update["update_id"]), update)]


def parse_message(message: dict[str, Any]) -> ParsedMessage:
    sender = message.get("from") or {}
    chat = message.get("chat") or {}
    if "id" not in sender or "id" not in chat:
        raise InvalidPayload("a Telegram message without from.id or chat.id")
    meta: dict[str, Any] = {"provider": "telegram", "chat_id": chat["id"]}
    media: list[Media] = []
    if message.get("photo"):
        largest = max(message["photo"], key=lambda p: p.get("file_size", 0))
        media.append(
            Media(
                filename="photo.jpg",
                content_type="image/jpeg",
                size=largest.get("file_size", 0),
                media_id=largest["file_id"],
            )
        )
    for kind in FILE_KINDS:
        item = message.get(kind)
        if isinstance(item, dict) and item.get("file_id"):
            media.append(
                Media(
                    filename=str(item.get("file_name") or kind),
                    content_type=str(item.get("mime_type", "")),
                    size=int(item.get("file_size") or 0),
                    media_id=str(item["file_id"]),
                )
            )
    if message.get("location"):
        meta["location"] = {k: message["location"].get(k) for k in ("latitude", "longitude")}
    if message.get("contact"):
        contact = message["contact"]
        meta["contacts"] = [{"name": contact.get("first_name", ""), "phones": [contact.get("phone_number", "")]}]
    if message.get("reply_to_message"):
        meta["reply_to"] = f"{chat['id']}:{message['reply_to_message'].get('message_id')}"
    name = " ".join(part for part in (sender.get("first_name"), sender.get("last_name")) if part)
    text = str(message.get("text") or message.get("caption") or "")
    if not text and meta.get("contacts"):
        text = meta["contacts"][0]["name"]
    return ParsedMessage(
        identity_kind=Identity.Kind.TELEGRAM,
        address=str(sender["id"]),
        external_id=f"{chat['id']}:{message['message_id']}",
        text=text,
        display_name=name or str(sender.get("username", "")),
        meta=meta,
        media=media,
    )


def sender(event: InboundEvent) -> Sender | None:
    """Who wrote the event, for the batch's prelude: None for what makes no timeline entry."""
    message = event.payload.get("message")
    return sender_of(parse_message(message)) if isinstance(message, dict) else None


def process_event(event: InboundEvent) -> Interaction | None:
    message = event.payload.get("message")
    if not isinstance(message, dict):
        return None  # edited messages, callback queries, member updates…: stored, nothing for the timeline
    return receive_provider_message(channel=event.channel, message=parse_message(message))


def bot_url(channel: Channel, method: str) -> str:
    token = str(channel.secrets.get("bot_token", ""))
    if not token:
        raise DeliveryError("this Telegram channel has no bot token")
    base = str(channel.config.get("api_base") or settings.OMNIDESK_TELEGRAM_API_BASE).rstrip("/")
    return f"{base}/bot{token}/{method}"


def send(interaction: Interaction) -> SendResult:
    """POST /bot<token>/sendMessage. Telegram takes no idempotency key: the recorded id guards retries."""
    if interaction.external_id:
        return SendResult(external_id=interaction.external_id)
    chat_id = recipient_of(interaction, (Identity.Kind.TELEGRAM,))
    answer = http.call(
        "POST",
        bot_url(interaction.channel, "sendMessage"),
        provider="Telegram",
        json={"chat_id": chat_id, "text": interaction.text},
    )
    result = answer.get("result") or {}
    if not answer.get("ok") or "message_id" not in result:
        raise DeliveryError(f"Telegram refused the message: {answer.get('description', '')}")
    message_id = f"{(result.get('chat') or {}).get('id', chat_id)}:{result['message_id']}"
    record_provider_id(interaction=interaction, external_id=message_id)
    return SendResult(external_id=message_id, meta={"provider": "telegram"})
