"""Desk sockets follow the user's access: one hello, and removal, deactivation or logout stop delivery within 2 s."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import override_settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from interactions.models import Channel
from omnidesk import realtime
from routing.models import AgentProfile, Queue
from tests.clients import Socket
from tests.factories import widget_message
from tests.rt_support import closed_within, desk_socket, receive_type, session_of
from tests.stack import Stack

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE = 2.0


async def greeted_desk(user: Any, *, last_event_id: int | None = None) -> tuple[Any, str]:
    client, session_key = await database_sync_to_async(session_of)(user)
    desk = await desk_socket(session_key)
    cursor = last_event_id if last_event_id is not None else await database_sync_to_async(realtime.latest_event_id)()
    await desk.send_json_to({"type": "hello", "last_event_id": cursor})
    assert (await receive_type(desk, "welcome", timeout=5))["type"] == "welcome"
    desk.client = client
    return desk, session_key


def announce_to_queue(queue: Queue, text: str) -> None:
    realtime.publish_on_commit(type="note.tested", data={"text": text}, groups=[realtime.queue_group(queue.pk)])


async def test_it_refuses_a_second_hello_and_replays_nothing_again(alice: Any, chat_channel: Channel) -> None:
    cursor = await database_sync_to_async(realtime.latest_event_id)()
    await database_sync_to_async(widget_message)(chat_channel, text="Bonjour")
    desk, _ = await greeted_desk(alice, last_event_id=cursor)
    replayed = [await desk.receive_json_from(timeout=5) for _ in range(2)]
    assert {frame["type"] for frame in replayed} == {"conversation.assigned", "message.created"}

    await desk.send_json_to({"type": "hello", "last_event_id": cursor})
    refused = await desk.receive_json_from(timeout=5)
    assert refused["type"] == "error" and refused["code"] == "already_greeted"
    assert await desk.receive_nothing(timeout=0.5)
    await desk.disconnect()


async def test_it_stops_delivering_a_queue_within_two_seconds_of_the_removal(alice: Any, support_queue: Queue) -> None:
    desk, _ = await greeted_desk(alice)
    await database_sync_to_async(announce_to_queue)(support_queue, "before")
    assert (await receive_type(desk, "note.tested", timeout=5))["data"] == {"text": "before"}

    await database_sync_to_async(support_queue.members.remove)(alice)
    changed = await receive_type(desk, "access.changed", timeout=DEADLINE)
    assert changed == {"type": "access.changed"}
    await database_sync_to_async(announce_to_queue)(support_queue, "after")
    assert await desk.receive_nothing(timeout=1)
    await desk.disconnect()


async def test_it_follows_a_removal_made_from_the_users_side_of_the_relation(alice: Any, support_queue: Queue) -> None:
    desk, _ = await greeted_desk(alice)
    await database_sync_to_async(alice.queues.clear)()
    await receive_type(desk, "access.changed", timeout=DEADLINE)
    await database_sync_to_async(announce_to_queue)(support_queue, "after")
    assert await desk.receive_nothing(timeout=1)
    await desk.disconnect()


async def test_it_starts_delivering_a_queue_the_agent_joins(alice: Any, billing_queue: Queue) -> None:
    desk, _ = await greeted_desk(alice)
    await database_sync_to_async(billing_queue.members.add)(alice)
    await receive_type(desk, "access.changed", timeout=DEADLINE)
    await database_sync_to_async(announce_to_queue)(billing_queue, "welcome aboard")
    assert (await receive_type(desk, "note.tested", timeout=5))["data"] == {"text": "welcome aboard"}
    await desk.disconnect()


async def test_it_closes_the_desk_of_a_deactivated_user_within_two_seconds(alice: Any, support_queue: Queue) -> None:
    desk, _ = await greeted_desk(alice)
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    assert await closed_within(desk, timeout=DEADLINE) == 4401


async def test_it_closes_the_desk_of_a_session_that_logged_out(alice: Any, support_queue: Queue) -> None:
    desk, _ = await greeted_desk(alice)
    other_desk, _ = await greeted_desk(alice)  # the same agent in another browser: stays
    await database_sync_to_async(desk.client.logout)()
    assert await closed_within(desk, timeout=DEADLINE) == 4401
    await database_sync_to_async(announce_to_queue)(support_queue, "still here")
    assert (await receive_type(other_desk, "note.tested", timeout=5))["data"] == {"text": "still here"}
    await other_desk.disconnect()


async def test_it_drops_the_supervisors_group_when_the_role_is_taken_away(db: None) -> None:
    from tests.conftest import make_user

    vera = await database_sync_to_async(make_user)("vera", role=AgentProfile.Role.SUPERVISOR)
    desk, _ = await greeted_desk(vera)
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=vera)
    profile.role = AgentProfile.Role.AGENT
    await database_sync_to_async(profile.save)()
    await receive_type(desk, "access.changed", timeout=DEADLINE)
    await database_sync_to_async(realtime.publish_on_commit)(
        type="note.tested", data={"text": "wallboard"}, groups=[realtime.supervisors_group()]
    )
    assert await desk.receive_nothing(timeout=1)
    await desk.disconnect()


async def test_it_notices_changes_made_outside_django_at_the_periodic_check(alice: Any, support_queue: Queue) -> None:
    with override_settings(OMNIDESK_DESK_RECHECK_SECONDS=0.5):
        desk, _ = await greeted_desk(alice)

        def remove_with_raw_sql() -> None:
            # No signal fires for raw SQL: only the periodic re-check can see this.
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {Queue.members.through._meta.db_table} WHERE user_id = %s", [alice.pk])

        await database_sync_to_async(remove_with_raw_sql)()
        await receive_type(desk, "access.changed", timeout=DEADLINE)
        await database_sync_to_async(announce_to_queue)(support_queue, "after")
        assert await desk.receive_nothing(timeout=1)
        await desk.disconnect()


async def test_it_closes_the_desk_whose_session_is_deleted(alice: Any, support_queue: Queue) -> None:
    desk, session_key = await greeted_desk(alice)
    await database_sync_to_async(Session.objects.filter(session_key=session_key).delete)()
    assert await closed_within(desk, timeout=DEADLINE) == 4401


CSRF = "rtcsrf0123456789abcdefghijklmnop"  # the 32-character form of a CSRF secret


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def log_out_over_http(base_url: str, session_key: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/accounts/logout/",
        data=urllib.parse.urlencode({"csrfmiddlewaretoken": CSRF}).encode(),
        headers={"Cookie": f"sessionid={session_key}; csrftoken={CSRF}", "Origin": base_url},
        method="POST",
    )
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.stack
async def test_it_closes_a_live_desk_when_its_user_logs_out_over_http(stack: Stack, alice: Any) -> None:
    _client, session_key = await database_sync_to_async(session_of)(alice)
    connection_ = await connect(
        f"{stack.ws_url}/ws/desk/",
        origin=Origin(stack.base_url),
        additional_headers={"Cookie": f"sessionid={session_key}"},
    )
    desk = Socket(connection_)
    await desk.send({"type": "hello", "last_event_id": 0})
    await desk.receive_until("welcome")

    status = await asyncio.to_thread(log_out_over_http, stack.base_url, session_key)
    assert status in (200, 302), status
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await desk.receive(timeout=DEADLINE)
    assert loop.time() - started < DEADLINE
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert not await database_sync_to_async(Session.objects.filter(session_key=session_key).exists)()
