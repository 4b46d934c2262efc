"""Twilio (SMS and WhatsApp through Twilio): webhook parameters in, Messages API out.

Inbound messages and status callbacks are both form POSTs signed with X-Twilio-Signature. A message carries
MessageSid, From, To, Body, NumMedia + MediaUrl<n>/MediaContentType<n>, Latitude/Longitude/Address/Label for a
location, ProfileName and OriginalRepliedMessageSid on WhatsApp. A status callback carries MessageSid and
MessageStatus (queued, sending, sent, delivered, read, undelivered, failed) and ErrorCode.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from customers.models import Identity
from interactions.adapters import InvalidPayload
from interactions.inbound_batch import Sender, prepared_for
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
    "undelivered": Interaction.Status.FAILED,
    "failed": Interaction.Status.FAILED,
    "canceled": Interaction.Status.FAILED,
}
INBOUND_STATUSES = {"", "received", "receiving"}


def events_from_params(params: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """The InboundEvents of one webhook request: (external id, payload)."""
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    if not sid:
        raise InvalidPayload("a Twilio webhook without MessageSid")
    status = params.get("MessageStatus", "")
    if status not in INBOUND_STATUSES:
        return [(f"status:{sid}:{status}", params)]
    return [(sid, params)]


def parse_message(params: dict[str, Any]) -> ParsedMessage:
    sender = str(params.get("From", ""))
    if not sender:
        raise InvalidPayload("a Twilio message without From")
    kind = Identity.Kind.WHATSAPP if sender.startswith("whatsapp:") else Identity.Kind.PHONE
    meta: dict[str, Any] = {"provider": "twilio"}
    if params.get("Latitude") and params.get("Longitude"):
        meta["location"] = {
            "latitude": float(params["Latitude"]),
            "longitude": float(params["Longitude"]),
            "name": params.get("Label", ""),
            "address": params.get("Address", ""),
        }
    if params.get("OriginalRepliedMessageSid"):
        meta["reply_to"] = params["OriginalRepliedMessageSid"]
    media = []
    for index in range(min(int(params.get("NumMedia") or 0), 10)):
        url = params.get(f"MediaUrl{index}", "")
        if url:
            content_type = params.get(f"MediaContentType{index}", "")
            extension = content_type.rsplit("/", 1)[-1] if "/" in content_type else "bin"
            media.append(Media(filename=f"media-{index}.{extension}", content_type=content_type, url=url))
    return ParsedMessage(
        identity_kind=kind,
        address=sender.removeprefix("whatsapp:"),
        external_id=str(params["MessageSid"] if "MessageSid" in params else params["SmsSid"]),
        text=str(params.get("Body", "")),
        display_name=str(params.get("ProfileName", "")),
        meta=meta,
        media=media,
    )


def sender(event: InboundEvent) -> Sender | None:
    """Who wrote the event, for the batch's prelude: None for a delivery receipt."""
    if event.payload.get("MessageStatus", "") not in INBOUND_STATUSES:
        return None
    return sender_of(parse_message(event.payload))


def process_event(event: InboundEvent) -> Interaction | None:
    params = event.payload
    status = params.get("MessageStatus", "")
    if status not in INBOUND_STATUSES:
        if status not in STATUSES:
            return None  # queued, sending, accepted…: nothing a desk needs to see
        error = f"Twilio error {params['ErrorCode']}" if params.get("ErrorCode") else ""
        return apply_receipt(
            channel=event.channel, external_id=params["MessageSid"], status=STATUSES[status], error=error
        )
    parsed = prepared_for(event.pk)  # parsed already when the batch's prelude named its sender
    message = parsed if isinstance(parsed, ParsedMessage) else parse_message(params)
    return receive_provider_message(channel=event.channel, message=message)


def api_base(channel: Channel) -> str:
    return str(channel.config.get("api_base") or settings.OMNIDESK_TWILIO_API_BASE).rstrip("/")


def send(interaction: Interaction) -> SendResult:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with the interaction's idempotency key."""
    if interaction.external_id:
        return SendResult(external_id=interaction.external_id)  # sent by an earlier attempt of this task
    channel = interaction.channel
    account_sid = str(channel.config.get("account_sid", ""))
    auth_token = str(channel.secrets.get("auth_token", ""))
    if not account_sid or not auth_token:
        raise DeliveryError("this Twilio channel has no account SID or auth token")
    whatsapp = channel.kind == Channel.Kind.WHATSAPP
    to = recipient_of(
        interaction, (Identity.Kind.WHATSAPP, Identity.Kind.PHONE) if whatsapp else (Identity.Kind.PHONE,)
    )
    sender = str(channel.config.get("from_number", ""))
    data: dict[str, str] = {"To": f"whatsapp:{to}" if whatsapp else to}
    if channel.config.get("messaging_service_sid"):
        data["MessagingServiceSid"] = str(channel.config["messaging_service_sid"])
    else:
        data["From"] = f"whatsapp:{sender}" if whatsapp else sender
    template = interaction.meta.get("template")
    if whatsapp and template:
        data["ContentSid"] = str(template.get("content_sid") or template["name"])
    else:
        if whatsapp and not whatsapp_window_open(customer_id=interaction.customer_id, channel=channel):
            raise DeliveryError(window_closed_error())
        data["Body"] = interaction.text
    if channel.config.get("status_callback"):
        data["StatusCallback"] = str(channel.config["status_callback"])
    answer = http.call(
        "POST",
        f"{api_base(channel)}/2010-04-01/Accounts/{account_sid}/Messages.json",
        provider="Twilio",
        data=data,
        auth=(account_sid, auth_token),
        headers={"I-Twilio-Idempotency-Token": interaction.idempotency_key or ""},
    )
    sid = str(answer.get("sid", ""))
    if not sid:
        raise DeliveryError("Twilio accepted the message without a sid")
    record_provider_id(interaction=interaction, external_id=sid)
    status = STATUSES.get(str(answer.get("status", "")), Interaction.Status.SENT)
    if status == Interaction.Status.FAILED:
        raise DeliveryError(f"Twilio refused the message: {answer.get('error_message') or answer.get('status')}")
    return SendResult(external_id=sid, meta={"provider": "twilio"})
