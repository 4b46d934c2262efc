"""Abuse suite, realtime share: hostile widget and desk socket inputs, each with its expected outcome.

Every case runs on the real ASGI application (URL routing, origin and session middleware, consumers) with the real
PostgreSQL and Redis. Outcomes: refused with a clear error code (and a close code where the socket must end),
neutralized (a fresh anonymous visitor instead of someone's history), or stored exactly once, verbatim.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core import signing
from django.test import override_settings

from customers.models import Identity
from customers.services import resolve_identity
from interactions import visitors
from interactions.consumers import MAX_FRAME_BYTES
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from routing.models import Queue
from tests.rt_support import ORIGIN, aged_token, closed_within, greet, widget_socket

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_HISTORY = "Historique confidentiel de la visiteuse connue"
JEANNE = "jeanne@example.com"


@dataclass
class World:
    channel: Channel
    other: Channel
    email: Channel
    inactive: Channel
    known_visitor: str  # an anonymous visitor of `channel` with a message in their history
    known_token: str
    signed_visitor: str  # a visitor linked to Jeanne's verified identity
    signed_token: str


def chatted(channel: Channel, *, visitor: str, text: str) -> None:
    """An earlier chat message of `visitor` (written directly: routing it adds nothing to these cases)."""
    customer = resolve_identity(kind=Identity.Kind.WIDGET, address=visitor).customer
    conversation = Conversation.objects.create(customer=customer, channel=channel, status="resolved")
    Interaction.objects.create(
        conversation=conversation, customer=customer, channel=channel, direction="in", text=text, external_id=text
    )


@pytest.fixture
def world(support_queue: Queue, chat_channel: Channel) -> World:
    other = Channel.objects.create(kind="chat", name="Other site", queue=support_queue, allowed_origins=[ORIGIN])
    email = Channel.objects.create(kind="email", name="Mailbox", queue=support_queue, allowed_origins=[ORIGIN])
    inactive = Channel.objects.create(
        kind="chat", name="Old site", queue=support_queue, allowed_origins=[ORIGIN], is_active=False
    )
    known = visitors.new_visitor_id(channel=chat_channel)
    chatted(chat_channel, visitor=known, text=SECRET_HISTORY)
    signed_visitor = visitors.new_visitor_id(channel=chat_channel)
    visitors.identify_visitor(
        channel=chat_channel,
        visitor_id=signed_visitor,
        email=JEANNE,
        name="Jeanne",
        identifier_hash=visitors.sign_visitor_email(channel=chat_channel, email=JEANNE),
    )
    chatted(chat_channel, visitor=signed_visitor, text=SECRET_HISTORY + " (Jeanne)")
    return World(
        channel=chat_channel,
        other=other,
        email=email,
        inactive=inactive,
        known_visitor=known,
        known_token=visitors.issue_visitor_token(channel=chat_channel, visitor_id=known),
        signed_visitor=signed_visitor,
        signed_token=visitors.issue_visitor_token(channel=chat_channel, visitor_id=signed_visitor, verified=True),
    )


# --- frames before any hello ----------------------------------------------------------------------------------------

NESTED = "[" * 50_000
BEFORE_HELLO: list[tuple[str, str | bytes, str, int | None]] = [
    ("not-json", "garbage", "bad_frame", None),
    ("control-chars", "\x00\x01\x02\x1b[31m", "bad_frame", None),
    ("json-array", "[]", "bad_frame", None),
    ("json-string", '"hello"', "bad_frame", None),
    ("json-number", "42", "bad_frame", None),
    ("json-null", "null", "bad_frame", None),
    ("json-true", "true", "bad_frame", None),
    ("blank-text", " ", "bad_frame", None),
    ("type-is-int", '{"type": 5}', "bad_frame", None),
    ("type-is-null", '{"type": null}', "bad_frame", None),
    ("type-is-list", '{"type": ["hello"]}', "bad_frame", None),
    ("no-type", '{"channel": "x"}', "bad_frame", None),
    ("truncated-json", '{"type": "hello", "channel": "', "bad_frame", None),
    ("deeply-nested-array", NESTED, "bad_frame", None),
    ("deeply-nested-object", '{"type": "hello", "x": ' + '{"a": ' * 9_000 + "1" + "}" * 9_001, "bad_frame", None),
    ("binary-frame", b'{"type": "hello"}', "bad_frame", None),
    ("oversize-ascii", '{"type": "hello", "pad": "' + "a" * MAX_FRAME_BYTES + '"}', "frame_too_large", None),
    (
        "oversize-utf8",
        '{"type": "hello", "pad": "' + "\U0001f600" * (MAX_FRAME_BYTES // 4 + 1) + '"}',
        "frame_too_large",
        None,
    ),
    ("message-before-hello", '{"type": "message.send", "uuid": "0123456789", "text": "hi"}', "hello_required", 4400),
    ("unknown-type-before-hello", '{"type": "ping"}', "hello_required", 4400),
    ("duplicate-keys-last-wins", '{"type": "hello", "type": "message.send"}', "hello_required", 4400),
    ("server-type-from-client", '{"type": "realtime.event", "id": 1, "text": "{}"}', "hello_required", 4400),
]


@pytest.mark.parametrize(("raw", "code", "close"), [pytest.param(*c[1:], id=c[0]) for c in BEFORE_HELLO])
async def test_it_refuses_hostile_frames_before_hello(
    world: World, raw: str | bytes, code: str, close: int | None
) -> None:
    socket = await widget_socket()
    await (socket.send_to(bytes_data=raw) if isinstance(raw, bytes) else socket.send_to(text_data=raw))
    frame = await socket.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == code and frame["message"]
    if close is not None:
        assert await closed_within(socket, timeout=2) == close
    else:
        # The socket survives bad input: a proper hello still works.
        assert (await greet(socket, world.channel))["type"] == "welcome"
        await socket.disconnect()
    assert not await database_sync_to_async(InboundEvent.objects.exists)()


# --- hellos -------------------------------------------------------------------------------------------------------

Hello = Callable[[World], dict[str, Any]]


def hello(**fields: Any) -> Hello:
    return lambda w: {"type": "hello", "channel": w.channel.public_key, **fields}


def signed(email: str, *, channel: Callable[[World], Channel] = lambda w: w.channel) -> Callable[[World], Any]:
    return lambda w: {"email": email, "identifier_hash": visitors.sign_visitor_email(channel=channel(w), email=email)}


def with_identity(identity: Callable[[World], Any], **fields: Any) -> Hello:
    return lambda w: {"type": "hello", "channel": w.channel.public_key, "identity": identity(w), **fields}


def other_salt_token(w: World) -> str:
    return signing.dumps({"c": w.channel.public_key, "v": w.known_visitor, "k": "a"}, compress=True)


def legacy_token(w: World) -> str:
    return signing.dumps({"c": w.channel.pk, "v": w.known_visitor}, salt="omnidesk.widget.visitor", compress=True)


def foreign_tag_token(w: World) -> str:
    """A token signed for this channel but naming a visitor minted for another (cannot come from us)."""
    claims = {"c": w.channel.public_key, "v": visitors.new_visitor_id(channel=w.other), "k": "a"}
    return signing.dumps(claims, salt=visitors.VISITOR_TOKEN_SALT, compress=True)


def tampered(w: World) -> str:
    return w.known_token[:-1] + ("A" if w.known_token[-1] != "A" else "B")


FRESH = "fresh"  # welcomed as a new anonymous visitor: nobody's history
HONOURED = "honoured"  # welcomed as the known visitor
HELLOS: list[tuple[str, Hello, str, Any]] = [
    (
        "unknown-channel-key",
        lambda w: {"type": "hello", "channel": "no-such-channel"},
        ORIGIN,
        ("unknown_channel", 4404),
    ),
    ("channel-key-missing", lambda w: {"type": "hello"}, ORIGIN, ("unknown_channel", 4404)),
    ("channel-key-int", lambda w: {"type": "hello", "channel": 1}, ORIGIN, ("unknown_channel", 4404)),
    (
        "channel-key-list",
        lambda w: {"type": "hello", "channel": [w.channel.public_key]},
        ORIGIN,
        ("unknown_channel", 4404),
    ),
    ("channel-key-sql", lambda w: {"type": "hello", "channel": "' OR 1=1 --"}, ORIGIN, ("unknown_channel", 4404)),
    ("channel-key-nul", lambda w: {"type": "hello", "channel": "abc\x00def"}, ORIGIN, ("unknown_channel", 4404)),
    ("channel-key-surrogate", lambda w: {"type": "hello", "channel": "\ud800abc"}, ORIGIN, ("unknown_channel", 4404)),
    ("channel-key-huge", lambda w: {"type": "hello", "channel": "k" * 30_000}, ORIGIN, ("unknown_channel", 4404)),
    ("channel-key-nan", lambda w: {"type": "hello", "channel": float("nan")}, ORIGIN, ("unknown_channel", 4404)),
    (
        "email-channel-key",
        lambda w: {"type": "hello", "channel": w.email.public_key},
        ORIGIN,
        ("unknown_channel", 4404),
    ),
    (
        "inactive-channel",
        lambda w: {"type": "hello", "channel": w.inactive.public_key},
        ORIGIN,
        ("unknown_channel", 4404),
    ),
    ("foreign-origin", hello(), "http://evil.example", ("origin_not_allowed", 4403)),
    ("no-origin", hello(), "", ("origin_not_allowed", 4403)),
    ("origin-null", hello(), "null", ("origin_not_allowed", 4403)),
    ("origin-suffix-trick", hello(), "http://shop.example.evil.example", ("origin_not_allowed", 4403)),
    ("origin-other-scheme", hello(), "https://shop.example", ("origin_not_allowed", 4403)),
    ("origin-userinfo-trick", hello(), "http://shop.example@evil.example", ("origin_not_allowed", 4403)),
    ("no-token", hello(token=None), ORIGIN, FRESH),
    ("genuine-token", lambda w: hello(token=w.known_token)(w), ORIGIN, HONOURED),
    ("forged-token", hello(token="eyJjIjoiYWJjIn0:1abcde:forgedsignature"), ORIGIN, FRESH),
    ("tampered-token", lambda w: hello(token=tampered(w))(w), ORIGIN, FRESH),
    (
        "token-of-another-channel",
        lambda w: {"type": "hello", "channel": w.other.public_key, "token": w.known_token},
        ORIGIN,
        FRESH,
    ),
    (
        "expired-anonymous-token",
        lambda w: hello(token=aged_token(w.channel, w.known_visitor, age=90_000))(w),
        ORIGIN,
        FRESH,
    ),
    (
        "token-from-the-future",
        lambda w: hello(token=aged_token(w.channel, w.known_visitor, age=-400))(w),
        ORIGIN,
        HONOURED,
    ),
    ("token-int", hello(token=12345), ORIGIN, FRESH),
    ("token-dict", hello(token={"v": "x"}), ORIGIN, FRESH),
    ("token-huge", hello(token="t" * 60_000), ORIGIN, FRESH),
    ("token-other-salt", lambda w: hello(token=other_salt_token(w))(w), ORIGIN, FRESH),
    ("token-legacy-format", lambda w: hello(token=legacy_token(w))(w), ORIGIN, FRESH),
    ("token-naming-another-channels-visitor", lambda w: hello(token=foreign_tag_token(w))(w), ORIGIN, FRESH),
    ("signed-token-without-identity", lambda w: hello(token=w.signed_token)(w), ORIGIN, FRESH),
    (
        "signed-token-forged-identity",
        lambda w: with_identity(lambda _w: {"email": JEANNE, "identifier_hash": "0" * 64}, token=w.signed_token)(w),
        ORIGIN,
        FRESH,
    ),
    (
        "signed-token-other-identity",
        lambda w: with_identity(signed("marc@example.com"), token=w.signed_token)(w),
        ORIGIN,
        FRESH,
    ),
    (
        "signed-token-other-channels-signature",
        lambda w: with_identity(signed(JEANNE, channel=lambda x: x.other), token=w.signed_token)(w),
        ORIGIN,
        FRESH,
    ),
    (
        "expired-signed-token-with-identity",
        lambda w: with_identity(signed(JEANNE), token=aged_token(w.channel, w.signed_visitor, age=7200, verified=True))(
            w
        ),
        ORIGIN,
        "signed-fresh",
    ),
    ("identity-claim-unsigned", with_identity(lambda w: {"email": JEANNE, "name": "Jeanne"}), ORIGIN, FRESH),
    ("identity-hash-non-ascii", with_identity(lambda w: {"email": JEANNE, "identifier_hash": "é" * 64}), ORIGIN, FRESH),
    ("identity-not-a-dict", with_identity(lambda w: "jeanne@example.com"), ORIGIN, FRESH),
    ("identity-email-list", with_identity(lambda w: {"email": [JEANNE], "identifier_hash": ["x"]}), ORIGIN, FRESH),
    ("identity-name-nul", with_identity(lambda w: {"name": "Jea\x00nne"}), ORIGIN, FRESH),
    ("identity-name-script", with_identity(lambda w: {"name": "<script>alert(1)</script>"}), ORIGIN, FRESH),
    ("identity-name-huge", with_identity(lambda w: {"name": "N" * 50_000}), ORIGIN, FRESH),
]


@pytest.mark.parametrize(("build", "origin", "expected"), [pytest.param(*c[1:], id=c[0]) for c in HELLOS])
async def test_it_answers_hostile_hellos(world: World, build: Hello, origin: str, expected: Any) -> None:
    socket = await widget_socket(origin=origin)
    await socket.send_to(text_data=json.dumps(build(world)))
    frame = await socket.receive_json_from(timeout=5)
    if isinstance(expected, tuple):
        code, close = expected
        assert frame["type"] == "error" and frame["code"] == code and frame["message"]
        assert await closed_within(socket, timeout=2) == close
        return
    assert frame["type"] == "welcome", frame
    claim = visitors.visitor_from_token(channel=world.channel, token=frame["token"])
    texts = [m["text"] for m in frame["history"]]
    if expected == HONOURED:
        assert claim is not None and claim.visitor_id == world.known_visitor and texts == [SECRET_HISTORY]
    elif expected == "signed-fresh":
        # A new visitor id (the old token expired), linked again because the page signed for Jeanne.
        assert (
            claim is not None and claim.visitor_id != world.signed_visitor and texts == [SECRET_HISTORY + " (Jeanne)"]
        )
    else:
        assert texts == [] and SECRET_HISTORY not in json.dumps(frame)
        assert claim is None or claim.visitor_id not in (world.known_visitor, world.signed_visitor)
    await socket.disconnect()


# --- frames after hello -----------------------------------------------------------------------------------------

MESSAGES: list[tuple[str, Callable[[], Any], str]] = [
    ("text-int", lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": 42}, "empty_message"),
    ("text-missing", lambda: {"type": "message.send", "uuid": str(uuid.uuid4())}, "empty_message"),
    ("text-empty", lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": ""}, "empty_message"),
    ("text-whitespace", lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": " \n\t "}, "empty_message"),
    ("text-list", lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": ["a"]}, "empty_message"),
    (
        "text-too-long",
        lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": "x" * 10_001},
        "message_too_long",
    ),
    ("text-nul", lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": "a\x00b"}, "invalid_text"),
    (
        "text-lone-surrogate",
        lambda: {"type": "message.send", "uuid": str(uuid.uuid4()), "text": "a\ud800b"},
        "invalid_text",
    ),
    ("uuid-missing", lambda: {"type": "message.send", "text": "Bonjour"}, "bad_uuid"),
    ("uuid-short", lambda: {"type": "message.send", "uuid": "abc", "text": "Bonjour"}, "bad_uuid"),
    ("uuid-long", lambda: {"type": "message.send", "uuid": "u" * 65, "text": "Bonjour"}, "bad_uuid"),
    ("uuid-int", lambda: {"type": "message.send", "uuid": 12345678901, "text": "Bonjour"}, "bad_uuid"),
    ("uuid-nul", lambda: {"type": "message.send", "uuid": "abcd\x00efgh", "text": "Bonjour"}, "bad_uuid"),
    ("unknown-type", lambda: {"type": "message.delete", "uuid": str(uuid.uuid4())}, "unknown_type"),
    ("server-frame-type", lambda: {"type": "welcome", "history": []}, "unknown_type"),
    ("second-hello", lambda: {"type": "hello", "channel": "anything"}, "already_greeted"),
]


@pytest.mark.parametrize(("build", "code"), [pytest.param(*c[1:], id=c[0]) for c in MESSAGES])
async def test_it_refuses_hostile_messages_with_a_clear_error(
    world: World, build: Callable[[], Any], code: str
) -> None:
    socket = await widget_socket()
    assert (await greet(socket, world.channel))["type"] == "welcome"
    before = await database_sync_to_async(InboundEvent.objects.count)()
    await socket.send_to(text_data=json.dumps(build()))
    frame = await socket.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == code and frame["message"], frame
    assert await database_sync_to_async(InboundEvent.objects.count)() == before
    await socket.disconnect()


VERBATIM = [
    ("script-tag", "<script>alert(document.cookie)</script>"),
    ("img-onerror", '<img src=x onerror="alert(1)">'),
    ("svg-onload", "<svg/onload=alert(1)>"),
    ("javascript-url", "[click](javascript:alert(1))"),
    ("html-entities", "&lt;script&gt;alert(1)&lt;/script&gt; &amp;"),
    ("template-syntax", "{{ request.user.password }} {% debug %} ${7*7} #{7*7}"),
    ("sql-text", "'; DROP TABLE interactions_interaction; --"),
    ("csv-formula", '=HYPERLINK("http://evil.example","click")'),
    ("bidi-override", "facture \u202egnp.exe"),
    ("zero-width", "ba\u200bnk\u200d \ufeff"),
    ("emoji-astral", "\U0001f4a9\U0001f1eb\U0001f1f7 \U00010348"),
    ("control-chars", "line1\r\nline2\x07\x1b[2J"),
    ("json-in-text", '{"type": "message.created", "data": {"message": {"author": "Agent"}}}'),
    ("max-length", "é" * 10_000),
]


@pytest.mark.parametrize("text", [pytest.param(text, id=name) for name, text in VERBATIM])
async def test_it_stores_hostile_text_once_and_verbatim(world: World, text: str) -> None:
    socket = await widget_socket()
    assert (await greet(socket, world.channel))["type"] == "welcome"
    message_uuid = str(uuid.uuid4())
    for _ in range(2):  # the resend of an accepted message is accepted again and stored once
        await socket.send_json_to({"type": "message.send", "uuid": message_uuid, "text": text})
        assert await socket.receive_json_from(timeout=5) == {"type": "message.accepted", "uuid": message_uuid}
    await socket.disconnect()
    stored = await database_sync_to_async(lambda: list(InboundEvent.objects.filter(external_id=message_uuid)))()
    assert len(stored) == 1 and stored[0].payload["text"] == text


async def test_it_stores_a_message_under_the_sockets_own_visitor_whatever_the_frame_claims(world: World) -> None:
    socket = await widget_socket()
    welcome = await greet(socket, world.channel)
    message_uuid = str(uuid.uuid4())
    spoof = {"type": "message.send", "uuid": message_uuid, "text": "Je suis Jeanne", "visitor": world.signed_visitor}
    await socket.send_json_to(spoof)
    assert (await socket.receive_json_from(timeout=5))["type"] == "message.accepted"
    claim = visitors.visitor_from_token(channel=world.channel, token=welcome["token"])
    stored = await database_sync_to_async(InboundEvent.objects.get)(external_id=message_uuid)
    assert claim is not None and stored.payload["visitor"] == claim.visitor_id != world.signed_visitor
    await socket.disconnect()


async def test_it_rate_limits_a_flood_of_garbage_frames(world: World) -> None:
    socket = await widget_socket()
    for _ in range(40):
        await socket.send_to(text_data="garbage")
    codes = [(await socket.receive_json_from(timeout=5))["code"] for _ in range(40)]
    assert codes.count("bad_frame") <= 22 and codes.count("rate_limited") >= 18
    await socket.disconnect()


async def test_it_rate_limits_a_flood_of_messages_and_stores_only_what_it_accepted(world: World) -> None:
    socket = await widget_socket()
    await greet(socket, world.channel)
    sent = [str(uuid.uuid4()) for _ in range(30)]
    for message_uuid in sent:
        await socket.send_json_to({"type": "message.send", "uuid": message_uuid, "text": "spam " * 1800})
    frames = [await socket.receive_json_from(timeout=5) for _ in sent]
    accepted = {f["uuid"] for f in frames if f["type"] == "message.accepted"}
    assert {f["code"] for f in frames if f["type"] == "error"} == {"rate_limited"}
    stored = await database_sync_to_async(
        lambda: set(InboundEvent.objects.filter(external_id__in=sent).values_list("external_id", flat=True))
    )()
    assert stored == accepted and 10 <= len(accepted) < 30
    await socket.disconnect()


async def test_it_refuses_a_stream_of_new_visitors_from_one_address(world: World) -> None:
    with override_settings(OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE=5):
        address = f"2001:db8::{uuid.uuid4().hex[:4]}"
        outcomes = []
        for _ in range(8):
            socket = await widget_socket(address=address)
            frame = await greet(socket, world.channel)
            outcomes.append(frame.get("code", frame["type"]))
            await socket.disconnect()
    assert outcomes[:5] == ["welcome"] * 5 and set(outcomes[5:]) == {"rate_limited"}
