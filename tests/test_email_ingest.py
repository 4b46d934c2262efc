"""Inbound email: every fixture message is stored raw, parsed without crashing, threaded, sanitized and flagged.

Carla already has a case by email (her first message, "Order 1042", and Alice's reply to it, Message-ID
reply-1@omnidesk.test); the fixtures are what arrives next.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from customers.models import Customer, Identity
from interactions import inbound, services
from interactions.mail import threads
from interactions.mail.models import MessageReference
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Conversation, InboundEvent, Interaction
from tests.mail_support import FIXTURES, fixture_bytes

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.mailbox(attachment_max_bytes=1024 * 1024, acknowledgement="We received your message."),
    pytest.mark.usefixtures("media_root"),
]


def ingest(channel: Channel, raw: bytes) -> Interaction | None:
    """Store the raw message and process it as the worker does."""
    event, _created = record_raw_mail(channel=channel, raw=raw, source="test")
    return inbound.process_inbound_event(event_id=event.pk)


@dataclass
class Case:
    conversation: Conversation
    reply: Interaction
    bounced: list[Interaction]


def sent_reference(interaction: Interaction, message_id: str) -> None:
    """What the SMTP sender records once the server accepted our message."""
    MessageReference.objects.create(
        message_id=message_id,
        direction=MessageReference.Direction.OUTBOUND,
        conversation=interaction.conversation,
        interaction=interaction,
    )


@pytest.fixture
def carla_case(mailbox: Channel, alice: Any) -> Case:
    first = ingest(mailbox, fixture_bytes("new_request.eml"))
    assert first is not None
    conversation = first.conversation
    reply = services.reply_to_conversation(conversation=conversation, author=alice, text="We shipped it on Friday.")
    sent_reference(reply, "reply-1@omnidesk.test")
    bounced = []
    for message_id in ("outbound-bounced@omnidesk.test", "outbound-bounced-2@omnidesk.test"):
        other = services.reply_to_conversation(conversation=conversation, author=alice, text="Here is the answer.")
        sent_reference(other, message_id)
        bounced.append(other)
    return Case(conversation=conversation, reply=reply, bounced=bounced)


@dataclass
class Expect:
    text: str = ""  # in the stored text
    text_excludes: str = ""
    subject: str = ""
    sender: str = ""  # display name of the resolved customer
    threaded_by: str = ""  # "" = a new conversation
    latest_excludes: str = ""  # quoted part collapsed out of the reply shown first
    html: list[str] = field(default_factory=list)
    html_excludes: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)
    problem: str = ""
    automatic: str = ""
    thread_refused: str = ""
    bounce_of: int | None = None  # index in Case.bounced
    placeholders: dict[str, str] = field(default_factory=dict)


UNSAFE = ["<script", "onerror", "onload", "javascript:", "style=", "<style", "<iframe", "<form", "<input", "alert("]

EXPECTED: dict[str, Expect] = {
    "outlook_reply.eml": Expect(
        text="the parcel still hasn’t arrived", threaded_by="in-reply-to", latest_excludes="We shipped your order"
    ),
    "gmail_reply.eml": Expect(
        text="12 rue des Lilas",
        threaded_by="references",
        latest_excludes="confirm your delivery",
        html=["rue des Lilas"],
    ),
    "apple_mail_reply.eml": Expect(
        text="Perfect, thank you so much!", threaded_by="in-reply-to", html=["42,00 €"], html_excludes=UNSAFE
    ),
    "iso_8859_1.eml": Expect(
        text="ma commande n'est pas arrivée", subject="Commande non reçue", sender="Hélène Martin"
    ),
    "windows_1252.eml": Expect(text="129 € au lieu de 99 €. C’est une “erreur” ?"),
    "utf8_base64.eml": Expect(
        text="me connecter 🔒 depuis hier. Straße, ñandú, 北京", subject="Problème de connexion 🔒"
    ),
    "shift_jis.eml": Expect(text="注文した商品がまだ届いていません", subject="注文について"),
    "wrong_charset.eml": Expect(text="3 allée des Pêcheurs", problem="charset 'utf-8'"),
    "unknown_charset.eml": Expect(text="Where is my caf", problem="x-mac-klingon"),
    "broken_boundary.eml": Expect(text="your form rejects it", attachments=["invoice.pdf"], problem="boundary"),
    "truncated_multipart.eml": Expect(text="damaged box", attachments=["box.jpg"], problem="CloseBoundaryNotFound"),
    "html_only.eml": Expect(
        text="I would like to cancel my subscription.", html=["<b>cancel</b>"], html_excludes=["color: red", "<title"]
    ),
    "winmail_dat.eml": Expect(text="signed contract attached", attachments=["winmail.dat"]),
    "huge_attachment.eml": Expect(text="video of the problem", omitted=["problem.mp4"]),
    "auto_reply.eml": Expect(text="out of the office", threaded_by="in-reply-to", automatic="Auto-Submitted"),
    "mailing_list.eml": Expect(text="deliveries take a week", automatic="Precedence: list"),
    "script_onerror.eml": Expect(
        text="Hello agent",
        html=['href="https://shop.example/order/1042"', 'rel="noopener noreferrer nofollow"'],
        html_excludes=UNSAFE,
    ),
    "inline_image.eml": Expect(text="The error looks like this", html=['src="cid:screenshot-1@example.com"']),
    "reply_token.eml": Expect(text="headers stripped", threaded_by="token", placeholders={"token": "token"}),
    "subject_tag.eml": Expect(text="copied the subject", threaded_by="subject", placeholders={"tag": "tag"}),
    "follow_up_references.eml": Expect(text="Any news about my order?", threaded_by="references"),
    # Bob answers Carla's thread: his own case, not Carla's (a Message-ID anyone can copy does not make him Carla).
    "unknown_sender_reply.eml": Expect(text="Carla's colleague", thread_refused="not-the-customer"),
    "no_message_id.eml": Expect(text="sends no Message-ID"),
    "no_from.eml": Expect(text="no sender", problem="no valid sender", automatic="automatic sender"),
    "x_loop.eml": Expect(text="received your request", automatic="X-Loop"),
    "empty_return_path.eml": Expect(text="weekly report is ready", automatic="empty Return-Path"),
    "precedence_bulk.eml": Expect(text="Everything must go!", automatic="Precedence: bulk"),
    "from_own_address.eml": Expect(text="from ourselves", automatic="own address"),
    "encoded_filename.eml": Expect(text="Voici la facture", subject="Facture d'été", attachments=["facture-été.pdf"]),
    "forwarded_message.eml": Expect(
        text="carrier's mail below", text_excludes="parcel is delayed", attachments=["attachment-1.eml"]
    ),
    "garbage.eml": Expect(text="garbage without headers", problem="malformed MIME", automatic="automatic sender"),
    "pdf_attachment.eml": Expect(text="receipt is attached", attachments=["receipt.pdf"]),
    "malformed_headers.eml": Expect(text="Still readable.", problem="no valid sender"),
    "bounce_dsn.eml": Expect(bounce_of=0),
    "bounce_headers_only.eml": Expect(bounce_of=1),
    "new_request.eml": Expect(),  # Carla's first message, ingested by the carla_case fixture
}


def test_it_has_a_fixture_set_of_at_least_30_messages_each_with_an_expected_result() -> None:
    names = sorted(path.name for path in FIXTURES.glob("*.eml"))
    assert len(names) >= 30
    assert names == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(name for name in EXPECTED if name != "new_request.eml"))
def test_it_ingests_the_fixture_with_its_expected_result(name: str, mailbox: Channel, carla_case: Case) -> None:
    expect = EXPECTED[name]
    conversation_id = carla_case.conversation.pk
    values = {"token": threads.reply_token(conversation_id), "tag": threads.subject_tag(conversation_id)}
    raw = fixture_bytes(name, **{key: values[source] for key, source in expect.placeholders.items()})

    interaction = ingest(mailbox, raw)

    event = InboundEvent.objects.filter(channel=mailbox).latest("id")
    assert base64.b64decode(event.payload["raw"]) == raw, "the raw message is kept as received"
    assert event.processed_at is not None and event.dead_lettered_at is None
    if expect.bounce_of is not None:
        assert interaction is None
        bounced = carla_case.bounced[expect.bounce_of]
        bounced.refresh_from_db()
        assert bounced.status == Interaction.Status.FAILED
        assert "550" in bounced.error
        return
    assert interaction is not None
    interaction.refresh_from_db()
    meta = interaction.meta
    assert expect.text in interaction.text
    if expect.text_excludes:
        assert expect.text_excludes not in interaction.text
    if expect.subject:
        assert meta["subject"] == expect.subject
    if expect.sender:
        assert interaction.customer.display_name == expect.sender
    if expect.threaded_by:
        assert interaction.conversation_id == carla_case.conversation.pk
        assert meta["threaded_by"] == expect.threaded_by
    else:
        assert interaction.conversation_id != carla_case.conversation.pk
        assert "threaded_by" not in meta
    if expect.latest_excludes:
        assert meta["latest_reply"] and expect.latest_excludes not in meta["latest_reply"]
        assert expect.latest_excludes in interaction.text, "the full body is kept"
    for fragment in expect.html:
        assert fragment in interaction.html
    for fragment in expect.html_excludes:
        assert fragment not in interaction.html.lower()
    attachments = {a.filename: a for a in interaction.attachments.all()}
    for filename in expect.attachments:
        assert attachments[filename].file and attachments[filename].size > 0
    for filename in expect.omitted:
        assert not attachments[filename].file
        assert attachments[filename].size > 1024 * 1024
        assert "omitted" in attachments[filename].omitted_reason
    if expect.problem:
        assert any(expect.problem in problem for problem in meta["problems"]), meta["problems"]
    else:
        assert meta["problems"] == []
    if expect.automatic:
        assert expect.automatic in meta["automatic"]
    else:
        assert "automatic" not in meta
    assert meta.get("thread_refused", {}).get("reason", "") == expect.thread_refused


def test_it_opens_a_routed_conversation_for_a_new_request_and_acknowledges_it_once(
    mailbox: Channel, alice: Any
) -> None:
    first = ingest(mailbox, fixture_bytes("new_request.eml"))
    assert first is not None
    assert first.conversation.assignee == alice
    assert first.customer.identities.filter(kind=Identity.Kind.EMAIL, address="carla@example.com").exists()
    ack = Interaction.objects.get(conversation=first.conversation, direction=Interaction.Direction.OUTBOUND)
    assert ack.meta["auto_reply"] is True and ack.text == "We received your message."

    again = ingest(mailbox, fixture_bytes("pdf_attachment.eml"))
    assert again is not None and again.conversation_id != first.conversation_id, "no thread markers: a new case"
    assert Interaction.objects.filter(direction=Interaction.Direction.OUTBOUND).count() == 1, "rate-limited"


def test_it_sends_no_acknowledgement_to_automatic_mail(mailbox: Channel, alice: Any) -> None:
    for name in ("mailing_list.eml", "x_loop.eml", "precedence_bulk.eml", "empty_return_path.eml"):
        assert ingest(mailbox, fixture_bytes(name)) is not None
    assert not Interaction.objects.filter(direction=Interaction.Direction.OUTBOUND).exists()


def test_it_stores_a_message_delivered_twice_once(mailbox: Channel, alice: Any) -> None:
    for name in ("new_request.eml", "no_message_id.eml"):
        first = ingest(mailbox, fixture_bytes(name))
        second = ingest(mailbox, fixture_bytes(name))
        assert first is not None and second is None
    assert Interaction.objects.filter(direction=Interaction.Direction.INBOUND).count() == 2
    assert InboundEvent.objects.filter(channel=mailbox).count() == 2


def test_it_files_a_reply_from_someone_else_as_their_own_case_not_the_customers(
    mailbox: Channel, carla_case: Case
) -> None:
    interaction = ingest(mailbox, fixture_bytes("unknown_sender_reply.eml"))
    assert interaction is not None
    assert interaction.meta["thread_refused"] == {"by": "in-reply-to", "reason": "not-the-customer"}
    assert interaction.conversation_id != carla_case.conversation.pk
    bob = Identity.objects.get(kind=Identity.Kind.EMAIL, address="bob@example.com")
    assert interaction.customer_id == bob.customer_id != carla_case.conversation.customer_id, "Bob is himself"
    assert not carla_case.conversation.interactions.filter(pk=interaction.pk).exists()


def test_it_threads_a_reply_to_a_resolved_case_into_a_new_conversation(mailbox: Channel, carla_case: Case) -> None:
    services.resolve_conversation(conversation=carla_case.conversation, by=None)
    interaction = ingest(mailbox, fixture_bytes("outlook_reply.eml"))
    assert interaction is not None
    assert interaction.conversation_id != carla_case.conversation.pk
    assert interaction.customer_id == carla_case.conversation.customer_id


def test_it_files_the_email_of_a_signed_in_chat_customer_under_the_same_customer(
    mailbox: Channel, carla: Customer, alice: Any
) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)

    interaction = ingest(mailbox, fixture_bytes("new_request.eml"))

    assert interaction is not None and interaction.customer == carla


def test_it_waits_for_the_message_a_reply_answers_when_both_arrive_together(mailbox: Channel, alice: Any) -> None:
    first, _created = record_raw_mail(channel=mailbox, raw=fixture_bytes("new_request.eml"), source="test")
    reply, _created = record_raw_mail(channel=mailbox, raw=fixture_bytes("follow_up_references.eml"), source="test")
    # Another worker's batch has the first message.
    InboundEvent.objects.filter(pk=first.pk).update(attempts=1)

    assert inbound.process_inbound_event(event_id=reply.pk) is None, "deferred rather than opening a second case"
    reply.refresh_from_db()
    assert reply.processed_at is None and reply.dead_lettered_at is None

    # That batch went away without processing it: the retried reply processes it first, then threads on it.
    threaded = inbound.process_inbound_event(event_id=reply.pk)
    assert threaded is not None and threaded.meta["threaded_by"] == "references"
    opened = Interaction.objects.get(channel=mailbox, external_id="first-1@example.com")
    assert threaded.conversation_id == opened.conversation_id
    first.refresh_from_db()
    assert first.processed_at is not None
    assert inbound.process_inbound_event(event_id=first.pk) is None, "nothing left to do"
