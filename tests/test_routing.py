"""Routing: skills, proficiency, load per channel kind, priority with value tier and aging, and the history."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from interactions import services
from interactions.models import Channel, Conversation
from routing.agents import set_capacity, set_skills
from routing.models import AgentProfile, AgentSkill, Assignment, Queue, RoutingItem, Skill
from routing.services import assign_next, recompute_ranks, set_presence
from tests.conftest import make_user
from tests.events import groups_of, published_events
from tests.factories import widget_message


def test_it_assigns_a_new_conversation_to_an_available_agent_of_the_queue(alice: Any, chat_channel: Channel) -> None:
    conversation = widget_message(chat_channel).conversation
    conversation.refresh_from_db()
    assert conversation.assignee == alice
    assert conversation.queue == chat_channel.queue
    assert conversation.assigned_at is not None


def test_it_picks_the_least_loaded_agent(alice: Any, bruno: Any, chat_channel: Channel) -> None:
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
# The session stack's worker runs beat's routing sweep on the same committed rows: a sweep that locked the six items
# (SKIP LOCKED) while reading the agent as still away left the test's six deciders nothing, and nobody assigned.
@pytest.mark.usefixtures("session_worker_paused")
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


# --- skills, proficiency, load, priority ---------------------------------------------------------------------------


def skilled(name: str, queue: Queue, skills: dict[str, int], **capacity: int) -> Any:
    from routing.agents import set_skills

    for skill in skills:
        Skill.objects.get_or_create(name=skill)
    user = make_user(name, queues=[queue], capacity=capacity or None)
    set_skills(user=user, proficiencies=skills)
    return user


def test_it_gives_the_item_to_the_most_proficient_agent_with_every_required_skill(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    french = Skill.objects.create(name="French")
    support_queue.required_skills.add(french)
    skilled("bruno", support_queue, {"French": 2})
    chloe = skilled("chloe", support_queue, {"French": 5})
    assert arrive(chat_channel).assignee == chloe


def test_it_keeps_an_item_waiting_with_the_reason_when_nobody_has_the_skill(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    support_queue.required_skills.add(Skill.objects.create(name="Japanese"))
    conversation = arrive(chat_channel)
    assert conversation.assignee is None
    assert RoutingItem.objects.get(conversation=conversation).reason == "no available agent with skill Japanese"


def test_it_says_all_capable_agents_are_full_when_they_are(alice: Any, chat_channel: Channel, arrive: Any) -> None:
    for _ in range(3):
        arrive(chat_channel)
    waiting = arrive(chat_channel)
    assert waiting.assignee is None
    assert RoutingItem.objects.get(conversation=waiting).reason == "all capable agents are full for Chat"


def test_it_prefers_the_agent_with_the_lowest_load_ratio(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    AgentProfile.objects.filter(user=alice).update(chat_load=1, chat_capacity=2)
    bruno = make_user("bruno", queues=[support_queue], capacity={"chat": 4})
    AgentProfile.objects.filter(user=bruno).update(chat_load=1)
    assert arrive(chat_channel).assignee == bruno


def test_it_counts_capacity_per_channel_kind(
    alice: Any, chat_channel: Channel, email_channel: Channel, arrive: Any
) -> None:
    # Blending off (as migrated profiles are): the per-class limits alone. Blending: tests/test_routing_capacity.py.
    AgentProfile.objects.filter(user=alice).update(capacity_units=None)
    for _ in range(3):
        assert arrive(chat_channel).assignee == alice
    assert arrive(chat_channel).assignee is None
    assert arrive(email_channel).assignee == alice
    profile = AgentProfile.objects.get(user=alice)
    assert (profile.chat_load, profile.email_load) == (3, 1)


def test_it_serves_priority_with_value_tier_and_aging_then_the_oldest(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    old_standard = arrive(chat_channel, tier="standard")
    older_standard = arrive(chat_channel, tier="standard")
    vip = arrive(chat_channel, tier="vip")
    fresh_standard = arrive(chat_channel, tier="standard")
    # 30 minutes at 1 point a minute beats the VIP's 20 points; the VIP beats fresh standard contacts.
    RoutingItem.objects.filter(conversation=old_standard).update(queued_at=timezone.now() - timedelta(minutes=30))
    RoutingItem.objects.filter(conversation=older_standard).update(queued_at=timezone.now() - timedelta(minutes=31))
    recompute_ranks(queue=support_queue)
    AgentProfile.objects.filter(user=alice).update(chat_capacity=1)
    set_presence(user=alice, presence=AgentProfile.Presence.AVAILABLE)
    order = []
    for _ in range(4):
        current = Conversation.objects.get(assignee=alice, status=Conversation.Status.OPEN)
        order.append(current.pk)
        services.resolve_conversation(conversation=current, by=alice)
    assert order == [older_standard.pk, old_standard.pk, vip.pk, fresh_standard.pk]


def test_it_records_every_assignment_in_the_history(alice: Any, chat_channel: Channel, arrive: Any) -> None:
    conversation = arrive(chat_channel)
    services.resolve_conversation(conversation=conversation, by=alice)
    assignment = Assignment.objects.get(conversation=conversation)
    assert (assignment.agent, assignment.capacity_class, assignment.end_reason) == (alice, "chat", "resolved")
    assert AgentProfile.objects.get(user=alice).chat_load == 0


def test_an_assignment_writes_every_row_and_announces_the_last_message(alice: Any, chat_channel: Channel) -> None:
    """The decision's writes are folded into one statement and the preview comes with the conversation: check all."""
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    conversation = widget_message(chat_channel, text="Ma facture est fausse").conversation
    with published_events() as published:
        set_presence(user=alice, presence=AgentProfile.Presence.AVAILABLE)
    conversation.refresh_from_db()
    item = RoutingItem.objects.get(conversation=conversation)
    profile = AgentProfile.objects.get(user=alice)
    assignment = Assignment.objects.get(conversation=conversation)
    assert (conversation.assignee, item.state, item.agent, item.reason) == (alice, "assigned", alice, "")
    assert (assignment.agent, assignment.source, assignment.ended_at) == (alice, "routed", None)
    assert (profile.chat_load, profile.last_assigned_at) == (1, conversation.assigned_at)
    event = published.last("conversation.assigned")
    assert event is not None
    assert event.data["conversation"]["preview"] == "Ma facture est fausse"
    assert event.data["conversation"]["assignee_id"] == alice.pk
    groups = groups_of(event)
    assert f"agent.{alice.pk}" in groups and "supervisors" in groups


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 51, 1000, "3", 2.5, True])
def test_it_refuses_a_negative_or_absurd_capacity_and_keeps_the_old_one(alice: Any, value: Any) -> None:
    with pytest.raises(ValidationError) as error:
        set_capacity(user=alice, chat=value)
    assert error.value.code == "invalid_capacity"
    assert AgentProfile.objects.get(user=alice).chat_capacity == 3


def test_it_refuses_an_unknown_skill_and_keeps_the_agents_skills(alice: Any) -> None:
    Skill.objects.create(name="French")
    set_skills(user=alice, proficiencies={"French": 4})
    with pytest.raises(ValidationError, match="Unknown skill: Klingon"):
        set_skills(user=alice, proficiencies={"French": 5, "Klingon": 3})
    assert list(AgentSkill.objects.filter(agent__user=alice).values_list("skill__name", "proficiency")) == [
        ("French", 4)
    ]


def test_it_refuses_a_proficiency_outside_one_to_five(alice: Any) -> None:
    Skill.objects.create(name="French")
    with pytest.raises(ValidationError, match="from 1 to 5"):
        set_skills(user=alice, proficiencies={"French": 9})
    assert not AgentSkill.objects.filter(agent__user=alice).exists()
