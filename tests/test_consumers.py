"""Websocket consumers in-process (WebsocketCommunicator) on the real Redis channel layer and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from interactions.consumers import DeskConsumer, WidgetConsumer
from interactions.models import Channel, InboundEvent, Interaction
from omnidesk import realtime
from tests.factories import widget_message
from tests.stack import Stack, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


async def desk_for(user: Any, last_event_id: int = 0) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "hello", "last_event_id": last_event_id})
    welcome = await communicator.receive_json_from()
    assert welcome["type"] == "welcome"
    return communicator


async def test_it_delivers_a_conversation_only_to_agents_of_its_queue(
    alice: Any, oscar: Any, sophie: Any, chat_channel: Channel
) -> None:
    cursor = await database_sync_to_async(realtime.latest_event_id)()
    alice_desk, oscar_desk, sophie_desk = [await desk_for(user, cursor) for user in (alice, oscar, sophie)]

    interaction = await database_sync_to_async(widget_message)(chat_channel, text="Ma facture est fausse")

    for desk in (alice_desk, sophie_desk):
        # Supervisors also get queue statistics and SLA frames: read on until the message arrives.
        message = await desk.receive_json_from(timeout=5)
        while message["type"] != "message.created":
            message = await desk.receive_json_from(timeout=5)
        assert message["data"]["message"]["id"] == interaction.pk
        assert message["data"]["message"]["text"] == "Ma facture est fausse"
    assert await oscar_desk.receive_nothing(timeout=0.5)
    for desk in (alice_desk, oscar_desk, sophie_desk):
        await desk.disconnect()


async def test_it_replays_nothing_of_another_team_on_reconnect(alice: Any, oscar: Any, chat_channel: Channel) -> None:
    cursor = await database_sync_to_async(realtime.latest_event_id)()
    await database_sync_to_async(widget_message)(chat_channel, text="Bonjour")
    oscar_desk = await desk_for(oscar, cursor)
    alice_desk = await desk_for(alice, cursor)
    assert await oscar_desk.receive_nothing(timeout=0.3)
    replayed = [await alice_desk.receive_json_from() for _ in range(2)]
    assert {frame["type"] for frame in replayed} == {"conversation.assigned", "message.created"}
    await oscar_desk.disconnect()
    await alice_desk.disconnect()


async def test_it_closes_the_desk_to_anonymous_users(db: None) -> None:
    communicator = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
    communicator.scope["user"] = AnonymousUser()
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_it_stores_a_widget_message_before_accepting_it(stack: Stack, alice: Any, chat_channel: Channel) -> None:
    widget = WebsocketCommunicator(
        WidgetConsumer.as_asgi(), "/ws/widget/", headers=[(b"origin", b"http://shop.example")]
    )
    connected, _ = await widget.connect()
    assert connected
    await widget.send_json_to({"type": "hello", "channel": chat_channel.public_key, "token": None})
    welcome = await widget.receive_json_from()
    assert welcome["type"] == "welcome" and welcome["history"] == []
    message_uuid = "0d9f3c1e-aaaa-bbbb-cccc-000000000001"
    await widget.send_json_to({"type": "message.send", "uuid": message_uuid, "text": "Salut"})
    assert await widget.receive_json_from() == {"type": "message.accepted", "uuid": message_uuid}
    assert await database_sync_to_async(InboundEvent.objects.filter(external_id=message_uuid).exists)()
    await widget.disconnect()
    # The live worker processes it; wait, so that the table flush after the test does not race its transaction.
    wait_until(lambda: Interaction.objects.filter(external_id=message_uuid).exists(), timeout=15, message="processing")
