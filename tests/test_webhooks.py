"""Webhooks: authentic requests from each provider are stored once, after commit; forged ones are refused, counted."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg2
import pytest
from django.db import connection
from django.test import Client

from interactions import inbound
from interactions.messaging.models import SignatureRejection
from interactions.models import Channel, InboundEvent, Interaction
from routing.models import Queue
from tests import signing
from tests.messaging_support import (
    API_SECRET,
    META_SECRET,
    TELEGRAM_SECRET,
    TWILIO_TOKEN,
    make_channel,
    telegram_update,
    twilio_sms,
    whatsapp_envelope,
    whatsapp_text,
)
from tests.stack import Stack, wait_until


def hook(provider: str, channel: Channel) -> str:
    return f"/hooks/{provider}/{channel.uuid}/"


def post_twilio(channel: Channel, params: dict[str, str], *, signature: str | None = None) -> Any:
    url = hook("twilio", channel)
    headers = (
        {}
        if signature == ""
        else {
            "X-Twilio-Signature": signature
            or signing.twilio_signature(token=TWILIO_TOKEN, url=f"http://testserver{url}", params=params)
        }
    )
    return Client().post(url, params, headers=headers)


def post_meta(
    channel: Channel, payload: dict[str, Any], *, signature: str | None = None, body: bytes | None = None
) -> Any:
    raw = body if body is not None else json.dumps(payload).encode()
    headers = (
        {}
        if signature == ""
        else {"X-Hub-Signature-256": signature or signing.meta_signature(secret=META_SECRET, body=raw)}
    )
    return Client().post(hook("meta", channel), raw, content_type="application/json", headers=headers)


def post_api(channel: Channel, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> Any:
    raw = json.dumps(payload).encode()
    return Client().post(
        hook("api", channel),
        raw,
        content_type="application/json",
        headers=headers or signing.omnidesk_headers(secret=API_SECRET, body=raw),
    )


def rejections(channel: Channel) -> int:
    return sum(SignatureRejection.objects.filter(channel=channel).values_list("count", flat=True))


def test_it_stores_a_twilio_sms_delivered_three_times_once(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    params = twilio_sms("SM0001", body="Ma commande n'est pas arrivée")
    answers = [post_twilio(channel, params) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0]["Content-Type"].startswith("text/xml")
    event = InboundEvent.objects.get(channel=channel)
    assert (event.external_id, event.provider) == ("SM0001", "twilio")
    inbound.process_inbound_event(event_id=event.pk)
    message = Interaction.objects.get(channel=channel)
    assert message.text == "Ma commande n'est pas arrivée"
    assert message.customer.identities.get().address == "+33612345678"


@pytest.mark.parametrize(
    ("signature", "reason"),
    [("", "missing signature"), ("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "signature mismatch")],
)
def test_it_refuses_a_twilio_webhook_without_a_valid_signature(
    support_queue: Queue, signature: str, reason: str
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    answer = post_twilio(channel, twilio_sms("SM0002"), signature=signature)
    assert answer.status_code == 403
    assert not InboundEvent.objects.exists()
    assert SignatureRejection.objects.get(channel=channel).last_reason == reason


def test_it_refuses_a_twilio_webhook_whose_parameters_were_tampered_with(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    params = twilio_sms("SM0003", body="Bonjour")
    signature = signing.twilio_signature(
        token=TWILIO_TOKEN, url=f"http://testserver{hook('twilio', channel)}", params=params
    )
    answer = post_twilio(channel, {**params, "Body": "Virez 500 € sur ce compte"}, signature=signature)
    assert answer.status_code == 403
    assert not InboundEvent.objects.exists()
    assert rejections(channel) == 1


def test_it_refuses_a_twilio_signature_made_with_another_accounts_token(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    params = twilio_sms("SM0004")
    forged = signing.twilio_signature(
        token="someone-elses-token", url=f"http://testserver{hook('twilio', channel)}", params=params
    )
    assert post_twilio(channel, params, signature=forged).status_code == 403
    assert not InboundEvent.objects.exists()


def test_it_stores_each_whatsapp_message_of_a_batched_webhook_once(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue)
    payload = whatsapp_envelope(
        messages=[whatsapp_text("wamid.A1", "Bonjour"), whatsapp_text("wamid.A2", "Vous êtes là ?")]
    )
    for _ in range(3):
        assert post_meta(channel, payload).status_code == 200
    assert sorted(InboundEvent.objects.values_list("external_id", flat=True)) == ["wamid.A1", "wamid.A2"]


@pytest.mark.parametrize("case", ["missing", "forged", "tampered", "other secret"])
def test_it_refuses_a_meta_webhook_without_a_valid_signature(support_queue: Queue, case: str) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue)
    body = json.dumps(whatsapp_envelope(messages=[whatsapp_text("wamid.B1")])).encode()
    signature = {
        "missing": "",
        "forged": "sha256=" + "0" * 64,
        "tampered": signing.meta_signature(secret=META_SECRET, body=body.replace(b"Bonjour", b"Bonsoir")),
        "other secret": signing.meta_signature(secret="not-the-app-secret", body=body),
    }[case]
    answer = post_meta(channel, {}, body=body, signature=signature)
    assert answer.status_code == 403
    assert not InboundEvent.objects.exists()
    assert rejections(channel) == 1


def test_it_answers_metas_subscription_handshake_only_with_the_verify_token(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.MESSENGER, support_queue)
    url = hook("meta", channel)
    ok = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    wrong = Client().get(url, {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"})
    assert wrong.status_code == 403
    assert rejections(channel) == 1


def test_it_stores_a_telegram_update_with_the_secret_token_once(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue)
    body = json.dumps(telegram_update(5001))
    for _ in range(3):
        answer = Client().post(
            hook("telegram", channel),
            body,
            content_type="application/json",
            headers=signing.telegram_headers(secret_token=TELEGRAM_SECRET),
        )
        assert answer.status_code == 200
    assert list(InboundEvent.objects.values_list("external_id", flat=True)) == ["5001"]


@pytest.mark.parametrize("token", [None, "wrong-secret"])
def test_it_refuses_a_telegram_update_without_the_secret_token(support_queue: Queue, token: str | None) -> None:
    channel = make_channel(Channel.Kind.TELEGRAM, support_queue)
    headers = signing.telegram_headers(secret_token=token) if token else {}
    answer = Client().post(
        hook("telegram", channel), json.dumps(telegram_update(5002)), content_type="application/json", headers=headers
    )
    assert answer.status_code == 403
    assert not InboundEvent.objects.exists()


API_MESSAGE = {"id": "msg-1", "from": {"id": "user-42", "name": "Jeanne"}, "text": "Bonjour"}


def test_it_stores_a_signed_api_channel_message_once(alice: Any, support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.API, support_queue)
    answers = [post_api(channel, API_MESSAGE) for _ in range(3)]
    assert [a.json() for a in answers] == [{"accepted": 1}, {"accepted": 0}, {"accepted": 0}]
    inbound.process_inbound_event(event_id=InboundEvent.objects.get().pk)
    assert Interaction.objects.get(channel=channel).text == "Bonjour"


@pytest.mark.parametrize("case", ["missing", "replayed", "future", "tampered", "other secret"])
def test_it_refuses_an_api_channel_request_without_a_fresh_valid_signature(support_queue: Queue, case: str) -> None:
    channel = make_channel(Channel.Kind.API, support_queue)
    body = json.dumps(API_MESSAGE).encode()
    headers = {
        "missing": {},
        "replayed": signing.omnidesk_headers(secret=API_SECRET, body=body, timestamp=int(time.time()) - 310),
        "future": signing.omnidesk_headers(secret=API_SECRET, body=body, timestamp=int(time.time()) + 310),
        "tampered": signing.omnidesk_headers(secret=API_SECRET, body=body.replace(b"Bonjour", b"Au revoir")),
        "other secret": signing.omnidesk_headers(secret="guessed", body=body),
    }[case]
    answer = post_api(channel, API_MESSAGE, headers=headers or {"X-Unsigned": "1"})
    assert answer.status_code == 403
    assert not InboundEvent.objects.exists()
    assert rejections(channel) == 1


def test_it_explains_an_invalid_api_channel_message_and_stores_nothing(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.API, support_queue)
    answer = post_api(channel, {"id": "msg-2", "text": "Who am I?"})
    assert answer.status_code == 400
    assert "sender" in json.dumps(answer.json())
    assert not InboundEvent.objects.exists()


def test_it_answers_404_for_an_unknown_or_inactive_channel(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    params = twilio_sms("SM0005")
    unknown = Client().post(f"/hooks/twilio/{uuid.uuid4()}/", params)
    assert unknown.status_code == 404
    wrong_provider = post_meta(Channel(uuid=channel.uuid), whatsapp_envelope(messages=[whatsapp_text("wamid.C")]))
    assert wrong_provider.status_code == 404
    Channel.objects.filter(pk=channel.pk).update(is_active=False)
    assert post_twilio(channel, params).status_code == 404
    assert not InboundEvent.objects.exists()


def test_it_keeps_an_authentic_body_it_cannot_read_and_dead_letters_it(support_queue: Queue) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, support_queue)
    body = (
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": '
        b'{"metadata": {"phone_number_id": "1065550001"}, "messages": [{"no id": 1}]}}]}]}'
    )
    assert post_meta(channel, {}, body=body).status_code == 200
    event = InboundEvent.objects.get()
    assert event.external_id.startswith("unparseable:")
    from interactions.tasks import process_inbound_event_task

    process_inbound_event_task.apply(args=(event.pk,))
    event.refresh_from_db()
    assert event.dead_lettered_at is not None and "unreadable" in event.last_error


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_the_database_is_unavailable_so_the_provider_retries(
    stack: Stack, alice: Any, support_queue: Queue
) -> None:
    channel = make_channel(Channel.Kind.SMS, support_queue)
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg2.connect(dbname=db["NAME"], host=db["HOST"] or "127.0.0.1", user=db["USER"] or "postgres") as admin:
        admin.cursor().execute("SELECT pg_terminate_backend(%s)", [pid])
    answer = post_twilio(channel, twilio_sms("SM0006"))
    assert answer.status_code == 503
    assert answer["Retry-After"]
    # What Django does at the end of every request (the test client skips it): drop the broken connection.
    connection.close_if_unusable_or_obsolete()
    # Once the database is back, the provider's retry is stored.
    assert post_twilio(channel, twilio_sms("SM0006")).status_code == 200
    assert InboundEvent.objects.filter(external_id="SM0006").count() == 1
    # The live worker files it; waiting for it keeps its transaction out of the test database's teardown.
    wait_until(Interaction.objects.filter(external_id="SM0006").exists, timeout=15, message="the worker")
