"""The screen pop over the desk websocket (real Redis channel layer and PostgreSQL): it reaches only the right agents,
carries the caller's 360° view, and closes for the others when someone answers."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from customers.models import Customer
from interactions.consumers import DeskConsumer
from interactions.models import Channel, Conversation, Interaction
from omnidesk import realtime
from routing.models import AgentProfile, Queue
from tests.conftest import make_user
from tests.phone_factories import CARLA_PHONE, give_phone, send_event

pytestmark = pytest.mark.django_db(transaction=True)


async def desk_for(user: Any) -> WebsocketCommunicator:
    cursor = await database_sync_to_async(realtime.latest_event_id)()
    communicator = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "hello", "last_event_id": cursor})
    assert (await communicator.receive_json_from())["type"] == "welcome"
    return communicator


async def frames_of(desk: WebsocketCommunicator, frame_type: str, *, wait: float = 1.5) -> list[dict[str, Any]]:
    """Every frame of `frame_type` that arrives within `wait` seconds."""
    found = []
    # receive_nothing, not a receive timeout: a timed-out receive stops the consumer under test.
    while not await desk.receive_nothing(timeout=wait):
        frame = await desk.receive_json_from()
        if frame["type"] == frame_type:
            found.append(frame)
    return found


def carla_with_history(carla: Customer, chat_channel: Channel) -> Customer:
    give_phone(carla)
    case = Conversation.objects.create(customer=carla, channel=chat_channel, queue=chat_channel.queue)
    Interaction.objects.create(
        conversation=case, customer=carla, channel=chat_channel, direction="in", text="Ma facture est fausse"
    )
    return carla


async def test_it_pops_the_screen_of_the_rung_agent_only(
    alice: Any, bruno: Any, oscar: Any, carla: Customer, chat_channel: Channel, hotline: Channel
) -> None:
    await database_sync_to_async(carla_with_history)(carla, chat_channel)
    desks = {user.username: await desk_for(user) for user in (alice, bruno, oscar)}

    await database_sync_to_async(send_event)(
        hotline, "ringing", "p-1", caller="06 12 34 56 78", agent="alice", intent="billing"
    )

    [pop] = await frames_of(desks["alice"], "call.ringing")
    data = pop["data"]
    assert data["customer"]["name"] == "Carla" and data["customer"]["known"] is True
    assert data["number"] == CARLA_PHONE and data["intent"] == "billing"
    assert [case["channel"] for case in data["open_cases"]] == ["Website chat"]
    assert [(i["channel"], i["text"]) for i in data["last_interactions"]] == [("Website chat", "Ma facture est fausse")]
    # Issue 14: the call joins the open chat case (the continuity rule) instead of suggesting a link to it.
    assert data["conversation_id"] == data["open_cases"][0]["id"], "the call is an entry of the open chat case"
    assert data["linked_case"] is None
    assert data["new_customer"] is None
    assert await frames_of(desks["bruno"], "call.ringing", wait=0.5) == []
    assert await frames_of(desks["oscar"], "call.ringing", wait=0.5) == []
    for desk in desks.values():
        await desk.disconnect()


async def test_it_pops_the_available_agents_of_the_queue_and_closes_it_when_one_answers(
    alice: Any, bruno: Any, oscar: Any, support_queue: Queue, hotline: Channel
) -> None:
    away = await database_sync_to_async(make_user)("zoe", queues=[support_queue])
    await database_sync_to_async(AgentProfile.objects.filter(user=away).update)(presence=AgentProfile.Presence.AWAY)
    desks = {user.username: await desk_for(user) for user in (alice, bruno, oscar, away)}

    await database_sync_to_async(send_event)(hotline, "ringing", "p-2", caller="0698765432")

    for name in ("alice", "bruno"):
        [pop] = await frames_of(desks[name], "call.ringing")
        assert pop["data"]["customer"]["known"] is False
        assert pop["data"]["new_customer"] == {"phone": "+33698765432"}
    for name in ("oscar", "zoe"):
        assert await frames_of(desks[name], "call.ringing", wait=0.5) == []

    await database_sync_to_async(send_event)(hotline, "answered", "p-2", agent="bruno")

    [closed] = await frames_of(desks["alice"], "call.answered")
    assert closed["data"]["agent_id"] == bruno.pk and closed["data"]["agent"] == "Bruno"
    [mine] = await frames_of(desks["bruno"], "call.answered")
    assert mine["data"]["agent_id"] == bruno.pk
    assert await frames_of(desks["oscar"], "call.answered", wait=0.5) == []
    for desk in desks.values():
        await desk.disconnect()


async def test_it_sends_no_pop_for_a_call_answered_before_its_ringing_arrived(alice: Any, hotline: Channel) -> None:
    desk = await desk_for(alice)
    await database_sync_to_async(send_event)(hotline, "answered", "p-3", agent="alice", caller=CARLA_PHONE)
    await database_sync_to_async(send_event)(hotline, "ringing", "p-3", agent="alice", caller=CARLA_PHONE)
    assert await frames_of(desk, "call.ringing", wait=1.0) == []
    await desk.disconnect()
