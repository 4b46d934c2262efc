"""Viewing heartbeats expire; typing frames follow the visibility rule (issue 15, item 4)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from assist import presence
from interactions.models import Channel, Conversation
from tests.factories import widget_message
from tests.rt_support import desk_socket, receive_type, session_of


@pytest.mark.parametrize("redis_url", ["from settings", ""])
async def test_it_forgets_a_viewer_whose_heartbeat_expired(redis_url: str, settings: Any) -> None:
    overrides = {} if redis_url == "from settings" else {"REDIS_URL": ""}
    with override_settings(**overrides):
        now = time.time()
        await presence.clear_viewing(conversation_id=424242, socket_id="s1")
        people, changed = await presence.record_viewing(
            conversation_id=424242, socket_id="s1", entry={"user_id": 7, "name": "Bob", "composing": True}, now=now
        )
        assert (people, changed) == ([{"user_id": 7, "name": "Bob", "composing": True}], True)
        assert await presence.viewers(conversation_id=424242, now=now + 1) == people
        assert await presence.viewers(conversation_id=424242, now=now + presence.VIEW_TTL + 1) == []
        await presence.record_viewing(
            conversation_id=424242, socket_id="s2", entry={"user_id": 8, "name": "Eve"}, now=now
        )
        await presence.clear_viewing(conversation_id=424242, socket_id="s2")
        assert await presence.viewers(conversation_id=424242, now=now + 1) == []


@pytest.mark.parametrize("redis_url", ["from settings", ""])
async def test_it_says_a_heartbeat_changed_nothing_unless_someone_came_left_or_started_composing(
    redis_url: str, settings: Any
) -> None:
    overrides = {} if redis_url == "from settings" else {"REDIS_URL": ""}
    bob = {"user_id": 7, "name": "Bob", "composing": False}
    with override_settings(**overrides):
        now = time.time()
        for socket in ("s1", "s2"):
            await presence.clear_viewing(conversation_id=434343, socket_id=socket)
        assert (await presence.record_viewing(conversation_id=434343, socket_id="s1", entry=bob, now=now))[1]
        # The next heartbeat only keeps Bob alive: nobody is told.
        assert not (await presence.record_viewing(conversation_id=434343, socket_id="s1", entry=bob, now=now + 10))[1]
        composing = {**bob, "composing": True}
        people, changed = await presence.record_viewing(
            conversation_id=434343, socket_id="s1", entry=composing, now=now + 11
        )
        assert changed and people == [composing]
        # Eve's heartbeat, after Bob's socket died silently: his expired entry goes, and that is news.
        eve = {"user_id": 8, "name": "Eve", "composing": False}
        later = now + 11 + presence.VIEW_TTL + 1
        people, changed = await presence.record_viewing(conversation_id=434343, socket_id="s2", entry=eve, now=later)
        assert changed and people == [eve]
        assert not (await presence.record_viewing(conversation_id=434343, socket_id="s2", entry=eve, now=later + 1))[1]
        await presence.clear_viewing(conversation_id=434343, socket_id="s2")


@pytest.mark.django_db(transaction=True)
async def test_it_tells_viewers_only_to_those_who_may_open_and_ignores_typing_from_another_team(
    alice: Any, oscar: Any, chat_channel: Channel
) -> None:
    inbound = await database_sync_to_async(widget_message)(chat_channel, text="Bonjour")
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=inbound.conversation_id)
    sockets = {}
    for user in (alice, oscar):
        _client, session = await database_sync_to_async(session_of)(user)
        socket = await desk_socket(session)
        await socket.send_json_to({"type": "hello", "last_event_id": 0})
        await receive_type(socket, "welcome", timeout=10)
        sockets[user.username] = socket
    # Oscar (another team) may open it read-only: his viewing is announced to Alice.
    await sockets["oscar"].send_json_to({"type": "viewing", "conversation_id": conversation.pk, "composing": False})
    frame = await receive_type(sockets["alice"], "presence.viewers", timeout=5)
    assert [v["name"] for v in frame["data"]["viewers"]] == ["Oscar"]
    await receive_type(sockets["oscar"], "presence.viewers", timeout=5)
    # But he may not act on it: his typing frames go nowhere.
    await sockets["oscar"].send_json_to({"type": "typing", "conversation_id": conversation.pk, "typing": True})
    await sockets["alice"].send_json_to({"type": "typing", "conversation_id": 999999999, "typing": True})
    assert await sockets["alice"].receive_nothing(timeout=1)
    # Alice's typing is for those who may act on the case (its notes' audience), not for a read-only viewer.
    await sockets["alice"].send_json_to({"type": "typing", "conversation_id": conversation.pk, "typing": True})
    assert await sockets["oscar"].receive_nothing(timeout=1)
    await sockets["oscar"].disconnect()
    frame = await receive_type(sockets["alice"], "presence.viewers", timeout=5)
    assert frame["data"]["viewers"] == []
    await sockets["alice"].disconnect()
