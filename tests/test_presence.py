"""Presence: sockets, the 60 s offline rule giving unanswered items back, and the flapping limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.utils import timezone

from interactions import services
from interactions.models import Channel, Conversation
from routing.models import AgentProfile, RoutingItem
from routing.services import set_presence, socket_connected, socket_disconnected
from routing.sweeps import sweep_presence
from tests.conftest import make_user


def test_it_sets_an_agent_offline_a_minute_after_their_last_socket_closed(alice: Any) -> None:
    socket_connected(user=alice)
    socket_disconnected(user=alice)
    assert sweep_presence(now=timezone.now() + timedelta(seconds=30)) == 0
    assert sweep_presence(now=timezone.now() + timedelta(seconds=61)) == 1
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.OFFLINE


def test_it_keeps_an_agent_with_another_socket_open(alice: Any) -> None:
    socket_connected(user=alice)
    socket_connected(user=alice)
    socket_disconnected(user=alice)
    assert sweep_presence(now=timezone.now() + timedelta(minutes=5)) == 0
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.AVAILABLE


def test_it_gives_back_unanswered_items_with_their_waiting_time_and_keeps_answered_ones(
    alice: Any, support_queue: Any, chat_channel: Channel, arrive: Any
) -> None:
    answered, unanswered = arrive(chat_channel), arrive(chat_channel)
    services.reply_to_conversation(conversation=answered, author=alice, text="Je regarde.")
    queued_at = RoutingItem.objects.get(conversation=unanswered).queued_at
    bruno = make_user("bruno", queues=[support_queue])
    AgentProfile.objects.filter(user=bruno).update(presence=AgentProfile.Presence.AWAY)
    set_presence(user=alice, presence=AgentProfile.Presence.OFFLINE, by_system=True)
    item = RoutingItem.objects.get(conversation=unanswered)
    assert (item.state, item.queued_at) == (RoutingItem.State.WAITING, queued_at)
    assert Conversation.objects.get(pk=unanswered.pk).assignee is None
    assert Conversation.objects.get(pk=answered.pk).assignee == alice
    set_presence(user=bruno, presence=AgentProfile.Presence.AVAILABLE)
    assert Conversation.objects.get(pk=unanswered.pk).assignee == bruno


def test_it_rate_limits_presence_flapping_with_a_clear_error(alice: Any, settings: Any) -> None:
    settings.OMNIDESK_PRESENCE_CHANGES_PER_MINUTE = 4
    for presence in ["away", "available", "away", "available"]:
        set_presence(user=alice, presence=presence)
    with pytest.raises(ValidationError, match="at most 4 a minute") as error:
        set_presence(user=alice, presence="away")
    assert error.value.code == "presence_rate_limited"
    assert AgentProfile.objects.get(user=alice).presence == AgentProfile.Presence.AVAILABLE


def test_it_refuses_an_unknown_presence(alice: Any) -> None:
    with pytest.raises(ValidationError, match="Unknown presence"):
        set_presence(user=alice, presence="sleeping")


@pytest.mark.django_db(transaction=True)
async def test_it_counts_the_desk_sockets_of_an_agent(alice: Any) -> None:
    from channels.db import database_sync_to_async

    from interactions.consumers import DeskConsumer

    desk = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
    desk.scope["user"] = alice
    connected, _ = await desk.connect()
    assert connected
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=alice)
    assert profile.socket_count == 1
    await desk.disconnect()
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=alice)
    assert (profile.socket_count, profile.last_seen_at is not None) == (0, True)
