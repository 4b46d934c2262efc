"""Typing reaches the conversation's viewers who may act on it, not every desk of its queue (issue 15, item 3;
bench/desk_typing.py); what a socket remembers of its access is refreshed without making a frame wait."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from assist import presence
from interactions.models import Channel
from tests.factories import widget_message
from tests.rt_support import desk_socket, receive_type, session_of


async def greeted_desk(user: Any) -> WebsocketCommunicator:
    _client, session = await database_sync_to_async(session_of)(user)
    socket = await desk_socket(session)
    await socket.send_json_to({"type": "hello", "last_event_id": 0})
    await receive_type(socket, "welcome", timeout=10)
    return socket


async def typing_frames_within(socket: WebsocketCommunicator, *, timeout: float) -> list[dict[str, Any]]:
    """The typing frames the socket gets within `timeout` seconds (viewers' announcements are skipped)."""
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # receive_nothing never waits out a timeout on the socket itself (that would cancel the application).
    while loop.time() < deadline:
        if await socket.receive_nothing(timeout=0.05):
            continue
        frame = await socket.receive_json_from(timeout=1)
        if frame["type"] == "presence.typing":
            frames.append(frame)
    return frames


async def view(socket: WebsocketCommunicator, conversation_id: int) -> None:
    await socket.send_json_to({"type": "viewing", "conversation_id": conversation_id, "composing": False})
    await receive_type(socket, "presence.viewers", timeout=5)


@pytest.mark.django_db(transaction=True)
async def test_it_sends_typing_to_viewers_who_may_act_and_to_no_one_else(
    alice: Any, sophie: Any, oscar: Any, chat_channel: Channel
) -> None:
    visitor_id = uuid.uuid4().hex
    message = await database_sync_to_async(widget_message)(chat_channel, visitor=visitor_id, text="Bonjour")
    conversation_id = message.conversation_id
    desks = {user.username: await greeted_desk(user) for user in (alice, sophie, oscar)}
    # Alice (Support) and Oscar (Billing, read-only) have it open; Sophie, a supervisor, may act but is elsewhere.
    await view(desks["alice"], conversation_id)
    await view(desks["oscar"], conversation_id)

    visitor = presence.VisitorTyping(channel=chat_channel, visitor_id=visitor_id)
    await visitor.receive({"type": "typing", "typing": True})
    frame = await receive_type(desks["alice"], "presence.typing", timeout=5)
    assert frame["data"] == {"conversation_id": conversation_id, "who": "visitor", "typing": True}
    assert await typing_frames_within(desks["sophie"], timeout=1) == []
    assert await typing_frames_within(desks["oscar"], timeout=0.2) == []

    # Once Sophie opens it she hears Alice typing; Oscar, who may not act on it, still does not.
    await view(desks["sophie"], conversation_id)
    await desks["alice"].send_json_to({"type": "typing", "conversation_id": conversation_id, "typing": True})
    frame = await receive_type(desks["sophie"], "presence.typing", timeout=5)
    assert (frame["data"]["who"], frame["data"]["name"], frame["data"]["typing"]) == ("agent", "Alice", True)
    assert await typing_frames_within(desks["oscar"], timeout=1) == []
    # Nor does her own socket get it back.
    assert await typing_frames_within(desks["alice"], timeout=0.2) == []

    # Alice moves to another conversation: the visitor's typing no longer reaches her, and still reaches Sophie.
    await desks["alice"].send_json_to({"type": "viewing", "conversation_id": 999_999_999, "composing": False})
    await asyncio.sleep(0.3)
    await visitor.receive({"type": "typing", "typing": False})
    frame = await receive_type(desks["sophie"], "presence.typing", timeout=5)
    assert frame["data"]["typing"] is False
    assert await typing_frames_within(desks["alice"], timeout=1) == []
    for socket in desks.values():
        await socket.disconnect()


async def test_it_answers_from_memory_and_asks_again_in_the_background() -> None:
    asked: list[str] = []
    answers = iter(["first", "second", "third"])

    async def ask() -> str:
        asked.append("asked")
        return next(answers)

    remembered: presence.Remembered[str] = presence.Remembered()
    assert await remembered.get("key", ask) == "first"
    assert await remembered.get("key", ask) == "first"
    assert asked == ["asked"]
    # Older than the refresh age: the old answer at once, the new one for the next frame.
    remembered.answers["key"] = (time.monotonic() - presence.ACCESS_CACHE_SECONDS - 1, "first")
    assert await remembered.get("key", ask) == "first"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await remembered.get("key", ask) == "second"
    # Forgotten (the user's access changed): the next frame waits for a fresh answer.
    remembered.forget()
    assert await remembered.get("key", ask) == "third"
    assert asked == ["asked"] * 3


async def test_it_does_not_remember_a_missing_answer_when_told_not_to() -> None:
    answers = iter([None, "conversation"])

    async def ask() -> str | None:
        return next(answers)

    remembered: presence.Remembered[str | None] = presence.Remembered(keep_none=False)
    assert await remembered.get("open", ask) is None
    assert await remembered.get("open", ask) == "conversation"
