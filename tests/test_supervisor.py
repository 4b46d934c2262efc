"""The supervisors' queue view: waiting, longest wait, EWT, SLA risk, agents' presence and load; agents are kept out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from interactions.models import Channel, Conversation
from omnidesk import realtime
from routing import stats
from routing.models import AgentProfile, Queue
from tests.conftest import make_user
from tests.events import groups_of, published_events


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_shows_supervisors_the_queues_and_the_agents(
    sophie: Any, alice: Any, support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    for _ in range(4):
        arrive(chat_channel)
    waiting = Conversation.objects.filter(assignee__isnull=True).get()
    Conversation.objects.filter(pk=waiting.pk).update(first_response_due_at=timezone.now() - timedelta(minutes=1))
    page = logged_in(sophie).get("/desk/supervisor/").content.decode()
    row = page.split(f'data-queue="{support_queue.pk}"')[1].split("</tr>")[0]
    assert '<td data-label="waiting">1</td>' in row
    assert "<td>1</td>" in row  # one conversation at SLA risk (breached)
    agent_row = page.split(f'data-agent="{alice.pk}"')[1].split("</tr>")[0]
    assert "Busy" in agent_row and "3/3" in agent_row


def test_it_refuses_the_queue_view_to_agents(alice: Any) -> None:
    assert logged_in(alice).get("/desk/supervisor/").status_code == 403


def test_it_never_puts_an_agent_in_the_supervisors_group(alice: Any, sophie: Any) -> None:
    from interactions import access

    assert realtime.supervisors_group() not in access.realtime_groups_for_agent(alice)
    assert realtime.supervisors_group() in access.realtime_groups_for_agent(sophie)


@pytest.mark.django_db(transaction=True)
def test_it_publishes_the_figures_to_supervisors_only_when_they_change(
    support_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    make_user("alice", queues=[support_queue])
    assert stats.publish_stats() is True
    assert stats.publish_stats() is False  # same figures: nothing new to send
    AgentProfile.objects.filter(user__username="alice").update(presence=AgentProfile.Presence.AWAY)
    # The live stack's worker may publish the figures too: this block's own publication is the latest of its type.
    with published_events(include_live_figures=True) as published:
        assert stats.publish_stats() is True
    latest = published.last("queue.stats_changed")
    assert latest is not None
    assert groups_of(latest) == {realtime.supervisors_group()}


def test_it_lets_a_supervisor_transfer_from_the_queue_view(
    sophie: Any, alice: Any, oscar: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    response = logged_in(sophie).post(
        f"/desk/conversations/{conversation.pk}/transfer/",
        {"target": f"queue:{billing_queue.pk}", "note": "Billing", "next": "/desk/supervisor/"},
    )
    assert response.status_code == 302 and response["Location"] == "/desk/supervisor/"
    assert Conversation.objects.get(pk=conversation.pk).assignee == oscar


def test_it_explains_a_refused_transfer_in_the_desk(
    alice: Any, billing_queue: Queue, chat_channel: Channel, arrive: Any
) -> None:
    conversation = arrive(chat_channel)
    response = logged_in(alice).post(
        f"/desk/conversations/{conversation.pk}/transfer/", {"target": f"queue:{billing_queue.pk}"}
    )
    assert response.status_code == 403
    assert "cannot transfer to a queue you cannot see" in response.content.decode()
