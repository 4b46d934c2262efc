"""Websocket clients speaking the widget and desk protocols to the live server."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from django.conf import settings
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.connection.recv(), timeout)))

    async def receive_until(self, frame_type: str, timeout: float = 10) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.receive(timeout=max(0.01, deadline - loop.time()))
            if frame["type"] == frame_type:
                return frame

    async def collect(self, duration: float) -> list[dict[str, Any]]:
        """Every frame that arrives within `duration` seconds."""
        frames = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration
        while (remaining := deadline - loop.time()) > 0:
            try:
                frames.append(await self.receive(timeout=remaining))
            except TimeoutError:
                break
        return frames

    async def close(self) -> None:
        await self.connection.close()


async def open_widget(
    ws_url: str, *, channel_key: str, origin: str, token: str | None = None, last_event_id: int | None = None
) -> tuple[Socket, dict[str, Any]]:
    connection = await connect(f"{ws_url}/ws/widget/", origin=Origin(origin))
    socket = Socket(connection)
    await socket.send({"type": "hello", "channel": channel_key, "token": token, "last_event_id": last_event_id})
    return socket, await socket.receive()


async def send_widget_message(socket: Socket, text: str, message_uuid: str | None = None) -> str:
    message_uuid = message_uuid or str(uuid.uuid4())
    await socket.send({"type": "message.send", "uuid": message_uuid, "text": text})
    return message_uuid


def logged_in(username: str) -> Client:
    """A test client logged in as one of the conftest people."""
    from tests.conftest import PASSWORD

    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def session_cookie(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_desk(ws_url: str, base_url: str, *, user: Any, last_event_id: int = 0) -> tuple[Socket, dict[str, Any]]:
    connection = await connect(
        f"{ws_url}/ws/desk/",
        origin=Origin(base_url),
        additional_headers={"Cookie": session_cookie(user)},
    )
    socket = Socket(connection)
    await socket.send({"type": "hello", "last_event_id": last_event_id})
    return socket, await socket.receive_until("welcome")
