"""Overflow: after the queue's timeout an item moves to the overflow queue, or drops its optional skills."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from interactions.models import Channel, Conversation
from routing.models import AgentProfile, Queue, RoutingItem, Skill
from routing.sweeps import sweep_overflow
from tests.conftest import make_user


def test_it_moves_an_item_to_the_overflow_queue_after_the_timeout(
    alice: Any, support_queue: Queue, billing_queue: Queue, oscar: Any, chat_channel: Channel, arrive: Any
) -> None:
    support_queue.overflow_queue = billing_queue
    support_queue.overflow_timeout_seconds = 120
    support_queue.save()
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AWAY)
    conversation = arrive(chat_channel)
    assert sweep_overflow(now=timezone.now() + timedelta(seconds=60)) == 0
    assert sweep_overflow(now=timezone.now() + timedelta(seconds=121)) == 1
    conversation.refresh_from_db()
    assert (conversation.queue, conversation.assignee) == (billing_queue, oscar)


def test_it_drops_optional_skills_after_the_timeout_when_there_is_no_overflow_queue(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    support_queue.optional_skills.add(Skill.objects.create(name="Premium"))
    support_queue.overflow_timeout_seconds = 60
    support_queue.save()
    conversation = arrive(chat_channel)
    assert conversation.assignee is None
    assert RoutingItem.objects.get(conversation=conversation).reason == "no available agent with skill Premium"
    sweep_overflow(now=timezone.now() + timedelta(seconds=61))
    assert Conversation.objects.get(pk=conversation.pk).assignee == alice


def test_it_prefers_an_agent_with_the_optional_skill_before_the_timeout(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    from routing.agents import set_skills

    Skill.objects.create(name="Premium")
    support_queue.optional_skills.add(Skill.objects.get(name="Premium"))
    bruno = make_user("bruno", queues=[support_queue])
    set_skills(user=bruno, proficiencies={"Premium": 3})
    assert arrive(chat_channel).assignee == bruno
