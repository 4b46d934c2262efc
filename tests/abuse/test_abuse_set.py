"""Hostile webhook requests on every provider endpoint, each with its outcome: refused with its status and nothing
stored, or (authentic but odd) stored exactly once — and never a 500 nor a secret in the answer.

Endpoints: Twilio SMS and WhatsApp (/hooks/twilio/), Twilio Voice (/hooks/twilio-voice/), Meta WhatsApp, Messenger and
Instagram (/hooks/meta/), Telegram (/hooks/telegram/), the API channel (/hooks/api/) and the generic CTI (/hooks/cti/).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from interactions.models import InboundEvent
from routing.models import Queue
from tests import signing
from tests.abuse.set_support import (
    API_MESSAGE,
    CTI_EVENT,
    FORM,
    JSON,
    OVERSIZE,
    SECRETS,
    Hooks,
    Req,
    api,
    cti,
    make_hooks,
    meta,
    once,
    page_body,
    send,
    sms,
    tg,
    twice,
    unknown,
    voice,
    wa_body,
    with_header,
    without_headers,
)
from tests.messaging_support import API_SECRET, META_SECRET, TELEGRAM_SECRET, TWILIO_TOKEN, twilio_sms, whatsapp_text
from tests.phone_factories import CTI_SECRET


def api_signed(**forgery: Any) -> dict[str, str]:
    """Our headers over the API message; `forgery` changes what a case breaks (secret, timestamp, digest, prefix)."""
    return signing.omnidesk_headers(body=json.dumps(API_MESSAGE).encode(), **{"secret": API_SECRET, **forgery})


def cti_signed(**forgery: Any) -> dict[str, str]:
    return signing.omnidesk_headers(body=json.dumps(CTI_EVENT).encode(), **{"secret": CTI_SECRET, **forgery})


def meta_signed(**forgery: Any) -> str:
    return signing.meta_signature(body=wa_body(), **{"secret": META_SECRET, **forgery})


NOW = int(time.time())
CASES: list[tuple[str, Callable[[Hooks], list[Req]], tuple[int, ...], int]] = [
    # --- Twilio SMS ----------------------------------------------------------------------------------------------
    ("sms-no-signature", once(lambda h: without_headers(sms(h))), (403,), 0),
    ("sms-empty-signature", once(lambda h: sms(h, signature="")), (403,), 0),
    ("sms-forged-signature", once(lambda h: sms(h, signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")), (403,), 0),
    ("sms-non-ascii-signature", once(lambda h: sms(h, signature="é" * 28)), (403,), 0),
    (
        "sms-emoji-signature",
        once(lambda h: sms(h, signature="🔑" + signing.twilio_signature(token=TWILIO_TOKEN, url="x", params={}))),
        (403,),
        0,
    ),
    (
        "sms-truncated-signature",
        once(lambda h: with_header(sms(h), "X-Twilio-Signature", sms(h).headers["X-Twilio-Signature"][:-2])),
        (403,),
        0,
    ),
    (
        "sms-sha256-instead-of-sha1",
        once(
            lambda h: sms(
                h,
                signature=signing.twilio_signature(
                    token=TWILIO_TOKEN,
                    url=f"http://testserver/hooks/twilio/{h.sms.uuid}/",
                    params=twilio_sms("SMabuse1"),
                    digest=hashlib.sha256,
                ),
            )
        ),
        (403,),
        0,
    ),
    ("sms-wrong-token", once(lambda h: sms(h, token="guessed-token")), (403,), 0),
    (
        "sms-signed-for-another-channel",
        once(lambda h: Req(sms(h, h.other_sms).path, sms(h).body, FORM, sms(h).headers)),
        (403,),
        0,
    ),
    (
        "sms-tampered-body",
        once(lambda h: Req(sms(h).path, sms(h).body.replace(b"Bonjour", b"Virez"), FORM, sms(h).headers)),
        (403,),
        0,
    ),
    ("sms-replayed-three-times", lambda h: [sms(h)] * 3, (200, 200, 200), 1),
    ("sms-unknown-channel", once(lambda h: unknown(sms(h))), (404,), 0),
    ("sms-oversize-body", once(lambda h: sms(h, params={**twilio_sms("SMbig"), "Body": "x" * OVERSIZE})), (413,), 0),
    (
        "sms-json-content-type",
        once(lambda h: Req(sms(h).path, json.dumps(twilio_sms("SMj")).encode(), JSON, sms(h).headers)),
        (403,),
        0,
    ),
    (
        "sms-malformed-form-forged",
        once(lambda h: Req(sms(h).path, b"%%%&&&=%ZZ", FORM, {"X-Twilio-Signature": "x"})),
        (403,),
        0,
    ),
    ("sms-get-method", once(lambda h: Req(sms(h).path, b"", FORM, sms(h).headers, "GET")), (405,), 0),
    ("sms-whatsapp-via-twilio-forged", once(lambda h: sms(h, h.wa_twilio, signature="Zm9yZ2Vk")), (403,), 0),
    (
        "sms-whatsapp-via-twilio-authentic",
        once(
            lambda h: sms(
                h, h.wa_twilio, params=twilio_sms("SMwa1", sender="whatsapp:+33612345678", To="whatsapp:+33700000001")
            )
        ),
        (200,),
        1,
    ),
    ("sms-twilio-to-a-meta-whatsapp-channel", once(lambda h: sms(h, h.wa)), (404,), 0),
    # --- Twilio Voice --------------------------------------------------------------------------------------------
    ("voice-no-signature", once(lambda h: without_headers(voice(h))), (403,), 0),
    ("voice-forged-signature", once(lambda h: voice(h, signature="Zm9yZ2VkIHNpZ25hdHVyZQ==")), (403,), 0),
    ("voice-non-ascii-signature", once(lambda h: voice(h, signature="ß" * 28)), (403,), 0),
    ("voice-wrong-token", once(lambda h: voice(h, token="guessed")), (403,), 0),
    (
        "voice-signed-for-another-channel",
        once(lambda h: Req(voice(h, h.other_voice).path, voice(h).body, FORM, voice(h).headers)),
        (403,),
        0,
    ),
    ("voice-replayed", twice(lambda h: voice(h)), (204, 204), 1),
    ("voice-unknown-channel", once(lambda h: unknown(voice(h))), (404,), 0),
    (
        "voice-unknown-call-status",
        once(lambda h: voice(h, params={"CallSid": "CA1", "CallStatus": "exploded"})),
        (400,),
        0,
    ),
    (
        "voice-oversize-body",
        once(lambda h: voice(h, params={"CallSid": "CA2", "CallStatus": "ringing", "X": "x" * OVERSIZE})),
        (400,),
        0,
    ),
    # --- Meta: WhatsApp Cloud API ----------------------------------------------------------------------------------
    ("wa-no-signature", once(lambda h: without_headers(meta(h))), (403,), 0),
    ("wa-empty-signature", once(lambda h: meta(h, signature="")), (403,), 0),
    ("wa-forged-signature", once(lambda h: meta(h, signature="sha256=" + "0" * 64)), (403,), 0),
    ("wa-non-ascii-signature", once(lambda h: meta(h, signature="sha256=" + "é" * 64)), (403,), 0),
    ("wa-signature-without-prefix", once(lambda h: meta(h, signature=meta_signed()[7:])), (403,), 0),
    ("wa-truncated-signature", once(lambda h: meta(h, signature=meta_signed()[:-1])), (403,), 0),
    (
        "wa-sha1-signature",
        once(
            lambda h: meta(
                h,
                signature=meta_signed(digest=hashlib.sha1, prefix="sha1="),
            )
        ),
        (403,),
        0,
    ),
    ("wa-other-app-secret", once(lambda h: meta(h, signature=meta_signed(secret="other-app"))), (403,), 0),
    ("wa-tampered-body", once(lambda h: meta(h, body=wa_body("wamid.EVIL"), signature=meta_signed())), (403,), 0),
    ("wa-replayed-three-times", lambda h: [meta(h)] * 3, (200, 200, 200), 1),
    ("wa-for-another-phone-number", once(lambda h: meta(h, body=wa_body(phone_number_id="999"))), (200,), 0),
    (
        "wa-without-metadata",
        once(
            lambda h: meta(
                h,
                body=json.dumps(
                    {
                        "object": "whatsapp_business_account",
                        "entry": [{"changes": [{"value": {"messages": [whatsapp_text("wamid.NOMETA")]}}]}],
                    }
                ).encode(),
            )
        ),
        (200,),
        0,
    ),
    ("wa-page-object-on-whatsapp", once(lambda h: meta(h, body=page_body())), (200,), 0),
    ("wa-unknown-channel", once(lambda h: unknown(meta(h))), (404,), 0),
    ("wa-oversize-body", once(lambda h: meta(h, body=b"{" + b" " * OVERSIZE + b"}")), (413,), 0),
    (
        "wa-malformed-json-authentic",
        once(lambda h: meta(h, body=b'{"object": "whatsapp_business_account", "en')),
        (200,),
        1,
    ),
    ("wa-empty-body-authentic", once(lambda h: meta(h, body=b"")), (200,), 1),
    ("wa-latin1-body-authentic", once(lambda h: meta(h, body=b'{"entry": "\xe9\xff"}')), (200,), 1),
    ("wa-text-plain-content-type-authentic", once(lambda h: meta(h, content_type="text/plain")), (200,), 1),
    (
        "wa-hub-challenge-wrong-token",
        once(
            lambda h: Req(
                f"/hooks/meta/{h.wa.uuid}/?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=42",
                b"",
                JSON,
                {},
                "GET",
            )
        ),
        (403,),
        0,
    ),
    (
        "wa-hub-challenge-non-ascii-token",
        once(
            lambda h: Req(
                f"/hooks/meta/{h.wa.uuid}/?hub.mode=subscribe&hub.verify_token=%C3%A9t%C3%A9&hub.challenge=42",
                b"",
                JSON,
                {},
                "GET",
            )
        ),
        (403,),
        0,
    ),
    # --- Meta: Messenger and Instagram ---------------------------------------------------------------------------
    (
        "messenger-forged-signature",
        once(lambda h: meta(h, h.messenger, body=page_body(), signature="sha256=00")),
        (403,),
        0,
    ),
    (
        "messenger-non-ascii-signature",
        once(lambda h: meta(h, h.messenger, body=page_body(), signature="sha256=ü")),
        (403,),
        0,
    ),
    ("messenger-another-page", once(lambda h: meta(h, h.messenger, body=page_body(account="page-2"))), (200,), 0),
    (
        "messenger-instagram-object",
        once(lambda h: meta(h, h.messenger, body=page_body("instagram", "page-1"))),
        (200,),
        0,
    ),
    ("messenger-replayed", twice(lambda h: meta(h, h.messenger, body=page_body())), (200, 200), 1),
    (
        "messenger-entry-not-an-object",
        once(lambda h: meta(h, h.messenger, body=b'{"object": "page", "entry": [7]}')),
        (200,),
        0,
    ),
    (
        "instagram-forged-signature",
        once(lambda h: meta(h, h.instagram, body=page_body("instagram"), signature="sha256=" + "f" * 64)),
        (403,),
        0,
    ),
    ("instagram-another-account", once(lambda h: meta(h, h.instagram, body=page_body("instagram", "ig-2"))), (200,), 0),
    ("instagram-page-object", once(lambda h: meta(h, h.instagram, body=page_body("page", "ig-1"))), (200,), 0),
    ("instagram-authentic-once", twice(lambda h: meta(h, h.instagram, body=page_body("instagram"))), (200, 200), 1),
    # --- Telegram ---------------------------------------------------------------------------------------------------
    ("telegram-no-token", once(lambda h: tg(h, token=None)), (403,), 0),
    ("telegram-empty-token", once(lambda h: tg(h, token="")), (403,), 0),
    ("telegram-wrong-token", once(lambda h: tg(h, token="guessed-token")), (403,), 0),
    ("telegram-non-ascii-token", once(lambda h: tg(h, token="sécret-tökén")), (403,), 0),
    ("telegram-truncated-token", once(lambda h: tg(h, token=TELEGRAM_SECRET[:-1])), (403,), 0),
    ("telegram-token-with-trailing-space", once(lambda h: tg(h, token=TELEGRAM_SECRET + " ")), (403,), 0),
    ("telegram-other-channel-token", once(lambda h: tg(h, token="other-channel-secret")), (403,), 0),
    ("telegram-token-of-this-channel-on-another", once(lambda h: tg(h, h.other_telegram)), (403,), 0),
    ("telegram-replayed-update", lambda h: [tg(h)] * 3, (200, 200, 200), 1),
    ("telegram-unknown-channel", once(lambda h: unknown(tg(h))), (404,), 0),
    ("telegram-oversize-body", once(lambda h: tg(h, body=b"[" + b"0," * (OVERSIZE // 2) + b"0]")), (413,), 0),
    ("telegram-malformed-json-authentic", once(lambda h: tg(h, body=b'{"update_id": 1, "message": {')), (200,), 1),
    ("telegram-form-content-type-authentic", once(lambda h: tg(h, content_type=FORM)), (200,), 1),
    # --- the API channel ------------------------------------------------------------------------------------------
    ("api-no-signature", once(lambda h: api(h, headers={})), (403,), 0),
    (
        "api-signature-without-timestamp",
        once(
            lambda h: api(
                h,
                headers={"X-Omnidesk-Signature": api_signed()["X-Omnidesk-Signature"]},
            )
        ),
        (403,),
        0,
    ),
    (
        "api-forged-signature",
        once(
            lambda h: api(h, headers={"X-Omnidesk-Timestamp": str(NOW), "X-Omnidesk-Signature": "sha256=" + "1" * 64})
        ),
        (403,),
        0,
    ),
    (
        "api-non-ascii-signature",
        once(
            lambda h: api(
                h, headers={"X-Omnidesk-Timestamp": str(int(time.time())), "X-Omnidesk-Signature": "sha256=ñ" * 8}
            )
        ),
        (403,),
        0,
    ),
    (
        "api-non-ascii-timestamp",
        once(
            lambda h: api(
                h,
                headers=api_signed(timestamp="１７６４"),
            )
        ),
        (403,),
        0,
    ),
    (
        "api-expired-timestamp",
        once(
            lambda h: api(
                h,
                headers=api_signed(timestamp=str(NOW - 3600)),
            )
        ),
        (403,),
        0,
    ),
    (
        "api-future-timestamp",
        once(
            lambda h: api(
                h,
                headers=api_signed(timestamp=str(NOW + 3600)),
            )
        ),
        (403,),
        0,
    ),
    (
        "api-sha1-signature",
        once(
            lambda h: api(
                h,
                headers=api_signed(digest=hashlib.sha1, prefix="sha1="),
            )
        ),
        (403,),
        0,
    ),
    (
        "api-truncated-signature",
        once(
            lambda h: api(
                h,
                headers={
                    **api_signed(),
                    "X-Omnidesk-Signature": "sha256=abc",
                },
            )
        ),
        (403,),
        0,
    ),
    (
        "api-signed-with-another-channel-secret",
        once(
            lambda h: api(
                h,
                headers=api_signed(secret="other-channel-secret"),
            )
        ),
        (403,),
        0,
    ),
    ("api-valid-request-on-another-channel", once(lambda h: api(h, h.other_api)), (403,), 0),
    ("api-replayed-within-window", twice(lambda h: api(h)), (200, 200), 1),
    ("api-unknown-channel", once(lambda h: unknown(api(h))), (404,), 0),
    ("api-oversize-body", once(lambda h: api(h, body=b'{"text": "' + b"x" * OVERSIZE + b'"}')), (413,), 0),
    ("api-malformed-json-authentic", once(lambda h: api(h, body=b'{"id": "x", ')), (400,), 0),
    ("api-latin1-body-authentic", once(lambda h: api(h, body=b'{"id": "\xe9"}')), (400,), 0),
    ("api-json-array-authentic", once(lambda h: api(h, body=b"[1, 2, 3]")), (400,), 0),
    ("api-message-without-sender-authentic", once(lambda h: api(h, body=b'{"id": "m", "text": "hi"}')), (400,), 0),
    ("api-form-content-type-authentic", once(lambda h: api(h, content_type=FORM)), (200,), 1),
    # --- the generic CTI ------------------------------------------------------------------------------------------
    ("cti-no-signature", once(lambda h: cti(h, headers={})), (403,), 0),
    (
        "cti-forged-signature",
        once(
            lambda h: cti(
                h, headers={"X-Omnidesk-Timestamp": str(int(time.time())), "X-Omnidesk-Signature": "sha256=" + "2" * 64}
            )
        ),
        (403,),
        0,
    ),
    (
        "cti-non-ascii-signature",
        once(
            lambda h: cti(
                h, headers={"X-Omnidesk-Timestamp": str(int(time.time())), "X-Omnidesk-Signature": "sha256=" + "ø" * 64}
            )
        ),
        (403,),
        0,
    ),
    (
        "cti-non-ascii-timestamp",
        once(
            lambda h: cti(
                h,
                headers=cti_signed(timestamp="٣٤٥"),
            )
        ),
        (403,),
        0,
    ),
    (
        "cti-expired-timestamp",
        once(
            lambda h: cti(
                h,
                headers=cti_signed(timestamp=str(NOW - 600)),
            )
        ),
        (403,),
        0,
    ),
    (
        "cti-md5-signature",
        once(
            lambda h: cti(
                h,
                headers=cti_signed(digest=hashlib.md5, prefix="md5="),
            )
        ),
        (403,),
        0,
    ),
    (
        "cti-truncated-signature",
        once(
            lambda h: cti(
                h,
                headers={
                    **cti_signed(),
                    "X-Omnidesk-Signature": "sha256=12",
                },
            )
        ),
        (403,),
        0,
    ),
    ("cti-valid-request-on-another-channel", once(lambda h: cti(h, h.other_voice)), (403,), 0),
    ("cti-replayed-within-window", twice(lambda h: cti(h)), (202, 202), 1),
    ("cti-unknown-channel", once(lambda h: unknown(cti(h))), (404,), 0),
    ("cti-malformed-json-authentic", once(lambda h: cti(h, body=b'{"event": ')), (400,), 0),
    ("cti-unknown-event-authentic", once(lambda h: cti(h, body=b'{"event": "explode", "call_id": "c"}')), (400,), 0),
    ("cti-oversize-body", once(lambda h: cti(h, body=b'{"x": "' + b"y" * OVERSIZE + b'"}')), (400,), 0),
]


@pytest.fixture
def hooks(support_queue: Queue) -> Hooks:
    return make_hooks(support_queue)


def test_it_has_at_least_seventy_distinct_hostile_inputs() -> None:
    assert len({name for name, *_ in CASES}) == len(CASES) >= 70


@pytest.mark.parametrize(("requests", "statuses", "stored"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_it_answers_each_hostile_webhook_as_expected(
    hooks: Hooks, requests: Callable[[Hooks], list[Req]], statuses: tuple[int, ...], stored: int
) -> None:
    answers = [send(req) for req in requests(hooks)]
    assert tuple(answer.status_code for answer in answers) == statuses
    assert InboundEvent.objects.count() == stored
    for answer in answers:
        content = answer.content.decode("utf-8", errors="replace")
        assert not any(secret in content for secret in SECRETS)
        assert "Traceback" not in content
