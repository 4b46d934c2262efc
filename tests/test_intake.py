"""The one signed-webhook intake: each behaviour decided where messaging, phone and mail had drifted."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import psycopg2
import pytest
from django.db import connection
from django.test import Client

from interactions import intake
from interactions.messaging.models import SignatureRejection
from interactions.models import Channel, InboundEvent
from tests import signing
from tests.phone_factories import TWILIO_TOKEN, cti_body, post_cti


def refused(channel: Channel, provider: str) -> int:
    return sum(SignatureRejection.objects.filter(channel=channel, provider=provider).values_list("count", flat=True))


def cut_database_connection() -> None:
    """A real outage for this process: PostgreSQL ends its session (as test_webhooks does for messaging)."""
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg2.connect(dbname=db["NAME"], host=db["HOST"] or "127.0.0.1", user=db["USER"] or "postgres") as admin:
        admin.cursor().execute("SELECT pg_terminate_backend(%s)", [pid])


def reconnect() -> None:
    # What Django does at the end of every request (the test client skips it): drop the broken connection.
    connection.close_if_unusable_or_obsolete()


def test_it_counts_a_refused_cti_event_like_every_other_webhook(hotline: Channel) -> None:
    response = post_cti(Client(), hotline, cti_body("ringing", "call-x"), secret="not-the-secret")
    assert response.status_code == 403
    assert response.json() == {"detail": intake.MISMATCH, "code": "webhook_refused", "fields": {}}
    assert refused(hotline, "cti") == 1 and not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_with_retry_after_when_the_database_is_down_for_a_cti_event(hotline: Channel) -> None:
    cut_database_connection()
    response = post_cti(Client(), hotline, cti_body("ringing", "call-y"))
    reconnect()
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["code"] == "storage_unavailable"


def twilio_voice(channel: Channel, params: list[tuple[str, str]], *, token: str = TWILIO_TOKEN) -> Any:
    url = f"http://testserver/hooks/twilio-voice/{channel.uuid}/"
    return Client().post(
        f"/hooks/twilio-voice/{channel.uuid}/",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=signing.twilio_headers(token=token, url=url, params=dict(params))
        if len(dict(params)) == len(params)
        else {"X-Twilio-Signature": signing.twilio_signature(token=token, url=url, params=params)},
    )


def test_it_signs_every_value_of_a_repeated_twilio_voice_parameter(hotline: Channel) -> None:
    params = [("CallSid", "CA9"), ("CallStatus", "ringing"), ("From", "+33612345678"), ("X", "a"), ("X", "b")]
    assert twilio_voice(hotline, params).status_code == 204
    assert InboundEvent.objects.filter(provider="twilio_voice", external_id="CA9:ringing").exists()


@pytest.mark.django_db(transaction=True)
def test_it_counts_a_refused_twilio_voice_callback_and_answers_503_when_the_database_is_down(
    hotline: Channel,
) -> None:
    params = [("CallSid", "CA10"), ("CallStatus", "ringing")]
    assert twilio_voice(hotline, params, token="wrong").status_code == 403
    assert refused(hotline, "twilio_voice") == 1
    cut_database_connection()
    answer = twilio_voice(hotline, params)
    reconnect()
    assert answer.status_code == 503


@pytest.mark.parametrize("prefix", ["sha256=", ""])
def test_it_takes_our_signature_with_or_without_its_prefix(prefix: str) -> None:
    body, stamp = json.dumps({"a": 1}).encode(), "1764579600"
    signature = signing.omnidesk_signature(secret="s", timestamp=stamp, body=body).removeprefix("sha256=")
    reason = intake.check_timestamped(
        secret="s", timestamp=stamp, body=body, signature=prefix + signature, window=300, now=1764579600
    )
    assert reason == ""


def test_it_never_raises_on_a_non_ascii_signature() -> None:
    reason = intake.check_timestamped(
        secret="s", timestamp="1764579600", body=b"{}", signature="sha256=é\udcff", window=300, now=1764579600
    )
    assert reason == intake.MISMATCH
