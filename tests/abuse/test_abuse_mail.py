"""The mail share of the abuse suite: hostile inbound mail and provider calls, one parametrize id per input, each with
its expected outcome — refused with a clear error, stored exactly once, or neutralized.

Carla has an open case on the support mailbox (her address verified); Mallory writes from outside.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from customers.models import Identity
from interactions import services
from interactions.mail import sanitize, threads
from interactions.mail.parsing import parse_mail
from interactions.mail.services import record_raw_mail
from interactions.models import Attachment, Channel, Conversation, InboundEvent, Interaction
from routing.models import Queue
from tests import signing
from tests.mail_support import WEBHOOK_SIGNING_KEY, email_channel
from tests.mail_trust_support import DMARC_FAIL, ingest, mail

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.mailbox(acknowledgement="We received your message."),
    pytest.mark.usefixtures("media_root"),
]


@dataclass
class World:
    mailbox: Channel
    other_mailbox: Channel
    carla_case: Conversation


@pytest.fixture
def world(mailbox: Channel, support_queue: Queue, alice: Any) -> World:
    first = ingest(mailbox, mail(subject="Order 1042", message_id="carla-1@example.com"))
    assert first is not None
    Identity.objects.filter(address="carla@example.com").update(verified=True)
    other = email_channel(support_queue, address="sales@example.com")
    return World(mailbox=mailbox, other_mailbox=other, carla_case=first.conversation)


def stored_once(channel: Channel, raw: bytes) -> Interaction:
    """Ingest `raw` twice; it must become exactly one interaction, processed and not dead-lettered."""
    first = ingest(channel, raw)
    again = ingest(channel, raw)
    assert first is not None and again is None
    event = InboundEvent.objects.get(channel=channel, external_id=first.external_id)
    assert event.processed_at is not None and event.dead_lettered_at is None
    first.refresh_from_db()
    return first


# --- ReDoS shapes at several sizes: parsed in linear time, nothing executable kept -----------------------------------

REDOS_SHAPES = {
    "script-openers": "<script",
    "lt-flood": "<",
    "unclosed-formatting": "<div><b><i>",
    "nested-comments": "<!--<!--",
    "style-flood": "<style>a{}",
    "numeric-ref-flood": "&#",
}


@pytest.mark.parametrize("size", [256 * 1024, 1024 * 1024], ids=["256k", "1m"])
@pytest.mark.parametrize("unit", REDOS_SHAPES.values(), ids=REDOS_SHAPES.keys())
def test_it_parses_a_redos_shape_quickly_and_keeps_no_script(unit: str, size: int) -> None:
    raw = mail(body=unit * (size // len(unit)), content_type="text/html; charset=utf-8", authentication=None)
    # CPU time, not wall time: a loaded machine's waiting for a core is not the parser's doing (a ReDoS burns CPU).
    started = time.process_time()
    parsed = parse_mail(raw)
    assert time.process_time() - started < 1.0
    assert "<script" not in parsed.html.lower() and "<style" not in parsed.html.lower()


# --- Malformed MIME: stored once, readable ---------------------------------------------------------------------------

NESTED = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(200))
MALFORMED: dict[str, bytes] = {
    "missing-boundary": mail(content_type="multipart/mixed", body="--x\r\n\r\nhello\r\n--x--"),
    "200-deep-multipart": mail(content_type='multipart/mixed; boundary="top"', body="--top\r\n" + NESTED + "deep"),
    "base64-garbage": mail(extra="Content-Transfer-Encoding: base64\r\n", body="!!!*** not base64 @@@"),
    "header-without-colon": b"From: carla@example.com\r\nThis is not a header\r\nSubject: x\r\n\r\nbody",
    "nul-in-headers": b"From: carla@example.com\r\nSubject: a\x00b\r\nMessage-ID: <nul@x>\r\n\r\nbo\x00dy",
    "raw-8bit-headers": "From: Cärla <carla@example.com>\r\nSubject: Ünïcödé\r\n\r\nbody".encode("latin-1"),
    "one-megabyte-subject": mail(subject="S" * 1_000_000, message_id="long-subject@x"),
    "ten-thousand-headers": mail(extra="X-Junk: 1\r\n" * 10_000, message_id="many-headers@x"),
    "thousand-parameters": mail(content_type="text/plain; " + "; ".join(f"p{i}=v" for i in range(1000))),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_it_stores_malformed_mime_once(mailbox: Channel, alice: Any, raw: bytes) -> None:
    interaction = stored_once(mailbox, raw)
    assert interaction.text
    assert len(interaction.meta["subject"]) <= 500


# --- Header injection: CRLF never reaches stored headers or outgoing replies ------------------------------------------

INJECTIONS = {
    "encoded-crlf-subject": mail(subject="=?utf-8?q?Hi=0D=0ABcc:_victim@example.org?=", message_id="inj-1@x"),
    "encoded-lf-subject": mail(subject="=?utf-8?b?SGkKQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=", message_id="inj-2@x"),
    "encoded-crlf-from-name": mail(sender="=?utf-8?q?Eve=0D=0ABcc:_x@y?= <eve@example.org>", message_id="inj-3@x"),
    "folded-subject": mail(subject="line one\r\n line two\r\n\tline three", message_id="inj-4@x"),
    "crlf-in-message-id": mail(message_id="a@x>\r\nBcc: <victim@example.org", authentication=None),
    "bare-cr-subject": mail(subject="a\rBcc: victim@example.org", message_id="inj-6@x"),
}


@pytest.mark.parametrize("raw", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_it_keeps_header_injection_out_of_headers_and_replies(world: World, alice: Any, raw: bytes) -> None:
    interaction = stored_once(world.mailbox, raw)
    for value in [interaction.meta["subject"], interaction.meta["from"], *interaction.meta["headers"].values()]:
        assert "\r" not in value and "\n" not in value
    reply = services.reply_to_conversation(conversation=interaction.conversation, author=alice, text="ok")
    from interactions.mail.outgoing import thread_headers

    subject, headers = thread_headers(reply)
    assert "\n" not in subject and "\r" not in subject
    assert all("\n" not in value and "\r" not in value for value in headers.values())


# --- Forged senders: never filed under, nor threaded into, Carla's case ----------------------------------------------

FORGED = {
    "dmarc-fail-as-carla": dict(authentication=DMARC_FAIL),
    "dmarc-fail-uppercase-address": dict(authentication=DMARC_FAIL, sender="CARLA@EXAMPLE.COM"),
    "display-name-spoof": dict(sender='"carla@example.com" <mallory@evil.example>'),
    "return-path-carla": dict(sender="mallory@evil.example", extra="Return-Path: <carla@example.com>\r\n"),
    "sender-header-carla": dict(sender="mallory@evil.example", extra="Sender: carla@example.com\r\n"),
}


@pytest.mark.parametrize("options", FORGED.values(), ids=FORGED.keys())
def test_it_never_lets_a_forged_sender_into_carlas_case(world: World, options: dict[str, Any]) -> None:
    options = dict(options)
    extra = options.pop("extra", "") + "In-Reply-To: <carla-1@example.com>\r\n"
    raw = mail(subject=f"Re: {threads.subject_tag(world.carla_case.pk)}", message_id="forged@x", extra=extra, **options)
    interaction = stored_once(world.mailbox, raw)
    assert interaction.conversation_id != world.carla_case.pk
    assert interaction.customer_id != world.carla_case.customer_id
    assert "thread_refused" in interaction.meta


# --- Subject-tag injection -------------------------------------------------------------------------------------------

TagBuilder = Callable[[World], str]
TAGS: dict[str, tuple[TagBuilder, str]] = {
    "bare-id": (lambda w: f"[#{w.carla_case.pk}]", "carla@example.com"),
    "forged-signature": (lambda w: f"[#{w.carla_case.pk}-forged]", "carla@example.com"),
    "zero-signature": (lambda w: f"[#{w.carla_case.pk}-00000000]", "carla@example.com"),
    "valid-tag-stranger": (lambda w: threads.subject_tag(w.carla_case.pk), "mallory@evil.example"),
    "valid-tag-uppercase-stranger": (lambda w: threads.subject_tag(w.carla_case.pk).upper(), "mallory@evil.example"),
    "huge-id": (lambda w: "[#999999999999999999-deadbeef]", "carla@example.com"),
    "tag-of-another-id": (lambda w: threads.subject_tag(w.carla_case.pk + 1000), "carla@example.com"),
    "two-tags-forged-then-stranger": (
        lambda w: f"[#{w.carla_case.pk}-00000000] {threads.subject_tag(w.carla_case.pk)}",
        "mallory@evil.example",
    ),
}


@pytest.mark.parametrize("case", TAGS.values(), ids=TAGS.keys())
def test_it_does_not_thread_an_injected_subject_tag(world: World, case: tuple[TagBuilder, str]) -> None:
    build, sender = case
    interaction = stored_once(world.mailbox, mail(sender=sender, subject=f"Re: {build(world)}", message_id="tag@x"))
    assert interaction.conversation_id != world.carla_case.pk


def test_it_does_not_thread_carlas_tag_arriving_on_another_mailbox(world: World) -> None:
    raw = mail(to="sales@example.com", subject=f"Re: {threads.subject_tag(world.carla_case.pk)}", message_id="o@x")
    interaction = stored_once(world.other_mailbox, raw)
    assert interaction.conversation_id != world.carla_case.pk


def test_it_opens_a_new_case_for_the_tag_of_a_resolved_conversation(world: World) -> None:
    services.resolve_conversation(conversation=world.carla_case, by=None)
    raw = mail(subject=f"Re: {threads.subject_tag(world.carla_case.pk)}", message_id="resolved@x")
    interaction = stored_once(world.mailbox, raw)
    assert interaction.conversation_id != world.carla_case.pk
    assert interaction.customer_id == world.carla_case.customer_id


# --- Message-ID / References / In-Reply-To injection -----------------------------------------------------------------

REFERENCES = {
    "stranger-in-reply-to": dict(sender="mallory@evil.example", extra="In-Reply-To: <carla-1@example.com>\r\n"),
    "stranger-references": dict(sender="mallory@evil.example", extra="References: <x@y> <carla-1@example.com>\r\n"),
    "ten-thousand-references": dict(
        sender="mallory@evil.example",
        extra="References: " + " ".join(f"<r{i}@x>" for i in range(10_000)) + " <carla-1@example.com>\r\n",
    ),
    "reply-token-address-stranger": dict(sender="mallory@evil.example"),
    "forged-reply-token": dict(sender="carla@example.com", to="support+c1-000000000000@example.com"),
    "ten-kilobyte-message-id": dict(sender="mallory@evil.example", message_id="m" * 10_000 + "@x"),
    "in-reply-to-crlf": dict(sender="mallory@evil.example", extra="In-Reply-To: <carla-1@example.com\r\n>\r\n"),
}


@pytest.mark.parametrize("options", REFERENCES.values(), ids=REFERENCES.keys())
def test_it_does_not_thread_injected_message_references(world: World, options: dict[str, Any]) -> None:
    if options.get("sender") == "mallory@evil.example" and "to" not in options and "extra" not in options:
        options = dict(options, to=threads.reply_address(world.mailbox, world.carla_case.pk))
    options.setdefault("message_id", "ref@x")
    interaction = stored_once(world.mailbox, mail(**options))
    assert interaction.conversation_id != world.carla_case.pk


def test_it_processes_a_references_loop_without_dead_lettering(mailbox: Channel, alice: Any) -> None:
    a = mail(message_id="loop-a@x", extra="In-Reply-To: <loop-b@x>\r\n")
    b = mail(message_id="loop-b@x", extra="In-Reply-To: <loop-a@x>\r\n")
    event_a, _ = record_raw_mail(channel=mailbox, raw=a, source="test")
    event_b, _ = record_raw_mail(channel=mailbox, raw=b, source="test")
    InboundEvent.objects.filter(pk__in=[event_a.pk, event_b.pk]).update(attempts=1)  # both "retried"
    from interactions import inbound

    inbound.process_inbound_event(event_id=event_a.pk)
    inbound.process_inbound_event(event_id=event_b.pk)
    assert Interaction.objects.filter(channel=mailbox, direction=Interaction.Direction.INBOUND).count() == 2
    assert not InboundEvent.objects.filter(dead_lettered_at__isnull=False).exists()


# --- Remote-image bypasses: the sanitized, displayed HTML fetches nothing remote and runs no script -------------------

REMOTE = {
    "backslash-slash": '<img src="/\\evil.example/p.png">',
    "double-backslash": '<img src="\\\\evil.example\\p.png">',
    "tab-in-scheme": '<img src="ht\ttp://evil.example/p.png">',
    "newline-in-scheme": '<img src="ht\ntp://evil.example/p.png">',
    "leading-space-protocol-relative": '<img src=" //evil.example/p.png">',
    "protocol-relative": '<img src="//evil.example/p.png">',
    "plain-http": '<img src="http://evil.example/p.png">',
    "uppercase-https": '<img src="HTTPS://evil.example/p.png">',
    "entity-encoded-scheme": '<img src="&#104;ttp://evil.example/p.png">',
    "entity-tab": '<img src="ht&Tab;tp://evil.example/p.png">',
    "relative-path": '<img src="p.png">',
    "srcset": '<img src="cid:x" srcset="http://evil.example/p.png 2x">',
    "css-url": '<div style="background:url(http://evil.example/p.png)">x</div>',
    "style-import": "<style>@import url(http://evil.example/s.css);</style>x",
    "background-attribute": '<table background="http://evil.example/p.png"><tr><td>x</td></tr></table>',
    "input-image": '<input type="image" src="http://evil.example/p.png">',
    "video-poster": '<video poster="http://evil.example/p.png"></video>',
    "link-stylesheet": '<link rel="stylesheet" href="http://evil.example/s.css">',
    "svg-image": '<svg><image href="http://evil.example/p.png"/></svg>',
    "javascript-newline-href": '<a href="java\nscript:alert(1)">x</a>',
    "data-svg-src": '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    "onerror": "<img src=x onerror=\"fetch('http://evil.example')\">",
}


@pytest.mark.parametrize("html", REMOTE.values(), ids=REMOTE.keys())
def test_it_neutralizes_remote_fetches_and_scripts_in_email_html(html: str) -> None:
    shown = sanitize.display_html(sanitize.clean_html(html), inline_urls={}, remote_images=False).lower()
    assert "evil.example" not in shown.replace('href="http://evil.example', "")  # links may stay, fetches may not
    for unsafe in ("<script", "onerror", "onload", "javascript:", "<style", "style=", "srcset", "background="):
        assert unsafe not in shown
    assert "<img" not in shown or 'src="' not in shown


def test_it_treats_every_non_cid_image_as_remote() -> None:
    for url in ["/\\evil.example/p.png", "\\\\evil.example", "ht\ttp://x", " //x", "p.png", "foo:bar"]:
        assert sanitize.is_remote(url), url
    assert not sanitize.is_remote(" CID:part@x")


# --- Hostile attachment names: stored once with a safe name, never dead-lettered -------------------------------------

NAMES = {
    "dot-dot": "..",
    "path-traversal": "../../etc/passwd",
    "windows-path": "C:\\Windows\\evil.exe",
    "nul-byte": "inv\x00oice.pdf",
    "thousand-chars": "a" * 1000 + ".pdf",
    "rtl-override": "invoice\u202efdp.exe",
    "reserved-device": "CON.txt",
    "hidden-dotfile": ".htaccess",
    "only-slashes": "///",
    "newline-in-name": "a\r\nContent-Type: text/html.pdf",
}


def with_attachment(filename: str) -> bytes:
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    body = (
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n"
        f'Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="{quoted}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"
    )
    return mail(content_type='multipart/mixed; boundary="b"', body=body, message_id=f"att-{len(filename)}@x")


@pytest.mark.parametrize("filename", NAMES.values(), ids=NAMES.keys())
def test_it_stores_a_hostile_attachment_name_safely(mailbox: Channel, alice: Any, filename: str) -> None:
    interaction = stored_once(mailbox, with_attachment(filename))
    attachment = Attachment.objects.get(interaction=interaction)
    name = attachment.filename
    assert name and len(name) <= 150 and not name.startswith(".")
    assert not any(char in name for char in "/\\\x00\r\n\u202e")
    assert name.split(".")[0].lower() not in {"con", "prn", "aux", "nul"}
    assert attachment.file and attachment.file.read() == b"hello"


# --- Mailgun: forged, replayed, expired, non-ASCII, wrong recipient --------------------------------------------------


def mailgun_form(*, timestamp: int | None = None, token: str = "t" * 50, key: str = WEBHOOK_SIGNING_KEY) -> dict:
    raw = mail(message_id="mg@x").decode()
    return {**signing.mailgun_fields(key=key, token=token, timestamp=timestamp), "recipient": "support@example.com",
            "body-mime": raw}  # fmt: skip


MAILGUN: dict[str, tuple[Callable[[], dict[str, str]], bytes]] = {
    "forged-key": (lambda: mailgun_form(key="guessed"), b"wrong signature"),
    "expired": (lambda: mailgun_form(timestamp=int(time.time()) - 3600), b"too old"),
    "future": (lambda: mailgun_form(timestamp=int(time.time()) + 3600), b"too old"),
    "non-ascii-signature": (lambda: dict(mailgun_form(), signature="ä" * 64), b"malformed"),
    "non-ascii-token": (lambda: mailgun_form(token="ü" * 20), b"malformed"),
    "wrong-recipient": (lambda: dict(mailgun_form(), recipient="victim@example.org"), b"recipient"),
    "missing-signature": (lambda: {k: v for k, v in mailgun_form().items() if k != "signature"}, b"missing"),
    "oversized-token": (lambda: mailgun_form(token="t" * 5000), b"malformed"),
}


@pytest.mark.parametrize("case", MAILGUN.values(), ids=MAILGUN.keys())
def test_it_refuses_a_bad_mailgun_call_with_403(mailbox: Channel, case: tuple[Callable[[], dict], bytes]) -> None:
    build, reason = case
    response = Client(raise_request_exception=False).post(f"/hooks/email/mailgun/{mailbox.uuid}/", build())
    assert response.status_code == 403 and reason in response.content
    assert not InboundEvent.objects.exists()


def test_it_refuses_a_replayed_mailgun_token_carrying_another_message(mailbox: Channel) -> None:
    form = mailgun_form(token="r" * 50)
    url = f"/hooks/email/mailgun/{mailbox.uuid}/"
    assert Client().post(url, form).status_code == 200
    replay = dict(form, **{"body-mime": mail(message_id="other@x", body="Send money").decode()})
    response = Client().post(url, replay)
    assert response.status_code == 403 and b"token already used" in response.content
    assert InboundEvent.objects.filter(channel=mailbox).count() == 1


# --- Oversize mail: stored once as a clear "too large" note -----------------------------------------------------------

BIG = 26 * 1024 * 1024  # over the default 25 MiB cap
OVERSIZE: dict[str, Callable[[], bytes]] = {
    "26-megabytes": lambda: mail(message_id="big-1@x", body="x" * BIG),
    "huge-header-block": lambda: mail(message_id="big-2@x", extra="X-Pad: " + "p" * BIG + "\r\n"),
    "no-headers-at-all": lambda: b"y" * BIG,
}


@pytest.mark.parametrize("build", OVERSIZE.values(), ids=OVERSIZE.keys())
def test_it_stores_an_oversize_mail_once_as_a_too_large_note(
    mailbox: Channel, alice: Any, build: Callable[[], bytes]
) -> None:
    raw = build()
    interaction = stored_once(mailbox, raw)
    assert "larger than the" in interaction.text and "accepts" in interaction.text
    assert interaction.meta["too_large"] == str(len(raw))
    event = InboundEvent.objects.get(channel=mailbox)
    assert len(event.payload["raw"]) < 200_000, "the original is not kept in the event"
