"""Widget floods are refused with a clear error frame and nothing accepted is lost; oversize frames are refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from interactions.consumers import MAX_FRAME_BYTES
from interactions.models import Channel, InboundEvent, Interaction
from omnidesk.asgi import application
from tests.clients import Socket
from tests.rt_support import ORIGIN, closed_within, greet, open_visitor, widget_socket
from tests.stack import WS_MAX_SIZE, Stack, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


async def send_messages(socket: Any, count: int, *, text: str = "x" * 9000) -> dict[str, dict[str, Any]]:
    """Send `count` messages at once, then read one answer per message: uuid -> accepted or error frame."""
    sent = [str(uuid.uuid4()) for _ in range(count)]
    for message_uuid in sent:
        await socket.send_json_to({"type": "message.send", "uuid": message_uuid, "text": text})
    answers: dict[str, dict[str, Any]] = {}
    while len(answers) < count:
        frame = await socket.receive_json_from(timeout=10)
        if frame["type"] in ("message.accepted", "error"):
            answers[frame["uuid"]] = frame
    assert set(answers) == set(sent)
    return answers


def accepted(answers: dict[str, dict[str, Any]]) -> set[str]:
    return {key for key, frame in answers.items() if frame["type"] == "message.accepted"}


async def test_it_refuses_a_flood_from_one_socket_and_stores_every_accepted_message_once(
    stack: Stack, alice: Any, chat_channel: Channel
) -> None:
    widget, _ = await open_visitor(chat_channel)
    answers = await send_messages(widget, 30)
    kept = accepted(answers)
    refused = [frame for key, frame in answers.items() if key not in kept]
    # The visitor's burst (10) goes through, the rest is refused with a code and a wait, before anything is stored.
    assert 10 <= len(kept) <= 13
    assert len(refused) == 30 - len(kept)
    assert all(frame["code"] == "rate_limited" and frame["retry_after"] > 0 for frame in refused)
    await widget.disconnect()

    wait_until(
        lambda: Interaction.objects.filter(channel=chat_channel, external_id__in=list(answers)).count() == len(kept),
        timeout=20,
        message="the accepted messages to be processed",
    )
    stored = list(Interaction.objects.filter(channel=chat_channel, external_id__in=list(answers)))
    assert sorted(str(i.external_id) for i in stored) == sorted(kept)  # every accepted one, once; no refused one
    assert InboundEvent.objects.filter(channel=chat_channel, external_id__in=list(answers)).count() == len(kept)


async def test_it_sends_a_refused_message_again_once_the_wait_is_over(chat_channel: Channel) -> None:
    # One message a second after a burst of two: slow enough that a loaded machine still sends the third inside the
    # refill time (at 20 a second, a 50 ms pause refilled the bucket and nothing was refused).
    with override_settings(OMNIDESK_WIDGET_VISITOR_RATE=1, OMNIDESK_WIDGET_VISITOR_BURST=2):
        widget, _ = await open_visitor(chat_channel)
        answers = await send_messages(widget, 3, text="Bonjour")
        (late,) = [key for key, frame in answers.items() if frame["type"] == "error"]
        assert 0 < answers[late]["retry_after"] <= 1.0
        again = await send_messages_with_uuid(widget, late)
        assert again == {"type": "message.accepted", "uuid": late}
        await widget.disconnect()
    assert await database_sync_to_async(InboundEvent.objects.filter(external_id__in=list(answers)).count)() == 3


async def send_messages_with_uuid(widget: Any, message_uuid: str) -> dict[str, Any]:
    loop_deadline = 20
    for _ in range(loop_deadline):
        await widget.send_json_to({"type": "message.send", "uuid": message_uuid, "text": "Bonjour"})
        # The answer to this send; the chat's own pushes (the accepted messages, shown back) may come first.
        frame = dict(await widget.receive_json_from(timeout=5))
        while frame.get("uuid") != message_uuid or frame["type"] not in ("message.accepted", "error"):
            frame = dict(await widget.receive_json_from(timeout=5))
        if frame["type"] == "message.accepted":
            return frame
        await asyncio.sleep(frame.get("retry_after", 0.1))
    raise AssertionError("never accepted")


async def test_it_shares_one_visitors_budget_between_their_sockets(chat_channel: Channel) -> None:
    first, welcome = await open_visitor(chat_channel)
    second, _again = await open_visitor(chat_channel, token=welcome["token"])
    answers = {**(await send_messages(first, 8)), **(await send_messages(second, 8))}
    # Each socket alone is within its own budget (20); together they exceed the visitor's (10).
    assert 10 <= len(accepted(answers)) <= 12
    await first.disconnect()
    await second.disconnect()


async def test_it_limits_new_visitors_per_client_address(chat_channel: Channel) -> None:
    with override_settings(OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE=3):
        address = "2001:db8::dead:1"
        tokens = []
        for _ in range(3):
            socket = await widget_socket(address=address)
            welcome = await greet(socket, chat_channel)
            assert welcome["type"] == "welcome"
            tokens.append(welcome["token"])
            await socket.disconnect()
        fourth = await widget_socket(address=address)
        refused = await greet(fourth, chat_channel)
        assert refused["type"] == "error" and refused["code"] == "rate_limited" and refused["retry_after"] > 0
        assert await closed_within(fourth, timeout=2) == 4429

        # A returning visitor is not new, and another address has its own budget.
        returning = await widget_socket(address=address)
        assert (await greet(returning, chat_channel, token=tokens[0]))["type"] == "welcome"
        elsewhere = await widget_socket(address="2001:db8::beef:2")
        assert (await greet(elsewhere, chat_channel))["type"] == "welcome"
        await returning.disconnect()
        await elsewhere.disconnect()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * (MAX_FRAME_BYTES + 1), id="ascii-over-the-cap"),
        pytest.param("\u20ac" * (MAX_FRAME_BYTES // 3 + 10), id="fewer-characters-but-more-utf8-bytes"),
    ],
)
async def test_it_refuses_a_frame_over_the_cap_with_a_clear_error_and_keeps_the_socket(
    chat_channel: Channel, text: str
) -> None:
    widget, _ = await open_visitor(chat_channel)
    await widget.send_to(text_data=f'{{"type": "message.send", "uuid": "{uuid.uuid4()}", "text": "{text}"}}')
    frame = await widget.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == "frame_too_large" and frame["limit"] == MAX_FRAME_BYTES
    assert str(MAX_FRAME_BYTES) in frame["message"]
    message_uuid = str(uuid.uuid4())
    await widget.send_json_to({"type": "message.send", "uuid": message_uuid, "text": "Toujours là"})
    assert await widget.receive_json_from(timeout=5) == {"type": "message.accepted", "uuid": message_uuid}
    await widget.disconnect()
    assert not await database_sync_to_async(InboundEvent.objects.exclude(external_id=message_uuid).exists)()


@pytest.mark.stack
async def test_it_lets_the_live_server_drop_a_frame_over_its_maximum_size(stack: Stack, chat_channel: Channel) -> None:
    await database_sync_to_async(Channel.objects.filter(pk=chat_channel.pk).update)(allowed_origins=[ORIGIN])
    socket = Socket(await connect(f"{stack.ws_url}/ws/widget/", origin=Origin(ORIGIN), max_size=None))
    await socket.send({"type": "hello", "channel": chat_channel.public_key, "token": None})
    assert (await socket.receive())["type"] == "welcome"
    # Between the consumer's cap and the server's: the consumer answers.
    await socket.send({"type": "message.send", "uuid": str(uuid.uuid4()), "text": "y" * (MAX_FRAME_BYTES + 100)})
    assert (await socket.receive())["code"] == "frame_too_large"
    # Over the server's: uvicorn closes with 1009 (message too big) before any of our code reads it.
    await socket.send("z" * (WS_MAX_SIZE + 1))
    with pytest.raises(ConnectionClosed) as closed:
        await socket.receive(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert not await database_sync_to_async(InboundEvent.objects.exists)()


async def test_it_stops_all_messages_with_a_finite_wait_when_the_rate_is_zero(chat_channel: Channel) -> None:
    with override_settings(OMNIDESK_WIDGET_VISITOR_RATE=0):
        widget, _ = await open_visitor(chat_channel)
        message_uuid = str(uuid.uuid4())
        await widget.send_json_to({"type": "message.send", "uuid": message_uuid, "text": "Bonjour"})
        frame = await widget.receive_json_from(timeout=5)  # strict JSON: an infinite wait would not parse
        assert frame["code"] == "rate_limited" and frame["retry_after"] == 3600 and frame["uuid"] == message_uuid
        await widget.disconnect()
    assert not await database_sync_to_async(InboundEvent.objects.exists)()


async def test_it_does_not_put_every_visitor_in_one_budget_when_the_address_is_unknown(chat_channel: Channel) -> None:
    """Behind a Unix socket without proxy headers the server knows no address: no shared budget for everyone."""
    with override_settings(OMNIDESK_WIDGET_NEW_VISITORS_PER_MINUTE=2):
        for _ in range(4):
            socket = WebsocketCommunicator(application, "/ws/widget/", headers=[(b"origin", ORIGIN.encode())])
            assert "client" not in socket.scope
            assert (await socket.connect())[0]
            assert (await greet(socket, chat_channel))["type"] == "welcome"
            await socket.disconnect()
