"""Continuing an unanswered chat by email (issue 13 item 7): the service, without a browser.

The end-to-end proof (Chromium, live stack, real SMTP) is tests/test_widget_followup_browser.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, Identity
from interactions import inbound, visitors
from interactions.models import Channel, Conversation, Interaction
from interactions.widget import followup
from routing.models import AgentProfile, Queue
from tests import mail_support

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(support_queue: Queue) -> Channel:
    return mail_support.email_channel(support_queue)


def visitor_writes(channel: Channel, text: str) -> tuple[str, Interaction]:
    """A new visitor's chat message, ingested as the worker does it."""
    visitor_id = visitors.new_visitor_id(channel=channel)
    event = inbound.record_widget_message(channel=channel, visitor_id=visitor_id, uuid=uuid.uuid4().hex, text=text)
    interaction = inbound.process_inbound_event(event_id=event.pk)
    assert interaction is not None
    return visitor_id, interaction


def test_it_queues_the_transcript_by_email_and_makes_the_mailbox_the_cases_reply_channel(
    alice: Any, chat_channel: Channel, mailbox: Channel
) -> None:
    visitor_id, chat = visitor_writes(chat_channel, "Ma facture est fausse")

    sent = followup.continue_by_email(channel=chat_channel, visitor_id=visitor_id, address=" Carla.D@Example.org ")

    assert sent.channel == mailbox and sent.conversation_id == chat.conversation_id
    assert sent.status == Interaction.Status.QUEUED and sent.meta["to"] == "carla.d@example.org"
    assert sent.text.endswith("You: Ma facture est fausse")
    assert Conversation.objects.get(pk=chat.conversation_id).channel == mailbox
    identity = Identity.objects.get(kind=Identity.Kind.EMAIL, address="carla.d@example.org")
    assert identity.customer_id == chat.customer_id and not identity.verified


def test_it_writes_the_transcript_in_the_visitors_language(alice: Any, chat_channel: Channel, mailbox: Channel) -> None:
    visitor_id, _chat = visitor_writes(chat_channel, "Bonjour")

    sent = followup.continue_by_email(
        channel=chat_channel, visitor_id=visitor_id, address="claire@example.org", language="fr"
    )

    # The French catalogue is merged by the integrator; until then the English text stands.
    assert sent.text.startswith(("Voici la transcription", "Here is the transcript"))
    assert sent.text.endswith(("Vous: Bonjour", "You: Bonjour"))


def test_it_never_moves_an_address_that_belongs_to_another_customer(
    alice: Any, chat_channel: Channel, mailbox: Channel
) -> None:
    owner = Customer.objects.create(display_name="Bruno")
    Identity.objects.create(customer=owner, kind=Identity.Kind.EMAIL, address="bruno@example.org", verified=True)
    visitor_id, chat = visitor_writes(chat_channel, "Qui suis-je ?")

    followup.continue_by_email(channel=chat_channel, visitor_id=visitor_id, address="bruno@example.org")

    identity = Identity.objects.get(kind=Identity.Kind.EMAIL, address="bruno@example.org")
    assert identity.customer_id == owner.pk and identity.verified
    assert Conversation.objects.get(pk=chat.conversation_id).channel == chat_channel


@pytest.mark.parametrize("address", ["", "not-an-address", "a@" + "b" * 400 + ".org", 42])
def test_it_refuses_an_invalid_address(alice: Any, chat_channel: Channel, mailbox: Channel, address: Any) -> None:
    visitor_id, _chat = visitor_writes(chat_channel, "Bonjour")
    with pytest.raises(ValidationError) as refused:
        followup.continue_by_email(channel=chat_channel, visitor_id=visitor_id, address=address)
    assert refused.value.code == "invalid_email"
    assert not Identity.objects.filter(kind=Identity.Kind.EMAIL).exists()


def test_it_refuses_a_visitor_who_has_not_written(chat_channel: Channel, mailbox: Channel) -> None:
    with pytest.raises(ValidationError) as refused:
        followup.continue_by_email(
            channel=chat_channel, visitor_id=visitors.new_visitor_id(channel=chat_channel), address="x@example.org"
        )
    assert refused.value.code == "nothing_to_follow"


def test_it_refuses_when_the_website_has_no_mailbox(alice: Any, chat_channel: Channel) -> None:
    visitor_id, _chat = visitor_writes(chat_channel, "Bonjour")
    with pytest.raises(ValidationError) as refused:
        followup.continue_by_email(channel=chat_channel, visitor_id=visitor_id, address="x@example.org")
    assert refused.value.code == "followup_unavailable"
    assert followup.followup_offer(channel=chat_channel)["email"] is False


def test_it_offers_email_only_when_no_agent_of_the_queue_can_take_the_chat(
    alice: Any, chat_channel: Channel, mailbox: Channel
) -> None:
    assert followup.no_agent_can_answer(channel=chat_channel) is False
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.OFFLINE)
    assert followup.no_agent_can_answer(channel=chat_channel) is True
    assert followup.followup_offer(channel=chat_channel) == {"email": True, "no_agent": True, "after_seconds": 180.0}
    mailbox.is_active = False
    mailbox.save()
    # Nothing to offer without a mailbox.
    assert followup.no_agent_can_answer(channel=chat_channel) is False


def test_it_ingests_the_visitors_pending_message_before_mailing_the_transcript(
    alice: Any, chat_channel: Channel, mailbox: Channel
) -> None:
    visitor_id = visitors.new_visitor_id(channel=chat_channel)
    inbound.record_widget_message(channel=chat_channel, visitor_id=visitor_id, uuid=uuid.uuid4().hex, text="Allô ?")

    sent = followup.continue_by_email(channel=chat_channel, visitor_id=visitor_id, address="dina@example.org")

    assert sent.text.endswith("You: Allô ?")
    chat = Interaction.objects.get(channel=chat_channel, text="Allô ?")
    assert chat.conversation_id == sent.conversation_id
