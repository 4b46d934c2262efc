"""Meta: WhatsApp Cloud API, Messenger and Instagram — one webhook format family, one Graph API.

WhatsApp: {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
"metadata", "contacts": [{"profile": {"name"}, "wa_id"}], "messages": [{"from", "id": "wamid…", "type", "text" |
"image" | "location" | "contacts" …, "context": {"id"}}], "statuses": [{"id", "status", "errors"}]}}]}]}.
Messenger / Instagram: {"object": "page" | "instagram", "entry": [{"messaging": [{"sender": {"id"}, "recipient",
"timestamp", "message": {"mid", "text", "attachments": [{"type", "payload": {"url"}}], "reply_to": {"mid"}} |
"delivery": {"mids", "watermark"} | "read": {"watermark"}}]}]}.
One request may batch many messages and statuses: each becomes its own InboundEvent, keyed by its own id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from customers.models import Identity
from interactions import outbound
from interactions.adapters import InvalidPayload
from interactions.inbound_batch import Sender
from interactions.messaging import http
from interactions.messaging.services import (
    Media,
    ParsedMessage,
    apply_receipt,
    receive_provider_message,
    recipient_of,
    record_provider_id,
    sender_of,
    whatsapp_window_open,
    window_closed_error,
)
from interactions.models import Channel, InboundEvent, Interaction
from interactions.outbound import DeliveryError, SendResult

STATUSES = {
    "sent": Interaction.Status.SENT,
    "delivered": Interaction.Status.DELIVERED,
    "read": Interaction.Status.READ,
    "failed": Interaction.Status.FAILED,
}
IDENTITY_KINDS: dict[str, str] = {
    Channel.Kind.WHATSAPP: Identity.Kind.WHATSAPP,
    Channel.Kind.MESSENGER: Identity.Kind.MESSENGER,
    Channel.Kind.INSTAGRAM: Identity.Kind.INSTAGRAM,
}
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


# The webhook "object" each channel kind receives, and the config keys naming the account a channel is bound to.
OBJECTS: dict[str, str] = {
    Channel.Kind.WHATSAPP: "whatsapp_business_account",
    Channel.Kind.MESSENGER: "page",
    Channel.Kind.INSTAGRAM: "instagram",
}
ACCOUNT_KEYS: dict[str, tuple[str, ...]] = {
    Channel.Kind.WHATSAPP: ("phone_number_id",),
    Channel.Kind.MESSENGER: ("page_id",),
    Channel.Kind.INSTAGRAM: ("ig_user_id", "page_id"),
}


def channel_accounts(channel: Channel) -> set[str]:
    """The Meta ids this channel answers for: its WhatsApp phone number id, or its page / Instagram account id."""
    return {str(channel.config.get(key) or "") for key in ACCOUNT_KEYS.get(channel.kind, ())} - {""}


def keep_own_entries(body: Any, *, channel: Channel) -> tuple[Any, int]:
    """The body with only the parts addressed to this channel's own account, and how many parts were dropped.

    One Meta app signs the webhooks of every number and page it serves with the same app secret, so a valid signature
    does not prove that an event is for this channel: a WhatsApp change counts only when its metadata names the
    channel's phone_number_id, a Messenger or Instagram entry only when its id is the channel's page or account id.
    A channel without its id configured accepts nothing (fail closed). A body of another object is dropped whole.
    """
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        return body, 0  # not a Meta envelope: parse_or_keep keeps it for an admin to see
    entries = [entry for entry in body["entry"] if isinstance(entry, dict)]
    dropped = len(body["entry"]) - len(entries)
    accounts = channel_accounts(channel)
    if body.get("object") != OBJECTS.get(channel.kind):
        return {**body, "entry": []}, max(len(body["entry"]), 1)
    kept: list[dict[str, Any]] = []
    for entry in entries:
        if channel.kind == Channel.Kind.WHATSAPP:
            changes = [c for c in entry.get("changes") or [] if isinstance(c, dict)]
            own = [c for c in changes if _phone_number_id(c) in accounts]
            dropped += len(entry.get("changes") or []) - len(own)
            if own:
                kept.append({**entry, "changes": own})
        elif str(entry.get("id", "")) in accounts:
            kept.append(entry)
        else:
            dropped += 1
    return {**body, "entry": kept}, dropped


def _phone_number_id(change: dict[str, Any]) -> str:
    value = change.get("value")
    metadata = value.get("metadata") if isinstance(value, dict) else None
    return str(metadata.get("phone_number_id", "")) if isinstance(metadata, dict) else ""


def events_from_body(body: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        raise InvalidPayload("a Meta webhook without entry[]")
    events: list[tuple[str, dict[str, Any]]] = []
    for entry in body["entry"]:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            contacts = {c.get("wa_id"): c for c in value.get("contacts") or []}
            for message in value.get("messages") or []:
                payload = {"whatsapp_message": message, "contact": contacts.get(message.get("from"), {})}
                events.append((str(message["id"]), payload))
            for status in value.get("statuses") or []:
                events.append((f"status:{status['id']}:{status['status']}", {"whatsapp_status": status}))
        for item in entry.get("messaging") or []:
            sender = str((item.get("sender") or {}).get("id", ""))
            if "message" in item:
                events.append((str(item["message"]["mid"]), {"messaging": item}))
            elif "delivery" in item:
                for mid in item["delivery"].get("mids") or []:
                    events.append(
                        (f"status:{mid}:delivered", {"messaging_status": {"mid": mid, "status": "delivered"}})
                    )
            elif "read" in item:
                watermark = item["read"].get("watermark", item.get("timestamp"))
                events.append((f"read:{sender}:{watermark}", {"messaging_read": item}))
    return events


def parse_whatsapp(message: dict[str, Any], contact: dict[str, Any]) -> ParsedMessage:
    kind = message.get("type", "text")
    meta: dict[str, Any] = {"provider": "meta", "type": kind}
    text = ""
    media: list[Media] = []
    if kind == "text":
        text = str(message.get("text", {}).get("body", ""))
    elif kind in MEDIA_TYPES:
        item = message.get(kind) or {}
        text = str(item.get("caption", ""))
        content_type = str(item.get("mime_type", ""))
        extension = content_type.split(";")[0].rsplit("/", 1)[-1] if content_type else "bin"
        filename = str(item.get("filename") or f"{kind}.{extension}")
        media.append(Media(filename=filename, content_type=content_type, media_id=str(item.get("id", ""))))
    elif kind == "location":
        location = message.get("location") or {}
        meta["location"] = {k: location.get(k) for k in ("latitude", "longitude", "name", "address")}
    elif kind == "contacts":
        meta["contacts"] = [
            {
                "name": (c.get("name") or {}).get("formatted_name", ""),
                "phones": [p.get("phone", "") for p in c.get("phones") or []],
            }
            for c in message.get("contacts") or []
        ]
        text = ", ".join(c["name"] for c in meta["contacts"])
    elif kind in ("button", "interactive"):
        text = str((message.get("button") or {}).get("text", "")) or str(message.get("interactive", ""))
    if (message.get("context") or {}).get("id"):
        meta["reply_to"] = message["context"]["id"]
    return ParsedMessage(
        identity_kind=Identity.Kind.WHATSAPP,
        address="+" + str(message["from"]).lstrip("+"),
        external_id=str(message["id"]),
        text=text,
        display_name=str((contact.get("profile") or {}).get("name", "")),
        meta=meta,
        media=media,
    )


def parse_messaging(item: dict[str, Any], kind: str) -> ParsedMessage:
    message = item["message"]
    meta: dict[str, Any] = {"provider": "meta"}
    media: list[Media] = []
    for index, attachment in enumerate(message.get("attachments") or []):
        payload = attachment.get("payload") or {}
        if attachment.get("type") == "location" and payload.get("coordinates"):
            coordinates = payload["coordinates"]
            meta["location"] = {"latitude": coordinates.get("lat"), "longitude": coordinates.get("long")}
        elif payload.get("url"):
            media.append(Media(filename=f"{attachment.get('type', 'file')}-{index}", url=str(payload["url"])))
    if (message.get("reply_to") or {}).get("mid"):
        meta["reply_to"] = message["reply_to"]["mid"]
    return ParsedMessage(
        identity_kind=IDENTITY_KINDS[kind],
        address=str(item["sender"]["id"]),
        external_id=str(message["mid"]),
        text=str(message.get("text", "")),
        meta=meta,
        media=media,
    )


def mark_read_up_to(*, channel: Channel, item: dict[str, Any]) -> None:
    """Messenger's read receipt names no message: everything we sent that person up to the watermark is read."""
    watermark = datetime.fromtimestamp(int(item["read"]["watermark"]) / 1000, tz=UTC)
    sender = str(item["sender"]["id"])
    identity = Identity.objects.filter(kind=IDENTITY_KINDS[channel.kind], address=sender).first()
    if identity is None:
        return
    unread = Interaction.objects.filter(
        channel=channel,
        customer_id=identity.customer_id,
        direction=Interaction.Direction.OUTBOUND,
        status__in=[Interaction.Status.SENT, Interaction.Status.DELIVERED],
        created_at__lte=watermark,
    )
    for interaction in unread:
        outbound.record_delivery_status(interaction=interaction, status=Interaction.Status.READ)


def sender(event: InboundEvent) -> Sender | None:
    """Who wrote the event, for the batch's prelude: None for receipts, reads and echoes."""
    payload = event.payload
    if "whatsapp_message" in payload:
        return sender_of(parse_whatsapp(payload["whatsapp_message"], payload.get("contact") or {}))
    if "messaging" in payload and not payload["messaging"]["message"].get("is_echo"):
        return sender_of(parse_messaging(payload["messaging"], event.channel.kind))
    return None


def process_event(event: InboundEvent) -> Interaction | None:
    payload, channel = event.payload, event.channel
    if "whatsapp_message" in payload:
        return receive_provider_message(
            channel=channel, message=parse_whatsapp(payload["whatsapp_message"], payload.get("contact") or {})
        )
    if "whatsapp_status" in payload:
        status = payload["whatsapp_status"]
        if status.get("status") not in STATUSES:
            return None
        error = "; ".join(str(e.get("title") or e.get("message") or e) for e in status.get("errors") or [])
        return apply_receipt(channel=channel, external_id=status["id"], status=STATUSES[status["status"]], error=error)
    if "messaging" in payload:
        if payload["messaging"]["message"].get("is_echo"):
            return None  # our own message, echoed back to the page
        return receive_provider_message(channel=channel, message=parse_messaging(payload["messaging"], channel.kind))
    if "messaging_status" in payload:
        receipt = payload["messaging_status"]
        return apply_receipt(channel=channel, external_id=receipt["mid"], status=STATUSES[receipt["status"]])
    if "messaging_read" in payload:
        mark_read_up_to(channel=channel, item=payload["messaging_read"])
        return None
    raise InvalidPayload("an unknown Meta event")


def graph_base(channel: Channel) -> str:
    return str(channel.config.get("api_base") or settings.OMNIDESK_META_GRAPH_BASE).rstrip("/")


def send(interaction: Interaction) -> SendResult:
    """WhatsApp: POST /{phone number id}/messages; Messenger and Instagram: POST /{page or IG id}/messages."""
    if interaction.external_id:
        return SendResult(external_id=interaction.external_id)  # sent by an earlier attempt of this task
    channel = interaction.channel
    token = str(channel.secrets.get("access_token", ""))
    if not token:
        raise DeliveryError("this Meta channel has no access token")
    to = recipient_of(interaction, (IDENTITY_KINDS[channel.kind],))
    if channel.kind == Channel.Kind.WHATSAPP:
        url = f"{graph_base(channel)}/{channel.config.get('phone_number_id', '')}/messages"
        template = interaction.meta.get("template")
        body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+")}
        if template:
            body |= {
                "type": "template",
                "template": {"name": template["name"], "language": {"code": template["language"]}},
            }
        else:
            if not whatsapp_window_open(customer_id=interaction.customer_id, channel=channel):
                raise DeliveryError(window_closed_error())
            body |= {"type": "text", "text": {"preview_url": False, "body": interaction.text}}
    else:
        account = channel.config.get("page_id") or channel.config.get("ig_user_id") or "me"
        url = f"{graph_base(channel)}/{account}/messages"
        body = {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": interaction.text}}
    answer = http.call("POST", url, provider="Meta", json=body, headers={"Authorization": f"Bearer {token}"})
    if channel.kind == Channel.Kind.WHATSAPP:
        message_id = str(((answer.get("messages") or [{}])[0]).get("id", ""))
    else:
        message_id = str(answer.get("message_id", ""))
    if not message_id:
        raise DeliveryError("Meta accepted the message without an id")
    record_provider_id(interaction=interaction, external_id=message_id)
    return SendResult(external_id=message_id, meta={"provider": "meta"})
