"""Bad input on the live server: a clear error each time, nothing stored twice or lost, and the server keeps serving."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from interactions.models import Channel, InboundEvent, Interaction
from tests.clients import Socket, open_widget, send_widget_message
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
ORIGIN = "http://shop.example"


async def test_it_explains_each_refused_message_and_keeps_the_socket(
    stack: Stack, alice: Any, chat_channel: Channel
) -> None:
    widget, welcome = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
    assert welcome["type"] == "welcome"

    empty = await send_widget_message(widget, "")
    assert await widget.receive() == {
        "type": "error",
        "code": "empty_message",
        "message": "A message cannot be empty.",
        "uuid": empty,
    }
    too_long = await send_widget_message(widget, "x" * 10_001)
    error = await widget.receive()
    assert (error["code"], error["uuid"]) == ("message_too_long", too_long)
    assert "10000" in error["message"]

    await widget.send("{not json")
    assert (await widget.receive())["code"] == "bad_frame"
    await widget.send(json.dumps(["a", "list"]))
    assert (await widget.receive())["code"] == "bad_frame"

    # The same socket still works, and a resend of the same uuid is stored once.
    good = await send_widget_message(widget, "Bonjour, ma facture est fausse")
    assert await widget.receive_until("message.accepted") == {"type": "message.accepted", "uuid": good}
    await send_widget_message(widget, "Bonjour, ma facture est fausse", message_uuid=good)
    assert await widget.receive_until("message.accepted") == {"type": "message.accepted", "uuid": good}
    wait_until(lambda: Interaction.objects.filter(external_id=good).exists(), timeout=15, message="processing")
    await widget.close()

    assert InboundEvent.objects.count() == 1
    assert Interaction.objects.filter(external_id=good).count() == 1
    assert not InboundEvent.objects.filter(external_id__in=[empty, too_long]).exists()


async def test_it_closes_with_a_reason_for_an_unknown_channel(stack: Stack, db: None) -> None:
    widget, frame = await open_widget(stack.ws_url, channel_key="no-such-channel", origin=ORIGIN)
    assert frame == {"type": "error", "code": "unknown_channel", "message": "This chat is not available."}
    with pytest.raises(ConnectionClosed) as closed:
        await widget.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_it_closes_with_a_reason_for_a_disallowed_origin(stack: Stack, chat_channel: Channel) -> None:
    widget, frame = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin="http://evil.example")
    assert frame["code"] == "origin_not_allowed"
    with pytest.raises(ConnectionClosed) as closed:
        await widget.receive()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert closed.value.rcvd.reason == "This website may not use this chat."


async def test_it_requires_a_hello_before_anything_else(stack: Stack, chat_channel: Channel) -> None:
    socket = Socket(await connect(f"{stack.ws_url}/ws/widget/", origin=Origin(ORIGIN)))
    await socket.send({"type": "message.send", "uuid": str(uuid.uuid4()), "text": "hi"})
    assert (await socket.receive())["code"] == "hello_required"
    with pytest.raises(ConnectionClosed):
        await socket.receive()
    assert not InboundEvent.objects.exists()


async def test_it_keeps_serving_after_bad_input(stack: Stack, alice: Any, chat_channel: Channel) -> None:
    for origin in ("http://evil.example", ORIGIN):
        socket = Socket(await connect(f"{stack.ws_url}/ws/widget/", origin=Origin(origin)))
        await socket.send("\x00garbage")
        await socket.close()
    widget, welcome = await open_widget(stack.ws_url, channel_key=chat_channel.public_key, origin=ORIGIN)
    assert welcome["type"] == "welcome"
    await widget.close()
    with urllib.request.urlopen(f"{stack.base_url}/healthz", timeout=5) as response:
        assert json.load(response)["status"] == "ok"


async def test_it_refuses_the_desk_socket_from_a_foreign_origin(stack: Stack, alice: Any) -> None:
    from tests.clients import session_cookie

    with pytest.raises(Exception) as refused:
        await connect(
            f"{stack.ws_url}/ws/desk/",
            origin=Origin("http://evil.example"),
            additional_headers={"Cookie": session_cookie(alice)},
        )
    assert "403" in str(refused.value)
