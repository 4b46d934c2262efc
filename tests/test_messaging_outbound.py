"""Agents' replies go out through each provider's HTTP API (a real local server stands in for the providers), with an
idempotency key, retried on transient failures, never sent twice, and refused outside WhatsApp's 24-hour window."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from interactions import outbound, services
from interactions.messaging import meta, telegram, twilio
from interactions.messaging import services as messaging
from interactions.models import Channel, Interaction
from routing.models import Queue
from tests import signing
from tests.messaging_support import (
    API_SECRET,
    TWILIO_TOKEN,
    FakeProvider,
    ingest,
    make_channel,
    messenger_envelope,
    telegram_update,
    twilio_sms,
    whatsapp_envelope,
    whatsapp_text,
)


def conversation_on(channel: Channel) -> Interaction:
    """Carla's first message on `channel`, as each provider sends it."""
    if channel.kind == Channel.Kind.SMS or channel.config.get("provider") == "twilio":
        sender = "whatsapp:+33612345678" if channel.kind == Channel.Kind.WHATSAPP else "+33612345678"
        [message] = ingest(channel, "twilio", twilio.events_from_params(twilio_sms("SM-IN-1", sender=sender)))
    elif channel.kind == Channel.Kind.WHATSAPP:
        [message] = ingest(
            channel, "meta", meta.events_from_body(whatsapp_envelope(messages=[whatsapp_text("wamid.IN1")]))
        )
    elif channel.kind in (Channel.Kind.MESSENGER, Channel.Kind.INSTAGRAM):
        item = {"sender": {"id": "PSID-7"}, "recipient": {"id": "page-1"}, "message": {"mid": "m_in", "text": "Salut"}}
        [message] = ingest(channel, "meta", meta.events_from_body(messenger_envelope([item])))
    else:
        [message] = ingest(channel, "telegram", telegram.events_from_update(telegram_update(1)))
    return message


def reply(message: Interaction, alice: Any, text: str = "Bonjour Carla, je regarde.") -> Interaction:
    return services.reply_to_conversation(conversation=message.conversation, author=alice, text=text)


def deliver(interaction: Interaction) -> Interaction:
    """What the delivery task does, here in the test's process."""
    return outbound.deliver_interaction(interaction_id=interaction.pk)


def test_it_sends_an_sms_reply_through_twilio_with_the_idempotency_key(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    queued = reply(conversation_on(channel), alice)
    assert queued.status == Interaction.Status.QUEUED
    sent = deliver(queued)
    [request] = provider.sent(r"/2010-04-01/Accounts/AC123/Messages\.json")
    assert request.form == {"To": "+33612345678", "From": "+33700000001", "Body": "Bonjour Carla, je regarde."}
    assert request.headers["i-twilio-idempotency-token"] == queued.idempotency_key
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"AC123:{TWILIO_TOKEN}".encode()).decode()
    assert sent.status == Interaction.Status.SENT and str(sent.external_id).startswith("SM")


def test_it_never_sends_twice_when_the_delivery_task_runs_again(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue, api_base=provider.url)
    queued = reply(conversation_on(channel), alice)
    deliver(queued)
    Interaction.objects.filter(pk=queued.pk).update(status=Interaction.Status.QUEUED)  # as if the ack was lost
    deliver(queued)
    assert len(provider.sent(r"/sendMessage")) == 1


def test_it_retries_a_transient_failure_with_the_same_idempotency_key(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    queued = reply(conversation_on(channel), alice)
    provider.fail_next(503)
    with pytest.raises(outbound.TransientDeliveryError):
        deliver(queued)
    queued.refresh_from_db()
    assert queued.status == Interaction.Status.QUEUED and "503" in queued.error
    sent = deliver(queued)
    first, second = provider.sent(r"/Messages\.json")
    assert first.headers["i-twilio-idempotency-token"] == second.headers["i-twilio-idempotency-token"]
    assert sent.status == Interaction.Status.SENT and sent.error == ""


def test_it_shows_a_refused_message_as_failed_and_sends_it_again_on_retry(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    queued = reply(conversation_on(channel), alice)
    provider.fail_next(400)
    failed = deliver(queued)
    assert failed.status == Interaction.Status.FAILED and "400" in failed.error
    again = messaging.retry_delivery(interaction=failed)
    assert again.status == Interaction.Status.QUEUED and again.idempotency_key != queued.idempotency_key
    assert deliver(again).status == Interaction.Status.SENT
    with pytest.raises(ValidationError):
        messaging.retry_delivery(interaction=again)


def test_it_offers_a_retry_button_on_a_failed_message_in_the_desk(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue, api_base=provider.url)
    queued = reply(conversation_on(channel), alice)
    provider.fail_next(400)
    deliver(queued)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/desk/conversations/{queued.conversation_id}/").content.decode()
    assert 'aria-label="Send this message again"' in page
    answer = client.post(f"/desk/messages/{queued.pk}/retry/", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert Interaction.objects.get(pk=queued.pk).status == Interaction.Status.QUEUED


def test_it_sends_whatsapp_replies_through_the_cloud_api(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    sent = deliver(reply(conversation_on(channel), alice, "Votre colis arrive demain."))
    [request] = provider.sent(r"/1065550001/messages")
    assert request.headers["authorization"] == "Bearer meta-access"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "33612345678",
        "type": "text",
        "text": {"preview_url": False, "body": "Votre colis arrive demain."},
    }
    assert str(sent.external_id).startswith("wamid.")


def test_it_sends_whatsapp_replies_through_twilio_when_so_configured(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(
        Channel.Kind.WHATSAPP,
        support_queue,
        api_base=provider.url,
        provider="twilio",
        account_sid="AC123",
        from_number="+33700000003",
    )
    deliver(reply(conversation_on(channel), alice))
    [request] = provider.sent(r"/Messages\.json")
    assert (request.form["To"], request.form["From"]) == ("whatsapp:+33612345678", "whatsapp:+33700000003")


def age_window(message: Interaction, hours: int = 25) -> None:
    Interaction.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(hours=hours))


def test_it_refuses_free_text_on_whatsapp_after_24_hours_and_sends_an_approved_template(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    message = conversation_on(channel)
    age_window(message)
    with pytest.raises(ValidationError) as refused:
        reply(message, alice)
    assert refused.value.code == "whatsapp_window_closed"
    assert not Interaction.objects.filter(direction=Interaction.Direction.OUTBOUND).exists()
    template = messaging.send_template(conversation=message.conversation, author=alice, template_name="order_update")
    deliver(template)
    [request] = provider.sent(r"/1065550001/messages")
    assert request.json["type"] == "template"
    assert request.json["template"] == {"name": "order_update", "language": {"code": "fr"}}


def test_it_fails_a_queued_free_text_whose_window_closed_before_delivery(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    message = conversation_on(channel)
    queued = reply(message, alice)
    age_window(message)
    failed = deliver(queued)
    assert failed.status == Interaction.Status.FAILED and "24-hour" in failed.error
    assert provider.sent(r"/messages") == []


def test_it_tells_the_agent_in_the_composer_when_the_whatsapp_window_is_closed(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue, api_base=provider.url)
    message = conversation_on(channel)
    client = Client()
    client.force_login(alice)
    url = f"/desk/conversations/{message.conversation_id}/"
    assert "WhatsApp window open until" in client.get(url).content.decode()
    age_window(message)
    page = client.get(url).content.decode()
    assert 'role="alert"' in page and "24-hour window is closed" in page
    assert '<label for="whatsapp-template">Approved template</label>' in page
    refused = client.post(f"/desk/conversations/{message.conversation_id}/reply/", {"text": "Bonjour"})
    assert refused.status_code == 422 and "approved template" in refused.content.decode()
    sent = client.post(f"/desk/conversations/{message.conversation_id}/template/", {"template": "order_update"})
    assert sent.status_code in (200, 302)
    assert Interaction.objects.get(direction=Interaction.Direction.OUTBOUND).meta["template"]["name"] == "order_update"


@pytest.mark.parametrize(
    ("kind", "path"), [(Channel.Kind.MESSENGER, "/page-1/messages"), (Channel.Kind.INSTAGRAM, "/ig-1/messages")]
)
def test_it_sends_messenger_and_instagram_replies_to_the_senders_id(
    alice: Any, support_queue: Queue, provider: FakeProvider, kind: str, path: str
) -> None:
    channel = make_channel(kind, support_queue, api_base=provider.url)
    sent = deliver(reply(conversation_on(channel), alice, "Bien reçu"))
    [request] = provider.sent(path)
    assert request.json == {
        "recipient": {"id": "PSID-7"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Bien reçu"},
    }
    assert str(sent.external_id).startswith("m_")


def test_it_sends_telegram_replies_to_the_chat_without_logging_the_bot_token(
    alice: Any, support_queue: Queue, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue, api_base=provider.url)
    queued = reply(conversation_on(channel), alice, "On s'en occupe")
    caplog.set_level(logging.DEBUG)
    provider.fail_next(500)
    with pytest.raises(outbound.TransientDeliveryError) as transient:
        deliver(queued)
    sent = deliver(queued)
    [_failed, request] = provider.sent(r"/bot123456:bot-token/sendMessage")
    assert request.json == {"chat_id": "777", "text": "On s'en occupe"}
    assert str(sent.external_id).startswith("777:")
    assert "bot-token" not in caplog.text and "bot-token" not in str(transient.value)
    assert "bot-token" not in Interaction.objects.get(pk=queued.pk).error


def test_it_posts_api_channel_replies_signed_with_an_idempotency_key(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.API, support_queue, api_base=provider.url)
    [message] = ingest(
        channel, "api", [("msg-1", {"type": "message", "id": "msg-1", "from": {"id": "user-42"}, "text": "Hi"})]
    )
    queued = reply(message, alice, "Hello")
    sent = deliver(queued)
    [request] = provider.sent(r"/outbound")
    stamp = request.headers["x-omnidesk-timestamp"]
    expected = signing.omnidesk_signature(secret=API_SECRET, timestamp=stamp, body=request.body)
    assert request.headers["x-omnidesk-signature"] == expected
    assert request.headers["idempotency-key"] == queued.idempotency_key
    assert request.json["to"] == "user-42" and request.json["text"] == "Hello"
    assert str(sent.external_id).startswith("out-")
