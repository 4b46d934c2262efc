"""Replying by email: Alice answers Carla's email over SMTP (a real aiosmtpd on loopback), in the customer's thread."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from interactions import inbound, services
from interactions.mail import threads
from interactions.mail.models import MessageReference
from interactions.mail.services import record_raw_mail
from interactions.models import Attachment, Channel, Interaction
from interactions.outbound import TransientDeliveryError, deliver_interaction
from routing.models import Queue
from tests import mail_support
from tests.conftest import PASSWORD
from tests.mail_support import SmtpServer, email_channel, fixture_bytes
from tests.stack import Stack, free_port, wait_until

pytestmark = pytest.mark.usefixtures("media_root")


smtp_server = mail_support.smtp_server


@pytest.fixture
def mailbox(support_queue: Queue, smtp_server: SmtpServer) -> Channel:
    return email_channel(
        support_queue, smtp_host=smtp_server.host, smtp_port=smtp_server.port, acknowledgement="Thanks, we got it."
    )


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def carla_writes(channel: Channel, name: str = "new_request.eml") -> Interaction:
    event, _created = record_raw_mail(channel=channel, raw=fixture_bytes(name), source="test")
    interaction = inbound.process_inbound_event(event_id=event.pk)
    if interaction is None:  # the live worker of a stack test may have taken it first
        wait_until(
            Interaction.objects.filter(channel=channel, external_id=event.external_id).exists,
            timeout=15,
            message="the worker to process the mail",
        )
        interaction = Interaction.objects.get(channel=channel, external_id=event.external_id)
    return interaction


def alice_replies(interaction: Interaction, alice: Any, text: str = "Your parcel left our warehouse today.") -> Any:
    return services.reply_to_conversation(conversation=interaction.conversation, author=alice, text=text)


@pytest.mark.django_db
def test_it_sends_the_reply_in_the_customers_thread_and_threads_her_answer(
    mailbox: Channel, smtp_server: SmtpServer, alice: Any
) -> None:
    first = carla_writes(mailbox)
    reply = alice_replies(first, alice)

    sent = deliver_interaction(interaction_id=reply.pk)

    (message,) = smtp_server.messages  # the acknowledgement waits for a commit that a test transaction never makes
    conversation_id = first.conversation_id
    assert message["To"] == "carla@example.com"
    assert message["Message-ID"] == f"<{reply.idempotency_key}@example.com>"
    assert message["In-Reply-To"] == "<first-1@example.com>"
    assert "<first-1@example.com>" in message["References"]
    assert message["Reply-To"] == f"support+{threads.reply_token(conversation_id)}@example.com"
    assert message["Subject"] == f"Re: Order 1042 {threads.subject_tag(conversation_id)}"
    assert message["Auto-Submitted"] is None
    assert body_of(message, "plain").strip() == "Your parcel left our warehouse today."
    assert "<p>Your parcel left our warehouse today.</p>" in body_of(message, "html")
    assert sent.status == Interaction.Status.SENT and sent.external_id == f"{reply.idempotency_key}@example.com"
    assert MessageReference.objects.filter(interaction=reply, direction=MessageReference.Direction.OUTBOUND).exists()

    # Carla's client answers our own Message-ID (django-helpdesk #756): her answer joins the same case.
    answer = (
        b"From: Carla Dupont <carla@example.com>\r\nTo: support@example.com\r\nSubject: Re: Order 1042\r\n"
        b"Message-ID: <carla-answer@example.com>\r\nIn-Reply-To: "
        + message["Message-ID"].encode()
        + b"\r\n\r\nGreat!\r\n"
    )
    event, _created = record_raw_mail(channel=mailbox, raw=answer, source="test")
    threaded = inbound.process_inbound_event(event_id=event.pk)
    assert threaded is not None and threaded.conversation_id == conversation_id
    assert threaded.meta["threaded_by"] == "in-reply-to"


@pytest.mark.django_db
def test_it_marks_the_acknowledgement_as_automatic(mailbox: Channel, smtp_server: SmtpServer) -> None:
    first = carla_writes(mailbox)
    acknowledgement = Interaction.objects.get(conversation=first.conversation, direction=Interaction.Direction.OUTBOUND)

    deliver_interaction(interaction_id=acknowledgement.pk)

    (message,) = smtp_server.messages
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["To"] == "carla@example.com"
    assert body_of(message, "plain").strip() == "Thanks, we got it."


@pytest.mark.django_db
def test_it_attaches_the_files_of_the_reply(mailbox: Channel, smtp_server: SmtpServer, alice: Any) -> None:
    reply = alice_replies(carla_writes(mailbox), alice, text="The invoice is attached.")
    attachment = Attachment(interaction=reply, filename="invoice.pdf", content_type="application/pdf", size=9)
    attachment.file.save("invoice.pdf", ContentFile(b"%PDF-1.4\n"), save=True)

    deliver_interaction(interaction_id=reply.pk)

    message = smtp_server.messages[-1]
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "invoice.pdf" and part.get_content() == b"%PDF-1.4\n"


@pytest.mark.django_db
def test_it_shows_a_temporary_smtp_failure_and_sends_on_retry(
    mailbox: Channel, smtp_server: SmtpServer, alice: Any
) -> None:
    reply = alice_replies(carla_writes(mailbox), alice)
    smtp_server.handler.refuse_next = ["451 4.3.0 Mailbox busy, try again later"]

    with pytest.raises(TransientDeliveryError):
        deliver_interaction(interaction_id=reply.pk)
    reply.refresh_from_db()
    assert reply.status == Interaction.Status.QUEUED
    assert "451" in reply.error

    deliver_interaction(interaction_id=reply.pk)
    reply.refresh_from_db()
    assert reply.status == Interaction.Status.SENT and reply.error == ""
    assert [m["Message-ID"] for m in smtp_server.messages].count(f"<{reply.idempotency_key}@example.com>") == 1


@pytest.mark.django_db
def test_it_fails_the_reply_on_a_permanent_smtp_refusal(mailbox: Channel, smtp_server: SmtpServer, alice: Any) -> None:
    reply = alice_replies(carla_writes(mailbox), alice)
    smtp_server.handler.refuse_next = ["554 5.7.1 Message rejected as spam"]

    deliver_interaction(interaction_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Interaction.Status.FAILED
    assert "554" in reply.error


@pytest.mark.django_db
def test_it_retries_when_the_smtp_server_is_unreachable(support_queue: Queue, alice: Any) -> None:
    unreachable = email_channel(support_queue, smtp_host="127.0.0.1", smtp_port=free_port())
    reply = alice_replies(carla_writes(unreachable), alice)

    with pytest.raises(TransientDeliveryError, match="connection"):
        deliver_interaction(interaction_id=reply.pk)
    reply.refresh_from_db()
    assert reply.status == Interaction.Status.QUEUED and "connection" in reply.error


@pytest.mark.django_db
def test_it_does_not_send_twice_when_a_task_is_retried_after_the_server_accepted(
    mailbox: Channel, smtp_server: SmtpServer, alice: Any
) -> None:
    reply = alice_replies(carla_writes(mailbox), alice)
    deliver_interaction(interaction_id=reply.pk)
    # The worker died after the server's 250 and before the status was saved: the retried task finds it queued.
    Interaction.objects.filter(pk=reply.pk).update(status=Interaction.Status.QUEUED)

    deliver_interaction(interaction_id=reply.pk)

    ours = [m for m in smtp_server.messages if m["Message-ID"] == f"<{reply.idempotency_key}@example.com>"]
    assert len(ours) == 1
    reply.refresh_from_db()
    assert reply.status == Interaction.Status.SENT


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_it_delivers_a_reply_from_the_desk_composer_through_the_worker_with_retries(
    stack: Stack, mailbox: Channel, smtp_server: SmtpServer, alice: Any
) -> None:
    first = carla_writes(mailbox)
    wait_until(lambda: len(smtp_server.messages) == 1, timeout=20, message="the acknowledgement to be sent")
    smtp_server.handler.refuse_next = ["421 4.7.0 Too many connections, slow down"]
    client = Client()
    assert client.login(username="alice", password=PASSWORD)

    response = client.post(
        f"/desk/conversations/{first.conversation_id}/reply/",
        {"text": "Sent from the desk.", "channel": mailbox.pk},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    reply = Interaction.objects.get(text="Sent from the desk.")
    wait_until(lambda: len(smtp_server.messages) == 2, timeout=30, message="the worker to retry and send the reply")
    reply.refresh_from_db()
    wait_until(
        lambda: Interaction.objects.get(pk=reply.pk).status == Interaction.Status.SENT,
        timeout=10,
        message="the reply to be marked sent",
    )
    assert smtp_server.messages[-1]["Subject"] == f"Re: Order 1042 {threads.subject_tag(first.conversation_id)}"
    assert smtp_server.messages[-1]["Message-ID"] == f"<{reply.idempotency_key}@example.com>"
