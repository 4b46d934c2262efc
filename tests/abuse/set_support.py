"""The abuse suite's webhook requests: channels under attack and builders of authentic requests (signed through
tests/signing.py) that test_abuse_set.py's cases then break."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.test import Client

from interactions.models import Channel
from routing.models import Queue
from tests import signing
from tests.messaging_support import (
    API_SECRET,
    META_SECRET,
    TELEGRAM_SECRET,
    TWILIO_TOKEN,
    make_channel,
    messenger_envelope,
    telegram_update,
    twilio_sms,
    whatsapp_envelope,
    whatsapp_text,
)
from tests.phone_factories import CTI_SECRET, phone_channel

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
OVERSIZE = 3 * 1024 * 1024  # above DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB)
SECRETS = (TWILIO_TOKEN, META_SECRET, TELEGRAM_SECRET, API_SECRET, CTI_SECRET, "other-channel-secret")


@dataclass
class Req:
    path: str
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


@dataclass
class Hooks:
    """The channels under attack, and for each kind a second channel with secrets of its own."""

    sms: Channel
    wa_twilio: Channel
    wa: Channel
    messenger: Channel
    instagram: Channel
    telegram: Channel
    api: Channel
    voice: Channel
    other_sms: Channel
    other_telegram: Channel
    other_api: Channel
    other_voice: Channel


# --- authentic requests, which the cases then break ----------------------------------------------------------------


def sms(
    h: Hooks,
    channel: Channel | None = None,
    *,
    sid: str = "SMabuse1",
    signature: str | None = None,
    params: dict[str, str] | None = None,
    token: str = TWILIO_TOKEN,
) -> Req:
    channel = channel or h.sms
    path = f"/hooks/twilio/{channel.uuid}/"
    params = params if params is not None else twilio_sms(sid)
    sig = (
        signing.twilio_signature(token=token, url=f"http://testserver{path}", params=params)
        if signature is None
        else signature
    )
    return Req(path, urlencode(params).encode(), FORM, {"X-Twilio-Signature": sig})


def voice(
    h: Hooks,
    channel: Channel | None = None,
    *,
    signature: str | None = None,
    params: dict[str, str] | None = None,
    token: str = TWILIO_TOKEN,
) -> Req:
    channel = channel or h.voice
    path = f"/hooks/twilio-voice/{channel.uuid}/"
    params = params if params is not None else {"CallSid": "CAabuse", "CallStatus": "ringing", "From": "+33612345678"}
    sig = (
        signing.twilio_signature(token=token, url=f"http://testserver{path}", params=params)
        if signature is None
        else signature
    )
    return Req(path, urlencode(params).encode(), FORM, {"X-Twilio-Signature": sig})


def wa_body(wamid: str = "wamid.ABUSE", **kw: Any) -> bytes:
    return json.dumps(whatsapp_envelope(messages=[whatsapp_text(wamid)], **kw)).encode()


def meta(
    h: Hooks,
    channel: Channel | None = None,
    *,
    body: bytes | None = None,
    signature: str | None = None,
    content_type: str = JSON,
) -> Req:
    channel = channel or h.wa
    body = wa_body() if body is None else body
    return Req(
        f"/hooks/meta/{channel.uuid}/",
        body,
        content_type,
        {
            "X-Hub-Signature-256": signing.meta_signature(secret=META_SECRET, body=body)
            if signature is None
            else signature
        },
    )


def page_body(object_: str = "page", account: str = "", mid: str = "m_abuse") -> bytes:
    item = {"sender": {"id": "PSID-9"}, "recipient": {"id": "page-1"}, "timestamp": 1, "message": {"mid": mid}}
    return json.dumps(messenger_envelope([item], object_=object_, account=account)).encode()


def tg(
    h: Hooks,
    channel: Channel | None = None,
    *,
    body: bytes | None = None,
    token: str | None = TELEGRAM_SECRET,
    content_type: str = JSON,
) -> Req:
    channel = channel or h.telegram
    body = json.dumps(telegram_update(9001)).encode() if body is None else body
    headers = {} if token is None else signing.telegram_headers(secret_token=token)
    return Req(f"/hooks/telegram/{channel.uuid}/", body, content_type, headers)


API_MESSAGE = {"id": "abuse-1", "from": {"id": "u-1"}, "text": "Bonjour"}


def api(
    h: Hooks,
    channel: Channel | None = None,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = JSON,
) -> Req:
    channel = channel or h.api
    body = json.dumps(API_MESSAGE).encode() if body is None else body
    return Req(
        f"/hooks/api/{channel.uuid}/",
        body,
        content_type,
        signing.omnidesk_headers(secret=API_SECRET, body=body) if headers is None else headers,
    )


CTI_EVENT = {"event": "ringing", "call_id": "call-abuse", "from": "+33612345678"}


def cti(
    h: Hooks,
    channel: Channel | None = None,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = JSON,
) -> Req:
    channel = channel or h.voice
    body = json.dumps(CTI_EVENT).encode() if body is None else body
    return Req(
        f"/hooks/cti/{channel.uuid}/",
        body,
        content_type,
        signing.omnidesk_headers(secret=CTI_SECRET, body=body) if headers is None else headers,
    )


def with_header(req: Req, name: str, value: str) -> Req:
    return Req(req.path, req.body, req.content_type, {**req.headers, name: value}, req.method)


def without_headers(req: Req) -> Req:
    return Req(req.path, req.body, req.content_type, {}, req.method)


def unknown(req: Req) -> Req:
    prefix, _uuid, rest = req.path.rsplit("/", 2)
    return Req(f"{prefix}/{uuid.uuid4()}/{rest}", req.body, req.content_type, req.headers, req.method)


def twice(build: Callable[[Hooks], Req]) -> Callable[[Hooks], list[Req]]:
    return lambda h: [build(h), build(h)]


def once(build: Callable[[Hooks], Req]) -> Callable[[Hooks], list[Req]]:
    return lambda h: [build(h)]


def make_hooks(support_queue: Queue) -> Hooks:
    def other(channel: Channel, **secrets: str) -> Channel:
        channel.secrets = {**channel.secrets, **secrets}
        channel.save()
        return channel

    return Hooks(
        sms=make_channel(Channel.Kind.SMS, support_queue),
        wa_twilio=make_channel(Channel.Kind.WHATSAPP, support_queue, provider="twilio", from_number="+33700000001"),
        wa=make_channel(Channel.Kind.WHATSAPP, support_queue),
        messenger=make_channel(Channel.Kind.MESSENGER, support_queue),
        instagram=make_channel(Channel.Kind.INSTAGRAM, support_queue),
        telegram=make_channel(Channel.Kind.TELEGRAM, support_queue),
        api=make_channel(Channel.Kind.API, support_queue),
        voice=phone_channel(support_queue),
        other_sms=other(make_channel(Channel.Kind.SMS, support_queue), auth_token="other-channel-secret"),
        other_telegram=other(make_channel(Channel.Kind.TELEGRAM, support_queue), secret_token="other-channel-secret"),
        other_api=other(make_channel(Channel.Kind.API, support_queue), signing_secret="other-channel-secret"),
        other_voice=other(
            phone_channel(support_queue), cti_secret="other-channel-secret", twilio_auth_token="other-channel-secret"
        ),
    )


def send(req: Req) -> Any:
    client = Client(raise_request_exception=False)  # a 500 must show as a 500, not as the test's own exception
    if req.method == "GET":
        return client.get(req.path, headers=req.headers)
    return client.generic(req.method, req.path, req.body, content_type=req.content_type, headers=req.headers)
