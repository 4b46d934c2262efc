"""Transfer to an agent or a queue, with a note the receiving agent sees, and the history kept."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from interactions.models import Channel, Conversation, Interaction
from routing.models import AgentProfile, Assignment, Queue, Transfer
from routing.transfers import transfer_conversation
from tests.conftest import make_user


def test_it_transfers_to_another_agent_with_a_note_in_the_conversation(
    alice: Any, bruno: Any, chat_channel: Channel, arrive: Any
) -> None:
    AgentProfile.objects.filter(user=bruno).update(presence=AgentProfile.Presence.AWAY)
    conversation = arrive(chat_channel)
    transfer_conversation(conversation=conversation, by=alice, to_agent=bruno, note="Il parle de sa facture.")
    conversation.refresh_from_db()
    assert conversation.assignee == bruno
    note = Interaction.objects.get(conversation=conversation, kind=Interaction.Kind.NOTE)
    assert note.text == "Alice transferred this conversation to Bruno. Il parle de sa facture."
    record = Transfer.objects.get(conversation=conversation)
    assert (record.from_agent, record.to_agent, record.by) == (alice, bruno, alice)
    history = list(
        Assignment.objects.filter(conversation=conversation).order_by("pk").values_list("agent", "end_reason")
    )
    assert history == [(alice.pk, "reassigned"), (bruno.pk, "")]
    assert [AgentProfile.objects.get(user=u).chat_load for u in (alice, bruno)] == [0, 1]


def test_it_transfers_to_a_queue_where_an_agent_of_that_queue_takes_it(
    sophie: Any, alice: Any, oscar: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    transfer_conversation(conversation=conversation, by=sophie, to_queue=billing_queue, note="Billing question")
    conversation.refresh_from_db()
    assert (conversation.queue, conversation.assignee) == (billing_queue, oscar)
    assert AgentProfile.objects.get(user=alice).chat_load == 0


def test_it_refuses_a_transfer_to_a_queue_the_agent_cannot_see_and_changes_nothing(
    alice: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    with pytest.raises(PermissionDenied, match="cannot see"):
        transfer_conversation(conversation=conversation, by=alice, to_queue=billing_queue, note="?")
    conversation.refresh_from_db()
    assert (conversation.queue.name, conversation.assignee) == ("Support", alice)
    assert not Transfer.objects.exists()


def test_it_refuses_a_transfer_to_a_full_agent(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    bruno = make_user("bruno", queues=[support_queue], capacity={"chat": 0})
    conversation = arrive(chat_channel)
    with pytest.raises(ValidationError, match="Bruno has no room"):
        transfer_conversation(conversation=conversation, by=alice, to_agent=bruno)
    assert Conversation.objects.get(pk=conversation.pk).assignee == alice


def test_it_needs_exactly_one_target(alice: Any, chat_channel: Channel, arrive: Any) -> None:
    with pytest.raises(ValidationError, match="either an agent or a queue"):
        transfer_conversation(conversation=arrive(chat_channel), by=alice)
