"""Offer mode: an item is offered to one agent at a time; a decline or a timeout offers it to the next agent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from interactions.models import Channel, Conversation
from routing.models import AgentProfile, Assignment, Offer, Queue, RoutingItem
from routing.offers import accept_offer, decline_offer, expire_offers
from tests.conftest import make_user


@pytest.fixture
def offering(support_queue: Queue) -> Queue:
    support_queue.mode = Queue.Mode.OFFER
    support_queue.offer_timeout_seconds = 20
    support_queue.save()
    return support_queue


def test_it_offers_instead_of_assigning_and_reserves_the_capacity(
    alice: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    offer = Offer.objects.get(item__conversation=conversation)
    assert (offer.agent, offer.state, conversation.assignee) == (alice, Offer.State.PENDING, None)
    assert AgentProfile.objects.get(user=alice).chat_load == 1


def test_it_assigns_the_conversation_when_the_agent_accepts(
    alice: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    accept_offer(offer=Offer.objects.get(item__conversation=conversation), by=alice)
    conversation.refresh_from_db()
    assert conversation.assignee == alice
    assert Assignment.objects.get(conversation=conversation).source == Assignment.Source.OFFER
    assert AgentProfile.objects.get(user=alice).chat_load == 1


def test_it_offers_the_next_agent_after_a_decline(
    alice: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    bruno = make_user("bruno", queues=[offering])
    conversation = arrive(chat_channel)
    first = Offer.objects.get(item__conversation=conversation)
    decline_offer(offer=first, by=first.agent)
    second = Offer.objects.get(item__conversation=conversation, state=Offer.State.PENDING)
    assert {first.agent, second.agent} == {alice, bruno}
    assert AgentProfile.objects.get(user=first.agent).chat_load == 0


def test_it_offers_the_next_agent_when_the_offer_times_out(
    alice: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    bruno = make_user("bruno", queues=[offering])
    conversation = arrive(chat_channel)
    first = Offer.objects.get(item__conversation=conversation)
    assert expire_offers(now=timezone.now() + timedelta(seconds=21)) == 1
    first.refresh_from_db()
    second = Offer.objects.get(item__conversation=conversation, state=Offer.State.PENDING)
    assert first.state == Offer.State.EXPIRED
    assert {first.agent, second.agent} == {alice, bruno}


def test_it_refuses_an_accept_after_the_timeout_and_changes_nothing(
    alice: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    offer = Offer.objects.get(item__conversation=conversation)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError) as error:
        accept_offer(offer=offer, by=alice)
    assert error.value.code == "offer_expired"
    conversation.refresh_from_db()
    offer.refresh_from_db()
    assert (conversation.assignee, offer.state) == (None, Offer.State.PENDING)
    assert not Assignment.objects.filter(conversation=conversation).exists()


def test_it_keeps_waiting_with_a_reason_when_everyone_declined(
    alice: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    decline_offer(offer=Offer.objects.get(item__conversation=conversation), by=alice)
    item = RoutingItem.objects.get(conversation=conversation)
    assert (item.state, item.reason) == (RoutingItem.State.WAITING, "no agent of the queue is available")
    assert Conversation.objects.get(pk=conversation.pk).assignee is None


def test_it_refuses_another_agents_offer(
    alice: Any, oscar: Any, offering: Queue, chat_channel: Channel, arrive: Any
) -> None:
    offer = Offer.objects.get(item__conversation=arrive(chat_channel))
    with pytest.raises(ValidationError, match="someone else"):
        accept_offer(offer=offer, by=oscar)
