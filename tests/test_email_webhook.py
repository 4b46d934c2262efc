"""Inbound email through Mailgun's route webhook (django-anymail): signed, stored raw before the 200."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import pytest
from django.test import Client

from interactions import inbound
from interactions.models import Channel, InboundEvent
from routing.models import Queue
from tests.mail_support import WEBHOOK_SIGNING_KEY, email_channel, fixture_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(support_queue: Queue) -> Channel:
    return email_channel(support_queue)


def signed(raw: bytes, *, key: str = WEBHOOK_SIGNING_KEY, token: str = "a" * 50) -> dict[str, Any]:
    """The form Mailgun posts for a route with forward("…/mime"): the raw MIME and its signature."""
    timestamp = str(int(time.time()))
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "token": token,
        "timestamp": timestamp,
        "signature": signature,
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
