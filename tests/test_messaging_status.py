"""Delivery receipts move outbound messages forward only: duplicated and out-of-order receipts end in the right
state, and a receipt that arrives before the provider's id of its message is recorded is applied once it is."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from interactions import inbound, outbound, services
from interactions.messaging import meta, twilio
from interactions.messaging.models import PendingReceipt
from interactions.messaging.services import apply_receipt, record_provider_id
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests import signing
from tests.messaging_support import (
    API_SECRET,
    META_SECRET,
    TWILIO_TOKEN,
    FakeProvider,
    ingest,
    make_channel,
    messenger_envelope,
    twilio_sms,
    twilio_status,
    whatsapp_envelope,
    whatsapp_text,
)


def process_all() -> None:
    for event_id in InboundEvent.objects.filter(processed_at__isnull=True).order_by("pk").values_list("pk", flat=True):
        inbound.process_inbound_event(event_id=event_id)


def sent_reply(channel: Channel, first: Interaction, alice: Any) -> Interaction:
    queued = services.reply_to_conversation(conversation=first.conversation, author=alice, text="Voilà")
    return outbound.deliver_interaction(interaction_id=queued.pk)


def test_it_ends_twilio_callbacks_in_the_furthest_state_whatever_their_order(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    [first] = ingest(channel, "twilio", twilio.events_from_params(twilio_sms("SM-IN")))
    message = sent_reply(channel, first, alice)
    url = f"/hooks/twilio/{channel.uuid}/"
    for status in ("delivered", "sent", "delivered", "queued", "sent", "delivered"):
        params = twilio_status(str(message.external_id), status)
        answer = Client().post(
            url,
            params,
            headers={
                "X-Twilio-Signature": signing.twilio_signature(
                    token=TWILIO_TOKEN, url=f"http://testserver{url}", params=params
                )
            },
        )
        assert answer.status_code == 200
    assert InboundEvent.objects.filter(external_id__startswith="status:").count() == 3  # duplicates stored once
    process_all()
    message.refresh_from_db()
    assert message.status == Interaction.Status.DELIVERED


def test_it_keeps_read_when_whatsapps_sent_and_delivered_arrive_after_it(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    [first] = ingest(channel, "meta", meta.events_from_body(whatsapp_envelope(messages=[whatsapp_text("wamid.IN")])))
    message = sent_reply(channel, first, alice)
    statuses = [
        {"id": message.external_id, "status": status, "timestamp": "1764579700", "recipient_id": "33612345678"}
        for status in ("read", "delivered", "sent", "read")
    ]
    body = json.dumps(whatsapp_envelope(statuses=statuses)).encode()
    answer = Client().post(
        f"/hooks/meta/{channel.uuid}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signing.meta_signature(secret=META_SECRET, body=body)},
    )
    assert answer.status_code == 200
    process_all()
    message.refresh_from_db()
    assert message.status == Interaction.Status.READ


def test_it_shows_why_whatsapp_failed_a_message(alice: Any, support_queue: Queue, provider: FakeProvider) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    [first] = ingest(channel, "meta", meta.events_from_body(whatsapp_envelope(messages=[whatsapp_text("wamid.IN")])))
    message = sent_reply(channel, first, alice)
    failed = {
        "id": message.external_id,
        "status": "failed",
        "errors": [{"code": 131047, "title": "Re-engagement message"}],
    }
    ingest(channel, "meta", meta.events_from_body(whatsapp_envelope(statuses=[failed])))
    message.refresh_from_db()
    assert message.status == Interaction.Status.FAILED and message.error == "Re-engagement message"


def test_it_applies_a_receipt_that_arrived_before_the_message_id_was_recorded(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    [first] = ingest(channel, "twilio", twilio.events_from_params(twilio_sms("SM-IN")))
    queued = services.reply_to_conversation(conversation=first.conversation, author=alice, text="Voilà")
    # Twilio's "delivered" callback wins the race against our recording of the sid Twilio answered with.
    assert apply_receipt(channel=channel, external_id="SM-FAST", status=Interaction.Status.DELIVERED) is None
    assert PendingReceipt.objects.filter(external_id="SM-FAST").exists()
    record_provider_id(interaction=queued, external_id="SM-FAST")
    queued.refresh_from_db()
    assert (queued.status, queued.external_id) == (Interaction.Status.DELIVERED, "SM-FAST")
    assert not PendingReceipt.objects.exists()


def test_it_marks_messenger_messages_delivered_and_read_up_to_the_watermark(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.MESSENGER, support_queue, api_base=provider.url)
    item = {"sender": {"id": "PSID-7"}, "recipient": {"id": "page-1"}, "message": {"mid": "m_in", "text": "Salut"}}
    [first] = ingest(channel, "meta", meta.events_from_body(messenger_envelope([item])))
    one, two = sent_reply(channel, first, alice), sent_reply(channel, first, alice)
    delivery = {"sender": {"id": "PSID-7"}, "recipient": {"id": "page-1"}, "delivery": {"mids": [one.external_id]}}
    ingest(channel, "meta", meta.events_from_body(messenger_envelope([delivery])))
    one.refresh_from_db()
    assert one.status == Interaction.Status.DELIVERED
    watermark = int(two.created_at.timestamp() * 1000) + 1
    read = {"sender": {"id": "PSID-7"}, "recipient": {"id": "page-1"}, "read": {"watermark": watermark}}
    ingest(channel, "meta", meta.events_from_body(messenger_envelope([read])))
    assert set(Interaction.objects.filter(pk__in=[one.pk, two.pk]).values_list("status", flat=True)) == {"read"}


def test_it_takes_delivery_statuses_from_the_api_channel(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.API, support_queue, api_base=provider.url)
    [first] = ingest(channel, "api", [("m1", {"type": "message", "id": "m1", "from": {"id": "u1"}, "text": "Hi"})])
    message = sent_reply(channel, first, alice)
    for status in ("read", "delivered"):
        body = json.dumps({"type": "status", "message_id": message.external_id, "status": status}).encode()
        answer = Client().post(
            f"/hooks/api/{channel.uuid}/",
            body,
            content_type="application/json",
            headers=signing.omnidesk_headers(secret=API_SECRET, body=body),
        )
        assert answer.json() == {"accepted": 1}
    process_all()
    message.refresh_from_db()
    assert message.status == Interaction.Status.READ
