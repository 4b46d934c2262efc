"""Helpers of the realtime and widget tests (helper "rt"): sockets on the real ASGI application, aged tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import signing
from django.test import Client

from interactions import visitors
from interactions.models import Channel
from omnidesk.asgi import application

ORIGIN = "http://shop.example"


def fresh_address() -> str:
    """A client address of its own (documentation range), so no test shares a per-address bucket with another."""
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


async def widget_socket(
    *, origin: str = ORIGIN, address: str | None = None, path: str = "/ws/widget/"
) -> WebsocketCommunicator:
    """A connected widget socket on the real ASGI application (routing, middleware and consumer)."""
    communicator = WebsocketCommunicator(application, path, headers=[(b"origin", origin.encode())])
    communicator.scope["client"] = (address or fresh_address(), 50_000)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def greet(
    communicator: WebsocketCommunicator, channel: Channel, *, token: Any = None, identity: Any = None
) -> dict[str, Any]:
    hello: dict[str, Any] = {"type": "hello", "channel": channel.public_key, "token": token}
    if identity is not None:
        hello["identity"] = identity
    await communicator.send_json_to(hello)
    return dict(await communicator.receive_json_from(timeout=5))


async def open_visitor(channel: Channel, **hello: Any) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator = await widget_socket()
    welcome = await greet(communicator, channel, **hello)
    assert welcome["type"] == "welcome", welcome
    return communicator, welcome


def session_of(user: Any) -> tuple[Client, str]:
    """A logged-in test client and its session key."""
    client = Client()
    client.force_login(user)
    return client, client.cookies[settings.SESSION_COOKIE_NAME].value


async def desk_socket(session_key: str, *, origin: str = "http://localhost") -> WebsocketCommunicator:
    """A desk socket on the real application: the session cookie authenticates it, as in a browser."""
    cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/desk/", headers=[(b"origin", origin.encode()), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_type(communicator: WebsocketCommunicator, frame_type: str, *, timeout: float) -> dict[str, Any]:
    """The next frame of `frame_type`, skipping others, within `timeout` seconds overall."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = dict(await communicator.receive_json_from(timeout=max(0.01, deadline - loop.time())))
        if frame["type"] == frame_type:
            return frame


async def closed_within(communicator: WebsocketCommunicator, *, timeout: float) -> int:
    """The close code the server sends within `timeout` seconds (frames before it are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        output = await communicator.receive_output(timeout=max(0.01, deadline - loop.time()))
        if output["type"] == "websocket.close":
            return int(output.get("code", 1000))


def aged_token(channel: Channel, visitor_id: str, *, age: int, verified: bool = False) -> str:
    """A genuine token, signed `age` seconds ago."""

    class Past(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - age)

    claims = {"c": channel.public_key, "v": visitor_id, "k": "i" if verified else "a"}
    return Past(salt=visitors.VISITOR_TOKEN_SALT).sign_object(claims, compress=True)
