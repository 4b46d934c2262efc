"""The `hooks` process's application (omnidesk/hooks_app.py): every provider's webhook answered as on the site, with
the same security headers, host check and HTTPS redirect, and nothing but the webhooks served."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import psycopg2
import pytest
from django.db import connection
from django.test import Client
from django.test.client import ClientHandler
from django.test.utils import CaptureQueriesContext

from interactions import inbound_nudge, intake
from interactions.messaging.models import SignatureRejection
from interactions.models import Channel, InboundEvent
from omnidesk.hooks_app import HooksRouting
from routing.models import Queue
from tests import signing
from tests.mail_support import WEBHOOK_SIGNING_KEY
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
from tests.phone_factories import cti_body, signed_headers

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Strict-Transport-Security",
)


class HooksClientHandler(HooksRouting, ClientHandler):
    """Django's test client handler with the hooks' middleware and URLconf: the request goes through exactly what the
    `hooks` process runs, as the site's tests go through the site's."""


def hooks_client() -> Client:
    """Made inside each test: the middleware reads its settings (HTTPS, HSTS…) when the handler loads it."""
    client = Client()
    client.handler = HooksClientHandler(enforce_csrf_checks=True)
    return client


def post_twilio(client: Client, channel: Channel, sid: str, *, token: str = TWILIO_TOKEN) -> Any:
    url = f"http://testserver/hooks/twilio/{channel.uuid}/"
    params = twilio_sms(sid)
    return client.post(url, params, headers=signing.twilio_headers(token=token, url=url, params=params))


def test_it_accepts_a_twilio_sms_with_one_select_one_insert_and_one_publish(
    support_queue: Queue, django_capture_on_commit_callbacks: Any
) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    store = inbound_nudge.mark_store()
    if store is not None:
        store.delete(inbound_nudge.pending_mark(sms.pk))
    with CaptureQueriesContext(connection) as captured, django_capture_on_commit_callbacks(execute=True) as hooks:
        response = post_twilio(hooks_client(), sms, "SMhooks1")

    assert response.status_code == 200, response.content
    assert response.content.decode().startswith("<?xml")
    sql = [query["sql"].split()[0] for query in captured.captured_queries]
    assert [word for word in sql if word not in ("SAVEPOINT", "RELEASE")] == ["SELECT", "INSERT"]
    assert len(hooks) == 1, "one nudge after the commit"
    assert InboundEvent.objects.filter(channel=sms, external_id="SMhooks1", provider="twilio").count() == 1
    if store is not None:
        store.delete(inbound_nudge.pending_mark(sms.pk))


def test_it_stores_a_redelivered_twilio_sms_once(support_queue: Queue) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    client = hooks_client()
    assert post_twilio(client, sms, "SMtwice").status_code == 200
    assert post_twilio(client, sms, "SMtwice").status_code == 200
    assert InboundEvent.objects.filter(channel=sms, external_id="SMtwice").count() == 1


def test_it_refuses_a_forged_twilio_signature_with_a_counted_403(support_queue: Queue) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    response = post_twilio(hooks_client(), sms, "SMforged", token="not-the-token")
    assert response.status_code == 403
    assert response.content == f"{intake.MISMATCH}\n".encode()
    assert SignatureRejection.objects.get(channel=sms, provider="twilio").count == 1
    assert not InboundEvent.objects.filter(channel=sms).exists()


def test_it_accepts_a_whatsapp_message_and_the_meta_handshake(support_queue: Queue) -> None:
    whatsapp = make_channel(Channel.Kind.WHATSAPP, support_queue)
    client = hooks_client()
    raw = json.dumps(whatsapp_envelope(messages=[whatsapp_text("wamid.HOOKS1")])).encode()
    response = client.post(
        f"/hooks/meta/{whatsapp.uuid}/",
        raw,
        content_type="application/json",
        headers=signing.meta_headers(secret=META_SECRET, body=raw),
    )
    assert response.status_code == 200, response.content
    assert InboundEvent.objects.filter(channel=whatsapp, external_id="wamid.HOOKS1").exists()

    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "<b>42</b>"}
    handshake = client.get(f"/hooks/meta/{whatsapp.uuid}/", query)
    assert handshake.status_code == 200 and handshake.content == b"<b>42</b>"
    # The echoed challenge is plain text that browsers must not sniff into HTML.
    assert handshake["Content-Type"].startswith("text/plain") and handshake["X-Content-Type-Options"] == "nosniff"
    forged = client.get(f"/hooks/meta/{whatsapp.uuid}/", {**query, "hub.verify_token": "guess"})
    assert forged.status_code == 403 and b"42" not in forged.content


def test_it_accepts_a_telegram_update_only_with_the_secret_token(support_queue: Queue) -> None:
    telegram = make_channel(Channel.Kind.TELEGRAM, support_queue)
    client = hooks_client()
    raw = json.dumps(telegram_update(5001)).encode()
    url = f"/hooks/telegram/{telegram.uuid}/"
    forged = client.post(url, raw, content_type="application/json", headers={"X-Telegram-Bot-Api-Secret-Token": "x"})
    accepted = client.post(
        url, raw, content_type="application/json", headers=signing.telegram_headers(secret_token=TELEGRAM_SECRET)
    )
    assert (forged.status_code, accepted.status_code) == (403, 200)
    assert InboundEvent.objects.filter(channel=telegram).count() == 1


def test_it_accepts_an_api_channel_message_with_the_apis_json_answers(support_queue: Queue) -> None:
    api = make_channel(Channel.Kind.API, support_queue)
    client = hooks_client()
    raw = json.dumps({"id": "msg-hooks-1", "from": {"id": "user-42", "name": "Jeanne"}, "text": "Hello"}).encode()
    url = f"/hooks/api/{api.uuid}/"
    accepted = client.post(
        url, raw, content_type="application/json", headers=signing.omnidesk_headers(secret=API_SECRET, body=raw)
    )
    forged = client.post(
        url, raw, content_type="application/json", headers=signing.omnidesk_headers(secret="wrong", body=raw)
    )
    assert accepted.status_code == 200 and accepted.json() == {"accepted": 1}
    assert forged.status_code == 403 and forged.json()["code"] == "webhook_refused"


def test_it_accepts_cti_and_twilio_voice_events(hotline: Channel) -> None:
    client = hooks_client()
    raw = json.dumps(cti_body("ringing", "hooks-call-1", caller="0612345678")).encode()
    cti = client.post(f"/hooks/cti/{hotline.uuid}/", raw, content_type="application/json", headers=signed_headers(raw))
    assert cti.status_code == 202, cti.content

    url = f"http://testserver/hooks/twilio-voice/{hotline.uuid}/"
    params = {"CallSid": "CAhooks1", "CallStatus": "ringing", "From": "+33612345678", "To": "+33700000009"}
    voice = client.post(
        url,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers=signing.twilio_headers(token=TWILIO_TOKEN, url=url, params=params),
    )
    assert voice.status_code == 204, voice.content
    assert InboundEvent.objects.filter(channel=hotline).count() == 2


def test_it_refuses_a_mailgun_post_with_a_wrong_signature(mailbox: Channel) -> None:
    form = {
        **signing.mailgun_fields(key="not-" + WEBHOOK_SIGNING_KEY, token="h" * 50),
        "recipient": "support@example.com",
        "body-mime": "Subject: hi\r\n\r\nhello",
    }
    response = hooks_client().post(f"/hooks/email/mailgun/{mailbox.uuid}/mime", form)
    assert response.status_code == 403
    assert SignatureRejection.objects.get(channel=mailbox, provider="mailgun").count == 1


def test_it_sends_the_sites_security_headers(support_queue: Queue) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    on_hooks = post_twilio(hooks_client(), sms, "SMheaders", token="forged")
    on_site = post_twilio(Client(), sms, "SMheaders", token="forged")
    assert on_hooks.status_code == on_site.status_code == 403
    assert {name: on_hooks.get(name) for name in SECURITY_HEADERS} == {
        name: on_site.get(name) for name in SECURITY_HEADERS
    }
    assert on_hooks["X-Frame-Options"] == "DENY" and "default-src 'self'" in on_hooks["Content-Security-Policy"]


def test_it_redirects_to_https_and_sends_hsts_when_the_site_does(settings: Any, support_queue: Queue) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    sms = make_channel(Channel.Kind.SMS, support_queue)
    client = hooks_client()

    plain = post_twilio(client, sms, "SMplain")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    url = f"https://testserver/hooks/twilio/{sms.uuid}/"
    params = twilio_sms("SMsecure")
    secure = client.post(
        url, params, headers=signing.twilio_headers(token=TWILIO_TOKEN, url=url, params=params), secure=True
    )
    assert secure.status_code == 200 and secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert list(InboundEvent.objects.filter(channel=sms).values_list("external_id", flat=True)) == ["SMsecure"]


def test_it_refuses_a_host_the_site_does_not_serve(hotline: Channel) -> None:
    # A CTI event: its signature does not involve the URL, so only the host check itself can refuse it.
    raw = json.dumps(cti_body("ringing", "hooks-host", caller="0612345678")).encode()
    response = hooks_client().post(
        f"/hooks/cti/{hotline.uuid}/",
        raw,
        content_type="application/json",
        headers=signed_headers(raw),
        HTTP_HOST="evil.example",
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.filter(channel=hotline).exists()


@pytest.mark.parametrize("path", ["/desk/", "/admin/", "/api/conversations/", "/accounts/login/", "/healthz"])
def test_it_serves_nothing_but_the_webhooks(path: str) -> None:
    assert hooks_client().get(path).status_code == 404


def test_it_answers_404_for_an_unknown_channel() -> None:
    response = hooks_client().post("/hooks/twilio/00000000-0000-0000-0000-000000000000/", {"MessageSid": "SMx"})
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_with_retry_after_when_the_database_is_down(support_queue: Queue) -> None:
    sms = make_channel(Channel.Kind.SMS, support_queue)
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg2.connect(dbname=db["NAME"], host=db["HOST"] or "127.0.0.1", user=db["USER"] or "postgres") as admin:
        admin.cursor().execute("SELECT pg_terminate_backend(%s)", [pid])
    response = post_twilio(hooks_client(), sms, "SMdown")
    connection.close_if_unusable_or_obsolete()  # what Django does at the end of every request
    assert response.status_code == 503 and response["Retry-After"] == "5"
