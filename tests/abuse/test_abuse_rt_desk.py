"""Abuse suite, realtime share (desk side): hostile desk socket inputs, each with its expected outcome.

On the real ASGI application (origin validation, session authentication, the consumer), PostgreSQL and Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from interactions.consumers import MAX_FRAME_BYTES
from interactions.models import Channel
from omnidesk import realtime
from omnidesk.asgi import application
from tests.rt_support import desk_socket, session_of

pytestmark = pytest.mark.django_db(transaction=True)


# --- the desk socket ----------------------------------------------------------------------------------------------

DESK_FRAMES: list[tuple[str, str | bytes, str]] = [
    ("desk-not-json", "garbage", "bad_frame"),
    ("desk-binary", b"\x00\xff", "bad_frame"),
    ("desk-json-array", '["hello"]', "bad_frame"),
    ("desk-nested", "[" * 50_000, "bad_frame"),
    ("desk-oversize", '{"type": "hello", "pad": "' + "p" * MAX_FRAME_BYTES + '"}', "frame_too_large"),
    ("desk-unknown-type", '{"type": "conversation.assign", "id": 1}', "unknown_type"),
    ("desk-layer-type", '{"type": "realtime.event", "id": 1, "text": "{}", "groups": ["supervisors"]}', "unknown_type"),
    ("desk-control-type", '{"type": "realtime.access_changed", "ended_session": null}', "unknown_type"),
]


@pytest.mark.parametrize(("raw", "code"), [pytest.param(*c[1:], id=c[0]) for c in DESK_FRAMES])
async def test_it_refuses_hostile_desk_frames(alice: Any, raw: str | bytes, code: str) -> None:
    _client, session_key = await database_sync_to_async(session_of)(alice)
    desk = await desk_socket(session_key)
    await (desk.send_to(bytes_data=raw) if isinstance(raw, bytes) else desk.send_to(text_data=raw))
    frame = await desk.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == code and frame["message"]
    assert await desk.receive_nothing(timeout=0.3)
    await desk.disconnect()


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("0", id="cursor-string"),
        pytest.param(-1, id="cursor-negative"),
        pytest.param(True, id="cursor-bool"),
        pytest.param(10**30, id="cursor-beyond-bigint"),
        pytest.param(0.5, id="cursor-float"),
        pytest.param({"gt": 0}, id="cursor-object"),
    ],
)
async def test_it_replays_nothing_for_a_hostile_desk_cursor(alice: Any, chat_channel: Channel, cursor: Any) -> None:
    await database_sync_to_async(realtime.publish_on_commit)(
        type="note.tested", data={}, groups=[realtime.agent_group(alice.pk)]
    )
    _client, session_key = await database_sync_to_async(session_of)(alice)
    desk = await desk_socket(session_key)
    await desk.send_json_to({"type": "hello", "last_event_id": cursor})
    welcome = await desk.receive_json_from(timeout=5)
    assert welcome["type"] == "welcome" and isinstance(welcome["last_event_id"], int)
    assert await desk.receive_nothing(timeout=0.5)
    await desk.disconnect()


async def test_it_refuses_a_second_desk_hello(alice: Any) -> None:
    _client, session_key = await database_sync_to_async(session_of)(alice)
    desk = await desk_socket(session_key)
    for expected in ("welcome", "error"):
        await desk.send_json_to({"type": "hello", "last_event_id": 0})
        frame = await desk.receive_json_from(timeout=5)
        assert frame["type"] == expected
    assert frame["code"] == "already_greeted"
    await desk.disconnect()


async def refused_desk(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None]:
    communicator = WebsocketCommunicator(application, "/ws/desk/", headers=headers)
    connected, code = await communicator.connect()
    return connected, code


async def test_it_closes_the_desk_to_a_forged_session_cookie(db: None) -> None:
    connected, code = await refused_desk([(b"origin", b"http://localhost"), (b"cookie", b"sessionid=forged")])
    assert (connected, code) == (False, 4401)


async def test_it_closes_the_desk_to_no_session_at_all(db: None) -> None:
    assert await refused_desk([(b"origin", b"http://localhost")]) == (False, 4401)


async def test_it_refuses_the_desk_from_a_foreign_origin_even_with_a_session(alice: Any) -> None:
    _client, session_key = await database_sync_to_async(session_of)(alice)
    cookie = f"sessionid={session_key}".encode()
    connected, _code = await refused_desk([(b"origin", b"http://evil.example"), (b"cookie", cookie)])
    assert not connected


async def test_it_closes_the_desk_to_a_deactivated_users_old_session(alice: Any) -> None:
    _client, session_key = await database_sync_to_async(session_of)(alice)
    await database_sync_to_async(type(alice).objects.filter(pk=alice.pk).update)(is_active=False)
    cookie = f"sessionid={session_key}".encode()
    assert await refused_desk([(b"origin", b"http://localhost"), (b"cookie", cookie)]) == (False, 4401)
