"""Inbound email through Mailgun's route webhook (django-anymail): signed, stored raw before the 200."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from django.test import Client

from interactions import inbound
from interactions.models import Channel, InboundEvent
from routing.models import Queue
from tests import signing
from tests.mail_support import WEBHOOK_SIGNING_KEY, email_channel, fixture_bytes

pytestmark = pytest.mark.django_db


def signed(raw: bytes, *, key: str = WEBHOOK_SIGNING_KEY, token: str = "a" * 50) -> dict[str, Any]:
    """The form Mailgun posts for a route with forward("…/mime"): the raw MIME and its signature."""
    return {
        **signing.mailgun_fields(key=key, token=token),
        "recipient": "support@example.com",
        "sender": "carla@example.com",
        "body-mime": raw.decode("utf-8"),
    }


def url(channel: Channel) -> str:
    return f"/hooks/email/mailgun/{channel.uuid}/"


@pytest.mark.parametrize("suffix", ["", "mime"])
def test_it_stores_a_signed_message_before_answering(mailbox: Channel, alice: Any, suffix: str) -> None:
    raw = fixture_bytes("gmail_reply.eml")

    response = Client().post(url(mailbox) + suffix, signed(raw))

    assert response.status_code == 200
    event = InboundEvent.objects.get(channel=mailbox)
    assert event.external_id == "cah7kd9vz+q1bq2qk3x1ed0=0nyt@mail.gmail.com"
    assert base64.b64decode(event.payload["raw"]).startswith(b"MIME-Version: 1.0")
    interaction = inbound.process_inbound_event(event_id=event.pk)
    assert interaction is not None and "12 rue des Lilas" in interaction.text


def test_it_refuses_a_wrong_signature_and_stores_nothing(mailbox: Channel) -> None:
    response = Client().post(url(mailbox), signed(fixture_bytes("new_request.eml"), key="not-the-key"))

    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_it_refuses_a_post_without_signature(mailbox: Channel) -> None:
    form = signed(fixture_bytes("new_request.eml"))
    del form["signature"]

    assert Client().post(url(mailbox), form).status_code == 403
    assert not InboundEvent.objects.exists()


def test_it_stores_a_redelivered_message_once(mailbox: Channel) -> None:
    raw = fixture_bytes("new_request.eml")
    assert Client().post(url(mailbox), signed(raw)).status_code == 200
    assert Client().post(url(mailbox), signed(raw, token="b" * 50)).status_code == 200
    assert InboundEvent.objects.filter(channel=mailbox).count() == 1


def test_it_answers_404_for_an_unknown_or_unconfigured_channel(mailbox: Channel, support_queue: Queue) -> None:
    raw = fixture_bytes("new_request.eml")
    no_key = Channel.objects.create(kind=Channel.Kind.EMAIL, name="No key", queue=support_queue)

    assert Client().post(url(no_key), signed(raw)).status_code == 404
    assert Client().post("/hooks/email/mailgun/00000000-0000-0000-0000-000000000000/", signed(raw)).status_code == 404


def signed_at(raw: bytes, *, timestamp: int, token: str = "c" * 50, recipient: str = "support@example.com") -> dict:
    form = signed(raw, token=token)
    form.update(
        {**signing.mailgun_fields(key=WEBHOOK_SIGNING_KEY, token=token, timestamp=timestamp), "recipient": recipient}
    )
    return form


def test_it_refuses_a_replayed_token_with_another_message(mailbox: Channel) -> None:
    first = signed(fixture_bytes("new_request.eml"), token="d" * 50)
    assert Client().post(url(mailbox), first).status_code == 200

    replay = dict(first, **{"body-mime": fixture_bytes("gmail_reply.eml").decode()})
    response = Client().post(url(mailbox), replay)

    assert response.status_code == 403 and b"token already used" in response.content
    assert InboundEvent.objects.filter(channel=mailbox).count() == 1


def test_it_accepts_the_providers_retry_of_the_same_call_and_stores_once(mailbox: Channel) -> None:
    form = signed(fixture_bytes("new_request.eml"), token="e" * 50)
    assert Client().post(url(mailbox), form).status_code == 200
    assert Client().post(url(mailbox), form).status_code == 200
    assert InboundEvent.objects.filter(channel=mailbox).count() == 1


# A future timestamp comes closer while the request is handled: a minute's margin, so a loaded machine cannot bring
# it back inside the five-minute window (a past one only gets older).
@pytest.mark.parametrize("age", [301, -360, 86400 * 365], ids=["too-old", "from-the-future", "a-year-old"])
def test_it_refuses_a_signature_outside_the_time_window(mailbox: Channel, age: int) -> None:
    form = signed_at(fixture_bytes("new_request.eml"), timestamp=int(time.time()) - age)
    response = Client().post(url(mailbox), form)
    assert response.status_code == 403 and b"too old" in response.content
    assert not InboundEvent.objects.exists()


def test_it_takes_the_window_from_the_channel(support_queue: Queue) -> None:
    channel = email_channel(support_queue, webhook_max_age=3600)
    form = signed_at(fixture_bytes("new_request.eml"), timestamp=int(time.time()) - 1800)
    assert Client().post(url(channel), form).status_code == 200


@pytest.mark.parametrize(
    "field, value",
    [("signature", "é" * 64), ("token", "tökén" * 10), ("timestamp", "١٧٠٠٠٠٠٠٠٠")],
    ids=["signature", "token", "arabic-digits-timestamp"],
)
def test_it_answers_a_clean_403_to_non_ascii_signature_fields(mailbox: Channel, field: str, value: str) -> None:
    form = signed(fixture_bytes("new_request.eml"))
    form[field] = value
    response = Client(raise_request_exception=False).post(url(mailbox), form)
    assert response.status_code == 403 and b"malformed" in response.content
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(
    "recipient, status",
    [
        ("attacker@example.net", 403),
        ("support@example.com.evil.example", 403),
        ("support@example.com, attacker@example.net", 403),
        ("", 403),
        ("Support+c12-abc@Example.com", 200),
    ],
    ids=["other-address", "lookalike-domain", "one-foreign-of-two", "missing", "sub-address"],
)
def test_it_checks_the_recipient_is_the_channels_address(mailbox: Channel, recipient: str, status: int) -> None:
    form = signed(fixture_bytes("new_request.eml"))
    form["recipient"] = recipient
    assert Client().post(url(mailbox), form).status_code == status
    assert InboundEvent.objects.filter(channel=mailbox).count() == (1 if status == 200 else 0)
