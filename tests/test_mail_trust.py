"""Who an inbound mail is from, and which case it joins: markers are claims, not proofs.

Carla has a case by email on the support mailbox. Mallory knows its number, copies its subject and Message-IDs, and
forges Carla's address; Bob is Carla's colleague. Only Carla's own mail, on the same mailbox, joins Carla's case.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from customers.models import Identity
from interactions import services
from interactions.mail import threads
from interactions.mail.authentication import read_authentication
from interactions.mail.models import MessageReference
from interactions.mail.outgoing import thread_headers
from interactions.models import Channel, Conversation, Interaction
from routing.models import Queue
from tests.mail_support import email_channel
from tests.mail_trust_support import DMARC_FAIL, PASS, ingest, mail

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.mailbox(acknowledgement="We received your message."),
    pytest.mark.usefixtures("media_root"),
]


@pytest.fixture
def carla_case(mailbox: Channel, alice: Any) -> Conversation:
    first = ingest(mailbox, mail(subject="Order 1042", message_id="carla-1@example.com"))
    assert first is not None
    return first.conversation


def test_it_threads_carlas_reply_with_the_signed_subject_tag(mailbox: Channel, carla_case: Conversation) -> None:
    tag = threads.subject_tag(carla_case.pk)
    reply = ingest(mailbox, mail(subject=f"Re: Order 1042 {tag}", message_id="carla-2@example.com"))
    assert reply is not None and reply.conversation_id == carla_case.pk
    assert reply.meta["threaded_by"] == "subject"


@pytest.mark.parametrize(
    "tag",
    ["[#{id}]", "[#{id}-00000000]", "[#{id}-forged]", "[# {id}]", "[#0{id}-{sig}]"],
    ids=["bare-id", "wrong-signature", "not-hex", "spaced", "zero-padded"],
)
def test_it_ignores_an_unsigned_or_forged_subject_tag(mailbox: Channel, carla_case: Conversation, tag: str) -> None:
    signature = threads.subject_tag(carla_case.pk).split("-")[1].rstrip("]")
    subject = "Re: " + tag.format(id=carla_case.pk, sig=signature)
    reply = ingest(mailbox, mail(subject=subject, message_id="carla-2@example.com"))
    assert reply is not None and reply.conversation_id != carla_case.pk
    assert "threaded_by" not in reply.meta


def test_it_files_mallorys_mail_with_carlas_tag_as_mallorys_own_case(
    mailbox: Channel, carla_case: Conversation
) -> None:
    tag = threads.subject_tag(carla_case.pk)
    raw = mail(sender="Mallory <mallory@example.net>", subject=f"Re: {tag}", message_id="mallory-1@example.net")
    interaction = ingest(mailbox, raw)
    assert interaction is not None and interaction.conversation_id != carla_case.pk
    assert interaction.meta["thread_refused"] == {"by": "subject", "reason": "not-the-customer"}
    assert interaction.customer.identities.get().address == "mallory@example.net"
    assert not carla_case.interactions.filter(text__contains="Hello support", customer=interaction.customer).exists()


def test_it_does_not_thread_into_a_case_of_another_mailbox(
    mailbox: Channel, carla_case: Conversation, support_queue: Queue
) -> None:
    other = email_channel(support_queue, address="sales@example.com")
    tag = threads.subject_tag(carla_case.pk)
    by_tag = ingest(other, mail(to="sales@example.com", subject=f"Re: {tag}", message_id="carla-3@example.com"))
    raw = mail(to="sales@example.com", message_id="carla-4@example.com", extra="In-Reply-To: <carla-1@example.com>\r\n")
    by_reference = ingest(other, raw)
    for interaction in (by_tag, by_reference):
        assert interaction is not None and interaction.conversation.channel_id == other.pk
        assert "threaded_by" not in interaction.meta


def test_it_does_not_thread_by_a_chat_cases_tag_but_the_case_continues_by_the_continuity_rule(
    mailbox: Channel, chat_channel: Channel, carla: Any
) -> None:
    with transaction.atomic():
        chat = services.receive_message(customer=carla, channel=chat_channel, external_id="chat-1", text="Bonjour")
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)
    raw = mail(subject=f"Re: {threads.subject_tag(chat.conversation_id)}", message_id="carla-5@example.com")
    interaction = ingest(mailbox, raw)
    assert interaction is not None and interaction.customer_id == carla.pk
    # The subject tag of a chat case is no thread marker; the verified customer's open case continues (issue 14).
    assert "threaded_by" not in interaction.meta
    assert interaction.meta["continuity"] == "open_case"
    assert interaction.conversation_id == chat.conversation_id


def test_it_never_files_a_dmarc_failed_mail_under_a_verified_identity(
    mailbox: Channel, carla_case: Conversation
) -> None:
    Identity.objects.filter(address="carla@example.com").update(verified=True)
    raw = mail(
        authentication=DMARC_FAIL,
        subject=f"Re: {threads.subject_tag(carla_case.pk)}",
        message_id="forged-1@example.net",
        extra="In-Reply-To: <carla-1@example.com>\r\n",
    )
    interaction = ingest(mailbox, raw)
    assert interaction is not None
    assert interaction.customer_id != carla_case.customer_id
    assert interaction.conversation_id != carla_case.pk
    assert interaction.meta["sender_unverified"] is True
    assert interaction.meta["authentication"]["dmarc"] == "fail"
    assert interaction.meta["thread_refused"]["reason"] == "dmarc-fail"
    assert not Interaction.objects.filter(conversation=interaction.conversation, meta__auto_reply=True).exists()


def test_it_flags_a_dmarc_failed_mail_of_an_unverified_address_and_does_not_thread_it(
    mailbox: Channel, carla_case: Conversation
) -> None:
    raw = mail(
        authentication=DMARC_FAIL, message_id="forged-2@example.net", extra="References: <carla-1@example.com>\r\n"
    )
    interaction = ingest(mailbox, raw)
    assert interaction is not None and interaction.conversation_id != carla_case.pk
    assert interaction.meta["sender_unverified"] is True


def test_it_records_spf_dkim_and_dmarc_from_our_own_server_only(mailbox: Channel) -> None:
    forged_below = "Authentication-Results: attacker.example; spf=pass; dkim=pass; dmarc=pass\r\n"
    raw = mail(authentication=DMARC_FAIL, extra=forged_below, message_id="auth-1@example.net")
    interaction = ingest(mailbox, raw)
    assert interaction is not None
    assert interaction.meta["authentication"] == {
        "spf": "fail",
        "dkim": "none",
        "dmarc": "fail",
        "authserv_id": "mx.example.com",
    }


def test_it_reads_only_the_configured_authserv_id(support_queue: Queue) -> None:
    channel = email_channel(support_queue, authserv_ids=["mx.ours.example"])
    headers = ["evil.example; dmarc=pass", "mx.ours.example 1; spf=pass (ok) smtp.mailfrom=a; dkim=fail; dkim=pass"]
    result = read_authentication(headers, channel=channel)
    assert (result.authserv_id, result.spf, result.dkim, result.dmarc) == ("mx.ours.example", "pass", "pass", "none")
    assert read_authentication(["evil.example; dmarc=pass"], channel=channel).dmarc == "none"


def test_it_acknowledges_only_senders_it_can_believe(mailbox: Channel, alice: Any) -> None:
    unauthenticated = ingest(mailbox, mail(sender="x@example.org", authentication=None, message_id="ack-1@example.org"))
    authenticated = ingest(mailbox, mail(sender="y@example.org", authentication=PASS, message_id="ack-2@example.org"))
    acks = Interaction.objects.filter(meta__auto_reply=True)
    assert unauthenticated is not None and authenticated is not None
    assert not acks.filter(conversation=unauthenticated.conversation).exists()
    assert acks.filter(conversation=authenticated.conversation).count() == 1


def test_it_acknowledges_a_verified_identity_without_authentication_results(
    mailbox: Channel, carla: Any, alice: Any
) -> None:
    Identity.objects.create(customer=carla, kind=Identity.Kind.EMAIL, address="carla@example.com", verified=True)
    interaction = ingest(mailbox, mail(authentication=None, message_id="ack-3@example.com"))
    assert interaction is not None
    assert Interaction.objects.filter(conversation=interaction.conversation, meta__auto_reply=True).count() == 1


def test_it_never_echoes_the_senders_subject_in_an_acknowledgement(mailbox: Channel, alice: Any) -> None:
    spam = "You won 1000 EUR, click http://evil.example"
    interaction = ingest(mailbox, mail(sender="y@example.org", subject=spam, message_id="ack-4@example.org"))
    assert interaction is not None
    ack = Interaction.objects.get(conversation=interaction.conversation, meta__auto_reply=True)
    subject, _headers = thread_headers(ack)
    assert subject == f"We received your message {threads.subject_tag(interaction.conversation_id)}"
    assert "evil" not in subject


def test_it_keeps_threading_carlas_replies_by_message_id(mailbox: Channel, carla_case: Conversation) -> None:
    reply = ingest(mailbox, mail(message_id="carla-6@example.com", extra="In-Reply-To: <carla-1@example.com>\r\n"))
    assert reply is not None and reply.conversation_id == carla_case.pk
    assert MessageReference.objects.filter(message_id="carla-6@example.com", conversation=carla_case).exists()
