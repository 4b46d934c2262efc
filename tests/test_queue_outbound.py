"""`outbound.queue_outbound`, the one way an outbound message is queued: which messages answer the customer.

Decided: a person's answer (a free-text reply, a WhatsApp template an agent picked) stops the first-response clock;
a machine's (the email acknowledgement) does not, and does not keep a case with an agent who leaves either.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from interactions import inbound, services
from interactions.mail.services import record_raw_mail
from interactions.messaging import meta
from interactions.messaging import services as messaging
from interactions.models import Channel, Conversation, Interaction
from routing import services as routing
from routing.models import AgentProfile, Queue, RoutingItem
from tests.mail_support import email_channel, fixture_bytes
from tests.messaging_support import (
    FakeProvider,
    ingest,
    make_channel,
    whatsapp_envelope,
    whatsapp_text,
)

pytestmark = pytest.mark.django_db


def with_sla(queue: Queue) -> Queue:
    queue.sla_first_response_minutes = 240
    queue.sla_next_response_minutes = 60
    queue.save()
    return queue


def carla_on_whatsapp(channel: Channel) -> Interaction:
    [message] = ingest(channel, "meta", meta.events_from_body(whatsapp_envelope(messages=[whatsapp_text("wamid.IN1")])))
    return message


def carla_emails(channel: Channel) -> Interaction:
    event, _created = record_raw_mail(channel=channel, raw=fixture_bytes("new_request.eml"), source="test")
    interaction = inbound.process_inbound_event(event_id=event.pk)
    assert interaction is not None
    return interaction


def test_it_counts_a_whatsapp_template_sent_by_an_agent_as_the_first_response(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, with_sla(support_queue), api_base=provider.url)
    message = carla_on_whatsapp(channel)
    Interaction.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(hours=25))
    before = Conversation.objects.get(pk=message.conversation_id)
    assert before.first_response_at is None and before.first_response_due_at is not None

    template = messaging.send_template(conversation=message.conversation, author=alice, template_name="order_update")

    after = Conversation.objects.get(pk=message.conversation_id)
    assert template.status == Interaction.Status.QUEUED and template.idempotency_key
    assert after.first_response_at == template.status_at
    assert after.last_message_at == template.status_at


def test_it_stops_the_next_response_clock_when_an_agent_sends_a_template(
    alice: Any, support_queue: Queue, provider: FakeProvider
) -> None:
    channel = make_channel(Channel.Kind.WHATSAPP, with_sla(support_queue), api_base=provider.url)
    message = carla_on_whatsapp(channel)
    services.reply_to_conversation(conversation=message.conversation, author=alice, text="Je regarde.")
    ingest(channel, "meta", meta.events_from_body(whatsapp_envelope(messages=[whatsapp_text("wamid.IN2")])))
    assert Conversation.objects.get(pk=message.conversation_id).next_response_due_at is not None

    messaging.send_template(conversation=message.conversation, author=alice, template_name="order_update")

    assert Conversation.objects.get(pk=message.conversation_id).next_response_due_at is None


def test_it_does_not_count_the_automatic_email_acknowledgement_as_a_response(support_queue: Queue) -> None:
    channel = email_channel(with_sla(support_queue), acknowledgement="Thanks, we got it.")

    first = carla_emails(channel)

    conversation = Conversation.objects.get(pk=first.conversation_id)
    acknowledgement = Interaction.objects.get(conversation=conversation, direction=Interaction.Direction.OUTBOUND)
    assert acknowledgement.meta["auto_reply"] is True and acknowledgement.author is None
    assert acknowledgement.status == Interaction.Status.QUEUED and acknowledgement.idempotency_key
    assert conversation.first_response_at is None
    assert conversation.first_response_due_at is not None
    assert conversation.last_message_at == acknowledgement.status_at


def test_it_gives_back_an_acknowledged_email_when_its_agent_goes_offline_before_answering(
    alice: Any, support_queue: Queue
) -> None:
    channel = email_channel(support_queue, acknowledgement="Thanks, we got it.")
    first = carla_emails(channel)
    assert Conversation.objects.get(pk=first.conversation_id).assignee == alice

    routing.set_presence(user=alice, presence=AgentProfile.Presence.OFFLINE, by_system=True)

    assert Conversation.objects.get(pk=first.conversation_id).assignee is None
    assert RoutingItem.objects.get(conversation_id=first.conversation_id).state == RoutingItem.State.WAITING


def test_it_keeps_an_answered_email_with_its_agent_when_they_go_offline(alice: Any, support_queue: Queue) -> None:
    channel = email_channel(support_queue, acknowledgement="Thanks, we got it.")
    first = carla_emails(channel)
    services.reply_to_conversation(conversation=first.conversation, author=alice, text="On it.")

    routing.set_presence(user=alice, presence=AgentProfile.Presence.OFFLINE, by_system=True)

    assert Conversation.objects.get(pk=first.conversation_id).assignee == alice
