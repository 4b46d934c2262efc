"""`routing.services.move_to_queue`, the one way a waiting item changes queue: transfer and overflow.

Decided: a transfer resets the item's skills to the new queue's (a person chose that queue for what the case needs);
an overflow keeps them (waiting longer does not change what the customer needs; only optional skills are dropped).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from interactions.models import Channel, Conversation
from routing.models import AgentProfile, AgentSkill, Queue, RoutingItem, Skill
from routing.services import set_presence
from routing.sweeps import sweep_overflow
from routing.transfers import transfer_conversation
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def french(support_queue: Queue) -> Skill:
    """Support's cases need French."""
    skill = Skill.objects.create(name="French")
    support_queue.required_skills.add(skill)
    return skill


def overflow_after_a_minute(queue: Queue, *, to: Queue, away: Any) -> None:
    """`queue` overflows to `to` after 60 s, and its only agent (`away`) is not taking work."""
    queue.overflow_queue = to
    queue.overflow_timeout_seconds = 60
    queue.save()
    AgentProfile.objects.filter(user=away).update(presence=AgentProfile.Presence.AWAY)


def speaks(user: Any, skill: Skill) -> None:
    AgentSkill.objects.create(agent=AgentProfile.objects.get(user=user), skill=skill)


def test_it_resets_the_skills_to_the_new_queues_on_a_transfer_to_a_queue(
    sophie: Any, alice: Any, oscar: Any, french: Skill, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    speaks(alice, french)
    conversation = arrive(chat_channel)
    assert conversation.assignee == alice

    transfer_conversation(conversation=conversation, by=sophie, to_queue=billing_queue, note="A billing matter")

    item = RoutingItem.objects.get(conversation=conversation)
    assert (item.queue, item.required_skill_ids) == (billing_queue, [])
    assert Conversation.objects.get(pk=conversation.pk).assignee == oscar  # Oscar has no French, and needs none


def test_it_keeps_the_skills_when_an_item_overflows_to_another_queue(
    alice: Any,
    oscar: Any,
    french: Skill,
    support_queue: Queue,
    billing_queue: Queue,
    chat_channel: Channel,
    arrive: Any,
) -> None:
    overflow_after_a_minute(support_queue, to=billing_queue, away=alice)
    conversation = arrive(chat_channel)

    assert sweep_overflow(now=timezone.now() + timedelta(seconds=61)) == 1

    item = RoutingItem.objects.get(conversation=conversation)
    assert (item.queue, item.required_skill_ids) == (billing_queue, [french.pk])
    assert item.overflowed_at is not None
    assert Conversation.objects.get(pk=conversation.pk).assignee is None  # Oscar speaks no French


def test_it_gives_an_overflowed_item_to_an_agent_of_the_new_queue_with_its_skills(
    alice: Any, french: Skill, support_queue: Queue, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    overflow_after_a_minute(support_queue, to=billing_queue, away=alice)
    bruno = make_user("bruno", queues=[billing_queue])
    speaks(bruno, french)
    AgentProfile.objects.filter(user=bruno).update(presence=AgentProfile.Presence.AWAY)
    conversation = arrive(chat_channel)

    sweep_overflow(now=timezone.now() + timedelta(seconds=61))
    AgentProfile.objects.filter(user=bruno).update(presence=AgentProfile.Presence.OFFLINE)
    set_presence(user=bruno, presence=AgentProfile.Presence.AVAILABLE)

    assert Conversation.objects.get(pk=conversation.pk).assignee == bruno
