"""Admins configure messaging channels: secrets are write-only, the exact webhook URL is shown, refusals counted;
the API channel is documented in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from django.test import Client

from interactions.messaging.models import SignatureRejection
from interactions.models import Channel
from routing.models import Queue
from tests.messaging_support import TWILIO_TOKEN, make_channel, twilio_sms


def admin_client(sophie: Any) -> Client:
    client = Client()
    client.force_login(sophie)
    return client


def test_it_shows_the_exact_webhook_url_to_paste_and_never_the_secrets(sophie: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    page = admin_client(sophie).get(f"/admin/messaging/messagingchannel/{channel.pk}/change/").content.decode()
    assert f'value="http://testserver/hooks/twilio/{channel.uuid}/"' in page
    assert '<label for="webhook-url">' in page
    assert TWILIO_TOKEN not in page
    assert "Stored. Leave empty to keep it." in page


def test_it_keeps_a_secret_left_empty_and_replaces_one_typed_in(sophie: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue)
    form = {
        "kind": "telegram",
        "name": "Bot",
        "queue": support_queue.pk,
        "is_active": "on",
        "config": '{"bot_username": "omnidesk_bot"}',
        "secret_bot_token": "",
        "secret_secret_token": "a-new-secret-token",
    }
    answer = admin_client(sophie).post(f"/admin/messaging/messagingchannel/{channel.pk}/change/", form)
    assert answer.status_code == 302
    channel.refresh_from_db()
    assert channel.secrets == {"bot_token": "123456:bot-token", "secret_token": "a-new-secret-token"}


def test_it_never_renders_secrets_on_the_general_channel_admin_either(sophie: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    page = admin_client(sophie).get(f"/admin/interactions/channel/{channel.pk}/change/").content.decode()
    assert TWILIO_TOKEN not in page


def test_it_shows_admins_how_many_webhooks_were_refused(sophie: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    for _ in range(3):
        assert Client().post(f"/hooks/twilio/{channel.uuid}/", twilio_sms("SM1")).status_code == 403
    assert SignatureRejection.objects.get(channel=channel).count == 3
    page = admin_client(sophie).get("/admin/messaging/signaturerejection/").content.decode()
    assert "missing signature" in page and '<td class="field-count">3</td>' in page


def test_it_documents_the_api_channel_in_the_openapi_schema(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/hooks/api/{channel}/"]["post"]
    assert {p["name"] for p in operation["parameters"]} >= {"X-Omnidesk-Timestamp", "X-Omnidesk-Signature", "channel"}
    assert "HMAC-SHA256" in operation["description"]
    assert "InboundMessage" in schema["components"]["schemas"]
