"""Minimal routing: least-loaded available agent with free chat capacity, or the queue."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from interactions import services
from interactions.models import Channel, Conversation
from routing.models import AgentProfile, Queue
from routing.services import assign_next, set_presence
from tests.conftest import make_user
from tests.factories import widget_message


def test_it_assigns_a_new_conversation_to_an_available_agent_of_the_queue(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    conversation.refresh_from_db()
    assert conversation.assignee == alice
    assert conversation.queue == chat_channel.queue
    assert conversation.assigned_at is not None


def test_it_picks_the_least_loaded_agent(alice: Any, support_queue: Queue, chat_channel: Channel) -> None:
    bruno = make_user("bruno", queues=[support_queue])
    first = widget_message(chat_channel).conversation
    second = widget_message(chat_channel).conversation
    third = widget_message(chat_channel).conversation
    assignees = [Conversation.objects.get(pk=c.pk).assignee for c in (first, second, third)]
    assert {assignees[0], assignees[1]} == {alice, bruno}
    assert assignees[2] in (alice, bruno)


def test_it_leaves_conversations_waiting_when_capacity_is_full(alice: Any, chat_channel: Channel) -> None:
    conversations = [widget_message(chat_channel).conversation for _ in range(4)]
    assigned = Conversation.objects.filter(assignee=alice).count()
    waiting = Conversation.objects.filter(assignee__isnull=True, pk__in=[c.pk for c in conversations])
    assert assigned == 3
    assert waiting.count() == 1


def test_it_never_assigns_to_an_away_agent(alice: Any, chat_channel: Channel) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    conversation = widget_message(chat_channel).conversation
    conversation.refresh_from_db()
    assert conversation.assignee is None


def test_it_never_assigns_to_an_agent_of_another_team(oscar: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    conversation.refresh_from_db()
    assert conversation.assignee is None


def test_it_assigns_waiting_work_when_an_agent_becomes_available(alice: Any, chat_channel: Channel) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    conversation = widget_message(chat_channel).conversation
    set_presence(user=alice, presence=AgentProfile.Presence.AVAILABLE)
    conversation.refresh_from_db()
    assert conversation.assignee == alice


def test_it_assigns_the_oldest_waiting_conversation_when_capacity_frees(alice: Any, chat_channel: Channel) -> None:
    conversations = [widget_message(chat_channel).conversation for _ in range(5)]
    first, fourth, fifth = conversations[0], conversations[3], conversations[4]
    services.resolve_conversation(conversation=first, by=alice)
    fourth.refresh_from_db()
    fifth.refresh_from_db()
    assert fourth.assignee == alice
    assert fifth.assignee is None


@pytest.mark.django_db(transaction=True)
def test_it_never_double_assigns_under_concurrent_workers(support_queue: Queue, chat_channel: Channel) -> None:
    agent = make_user("solo", queues=[support_queue])
    AgentProfile.objects.filter(user=agent).update(chat_capacity=1, presence=AgentProfile.Presence.AWAY)
    for _ in range(6):
        widget_message(chat_channel)
    AgentProfile.objects.filter(user=agent).update(presence=AgentProfile.Presence.AVAILABLE)
    barrier = threading.Barrier(6)

    def assign() -> None:
        from django.db import connection

        barrier.wait()
        try:
            assign_next(queue=support_queue)
        finally:
            connection.close()

    threads = [threading.Thread(target=assign) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Conversation.objects.filter(assignee=agent).count() == 1
