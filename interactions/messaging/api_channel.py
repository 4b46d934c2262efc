"""The generic API channel: for teams that plug in their own sources (an app's in-app chat, a partner's system).

Inbound: POST /hooks/api/<channel uuid>/ with a JSON message or status, signed X-Omnidesk-Signature =
"sha256=" + hex HMAC-SHA256(channel secret, X-Omnidesk-Timestamp + "." + raw body); older than 5 minutes is a replay.
Outbound: agents' replies are POSTed, signed the same way, to the channel's configured "outbound_url" with an
Idempotency-Key header; the answer's "id" is the message's id for later status events.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rest_framework import serializers

from customers.models import Identity
from interactions.inbound_batch import Sender
from interactions.intake import timestamped_signature
from interactions.messaging import http
from interactions.messaging.services import (
    Media,
    ParsedMessage,
    apply_receipt,
    receive_provider_message,
    recipient_of,
    record_provider_id,
    sender_of,
)
from interactions.models import Channel, InboundEvent, Interaction
from interactions.outbound import DeliveryError, SendResult


class SenderSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="Your stable id for this person.")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class AttachmentSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="Fetched by omnidesk only from the allowed media hosts.")
    filename = serializers.CharField(max_length=255)
    content_type = serializers.CharField(max_length=255, required=False, allow_blank=True)
    size = serializers.IntegerField(min_value=0, required=False)


class LocationSerializer(serializers.Serializer):
    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class InboundMessageSerializer(serializers.Serializer):
    """A customer's message, or (type "status") a delivery status of a reply omnidesk sent you."""

    type = serializers.ChoiceField(choices=["message", "status"], default="message")
    id = serializers.CharField(max_length=150, required=False, help_text="Your unique id of the message (dedup key).")
    sender = SenderSerializer(required=False)
    text = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    attachments = AttachmentSerializer(many=True, required=False)
    location = LocationSerializer(required=False)
    reply_to = serializers.CharField(max_length=200, required=False)
    message_id = serializers.CharField(max_length=150, required=False, help_text="For status: the id you returned.")
    status = serializers.ChoiceField(choices=["sent", "delivered", "read", "failed"], required=False)
    error = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "status":
            if not attrs.get("message_id") or not attrs.get("status"):
                raise serializers.ValidationError("A status needs message_id and status.")
        elif not attrs.get("id") or not attrs.get("from"):
            raise serializers.ValidationError("A message needs id and sender.")
        elif not (attrs.get("text") or "").strip() and not attrs.get("attachments") and not attrs.get("location"):
            raise serializers.ValidationError("A message needs text, attachments or a location.")
        return attrs

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is the natural JSON name but a Python keyword, so the field is declared as `sender` and renamed.
        fields = super().get_fields()
        fields["from"] = fields.pop("sender")
        return fields


class AcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="1 when stored now, 0 when it was a duplicate delivery.")


def event_from_data(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if data["type"] == "status":
        return f"status:{data['message_id']}:{data['status']}", data
    return str(data["id"]), data


def sender(event: InboundEvent) -> Sender | None:
    """Who wrote the event, for the batch's prelude: None for a delivery status."""
    if event.payload.get("type") == "status":
        return None
    return sender_of(parse_message(event.channel, event.payload))


def process_event(event: InboundEvent) -> Interaction | None:
    data, channel = event.payload, event.channel
    if data.get("type") == "status":
        return apply_receipt(
            channel=channel, external_id=data["message_id"], status=data["status"], error=data.get("error", "")
        )
    return receive_provider_message(channel=channel, message=parse_message(channel, data))


def parse_message(channel: Channel, data: dict[str, Any]) -> ParsedMessage:
    meta: dict[str, Any] = {"provider": "api"}
    if data.get("location"):
        meta["location"] = data["location"]
    if data.get("reply_to"):
        meta["reply_to"] = data["reply_to"]
    media = [
        Media(filename=a["filename"], content_type=a.get("content_type", ""), size=a.get("size", 0), url=a["url"])
        for a in data.get("attachments") or []
    ]
    author = data["from"]
    return ParsedMessage(
        identity_kind=Identity.Kind.EXTERNAL,
        # Scoped by channel: two sources' "42" are two different people.
        address=f"{channel.uuid}:{author['id']}",
        external_id=str(data["id"]),
        text=data.get("text", ""),
        display_name=author.get("name", ""),
        meta=meta,
        media=media,
    )


def send(interaction: Interaction) -> SendResult:
    if interaction.external_id:
        return SendResult(external_id=interaction.external_id)
    channel: Channel = interaction.channel
    url = str(channel.config.get("outbound_url", ""))
    secret = str(channel.secrets.get("signing_secret", ""))
    if not url or not secret:
        raise DeliveryError("this API channel has no outbound URL or signing secret")
    to = recipient_of(interaction, (Identity.Kind.EXTERNAL,)).removeprefix(f"{channel.uuid}:")
    body = json.dumps(
        {"to": to, "text": interaction.text, "conversation_id": interaction.conversation_id, "id": interaction.pk}
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": interaction.idempotency_key or "",
        "X-Omnidesk-Timestamp": timestamp,
        "X-Omnidesk-Signature": timestamped_signature(secret=secret, timestamp=timestamp, body=body),
    }
    answer = http.call("POST", url, provider="API channel", content=body, headers=headers)
    message_id = str(answer.get("id", ""))
    if not message_id:
        raise DeliveryError("the API channel's endpoint answered without an id")
    record_provider_id(interaction=interaction, external_id=message_id)
    return SendResult(external_id=message_id, meta={"provider": "api"})
