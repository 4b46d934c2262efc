"""An SLA escalation has an effect: the escalated case is routed ahead of its peers, and all who see it are told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from interactions.models import Channel, Conversation
from omnidesk import realtime
from routing import engine, sla
from routing.models import AgentProfile, Queue, RoutingItem
from routing.services import recompute_ranks, route_next, set_presence
from tests.events import groups_of, published_events

pytestmark = pytest.mark.django_db


def waiting_pair(queue: Queue, channel: Channel, arrive: Any) -> tuple[Conversation, Conversation]:
    """Two chats waiting in `queue`: an older one and a younger one, queued an hour apart."""
    older, younger = arrive(channel), arrive(channel)
    hour_ago = timezone.now() - timedelta(hours=1)
    RoutingItem.objects.filter(conversation=older).update(queued_at=hour_ago)
    Conversation.objects.filter(pk=older.pk).update(queued_at=hour_ago)
    recompute_ranks(queue=queue)
    return older, younger


def escalate(conversation: Conversation) -> None:
    """Breach the younger case's first-response clock and let the sweep escalate it."""
    queue = conversation.queue
    assert queue is not None
    queue.sla_first_response_minutes = 5
    queue.save(update_fields=["sla_first_response_minutes"])
    start = timezone.now()
    sla.start_sla_clocks(conversation=conversation, now=start)
    result = sla.sweep_sla(now=start + timedelta(minutes=6))
    assert result.escalated == [conversation.pk]


def test_it_assigns_an_escalated_case_before_an_older_peer(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    older, younger = waiting_pair(support_queue, chat_channel, arrive)
    escalate(younger)
    AgentProfile.objects.filter(user=alice).update(presence=AgentProfile.Presence.AVAILABLE, chat_capacity=1)

    first = route_next(queue=support_queue)
    assert first is not None and first.conversation_id == younger.pk
    older.refresh_from_db()
    assert older.assignee is None


def test_it_offers_the_escalated_case_first_to_an_agent_who_comes_back(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    older, younger = waiting_pair(support_queue, chat_channel, arrive)
    escalate(younger)
    AgentProfile.objects.filter(user=alice).update(chat_capacity=1)
    set_presence(user=alice, presence=AgentProfile.Presence.AVAILABLE)  # agent-driven: engine.items_for_agent
    younger.refresh_from_db()
    older.refresh_from_db()
    assert (younger.assignee, older.assignee) == (alice, None)


def test_it_keeps_the_escalation_when_the_queue_is_re_ranked(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    set_presence(user=alice, presence=AgentProfile.Presence.AWAY)
    _older, younger = waiting_pair(support_queue, chat_channel, arrive)
    escalate(younger)
    support_queue.base_priority = 3
    support_queue.save(update_fields=["base_priority"])
    recompute_ranks(queue=support_queue)
    ahead = engine.waiting_items(queue=support_queue).first()
    assert ahead is not None and ahead.conversation_id == younger.pk
    item = RoutingItem.objects.get(conversation=younger)
    assert item.boost == engine.escalation_boost()


def test_it_announces_the_escalation_to_the_agent_and_the_supervisors(
    alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    case = arrive(chat_channel)
    assert case.assignee == alice
    with published_events() as published:
        escalate(case)
    [event] = published.of_type("conversation.escalated", conversation=case)
    groups = groups_of(event)
    assert {realtime.agent_group(alice.pk), realtime.supervisors_group()} <= groups
    assert event.data["priority"] == sla.escalation_step()
