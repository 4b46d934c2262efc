"""Continuity when the chat ends without an agent (issue 13 item 7), on the live stack in Chromium.

No agent is available → the widget offers to continue by email → the visitor leaves an address → the transcript
reaches the (local aiosmtpd) SMTP server → the agent's reply on the case goes by email in the same thread → the
customer's email answer lands in the SAME case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from customers.models import Identity
from interactions import services
from interactions.mail import threads
from interactions.mail.services import record_raw_mail
from interactions.models import Channel, Conversation, Interaction
from routing.models import AgentProfile, Queue
from tests import mail_support
from tests.browser import website, widget_page
from tests.mail_support import SmtpServer
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

smtp_server = mail_support.smtp_server
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ADDRESS = "carla.dupont@example.org"


@pytest.fixture
def mailbox(support_queue: Queue, smtp_server: SmtpServer) -> Channel:
    return mail_support.email_channel(support_queue, smtp_host=smtp_server.host, smtp_port=smtp_server.port)


@pytest.fixture
def customer_site(stack: Stack, chat_channel: Channel) -> Iterator[str]:
    with website({"/": widget_page(desk_url=stack.base_url, channel_key=chat_channel.public_key)}) as origin:
        Channel.objects.filter(pk=chat_channel.pk).update(allowed_origins=[origin])
        yield origin


def body_of(message: Any) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def test_it_continues_an_unanswered_chat_by_email_in_the_same_case(
    stack: Stack, browser: Browser, alice: Any, mailbox: Channel, smtp_server: SmtpServer, customer_site: str
) -> None:
    # Nobody can take the chat: alice (the queue's only agent) is offline.
    AgentProfile.objects.update(presence=AgentProfile.Presence.OFFLINE)
    visitor = browser.new_context().new_page()
    visitor.goto(customer_site)
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.get_by_label("Message").fill("Ma facture de novembre est fausse")
    visitor.get_by_role("button", name="Send").click()

    offer = visitor.get_by_role("group", name="Continue by email")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("No one is available to answer right now")
    # Keyboard only: type the address and submit with Enter.
    offer.get_by_label("Your email address").fill(ADDRESS)
    offer.get_by_label("Your email address").press("Enter")
    expect(offer.get_by_role("status")).to_contain_text(f"This conversation has been sent to {ADDRESS}")
    ARTIFACTS.mkdir(exist_ok=True)
    visitor.screenshot(path=str(ARTIFACTS / "widget-followup-email.png"))

    # The transcript reaches the SMTP server, in the case's thread.
    wait_until(lambda: len(smtp_server.messages) >= 1, timeout=20, message="the transcript to be mailed")
    (transcript,) = smtp_server.messages
    chat = Interaction.objects.get(text="Ma facture de novembre est fausse")
    case = Conversation.objects.get(pk=chat.conversation_id)
    assert transcript["To"] == ADDRESS
    assert "You: Ma facture de novembre est fausse" in body_of(transcript)
    assert transcript["Reply-To"] == f"support+{threads.reply_token(case.pk)}@example.com"
    assert threads.subject_tag(case.pk) in transcript["Subject"]

    # The address is an (unverified, visitor-given) email identity of the same customer; the case answers by email.
    identity = Identity.objects.get(kind=Identity.Kind.EMAIL, address=ADDRESS)
    assert identity.customer_id == chat.customer_id and identity.verified is False
    assert case.channel_id == mailbox.pk

    # The agent's later reply, on the case's default reply channel, goes by email in the same thread.
    reply = services.reply_to_conversation(conversation=case, author=alice, text="Votre facture est corrigée.")
    assert reply.channel_id == mailbox.pk
    wait_until(lambda: len(smtp_server.messages) >= 2, timeout=20, message="the agent's reply to be mailed")
    answer_mail = smtp_server.messages[1]
    assert answer_mail["To"] == ADDRESS
    assert transcript["Message-ID"] in answer_mail["References"]
    assert threads.subject_tag(case.pk) in answer_mail["Subject"]
    assert body_of(answer_mail).strip() == "Votre facture est corrigée."

    # The customer answers the agent's email: it lands in the same case.
    raw = (
        f"From: Carla Dupont <{ADDRESS}>\r\nTo: support@example.com\r\nSubject: {answer_mail['Subject']}\r\n"
        f"Message-ID: <carla-merci@example.org>\r\nIn-Reply-To: {answer_mail['Message-ID']}\r\n\r\nMerci beaucoup !\r\n"
    ).encode()
    record_raw_mail(channel=mailbox, raw=raw, source="test")

    def answered_in_case() -> bool:
        return Interaction.objects.filter(channel=mailbox, text__contains="Merci beaucoup").exists()

    wait_until(answered_in_case, timeout=30, message="the customer's email answer to be ingested")
    answer = Interaction.objects.get(channel=mailbox, text__contains="Merci beaucoup")
    assert answer.conversation_id == case.pk
    assert answer.customer_id == chat.customer_id
    assert Conversation.objects.filter(customer_id=chat.customer_id).count() == 1
