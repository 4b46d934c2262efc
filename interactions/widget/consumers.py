"""The website visitor's chat socket: the widget family's realtime adapter. Authenticate the visitor (signed token,
channel, origin), apply the widget's rate limits, hand messages and follow-up requests to the services. No business
rules here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from assist import presence
from interactions import inbound, selectors, visitors
from interactions.models import Channel
from interactions.widget import followup, limits
from omnidesk import realtime
from omnidesk.consumers import (
    CHANNEL_KEY,
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_RATE_LIMITED,
    RealtimeConsumer,
)
from omnidesk.socket_db import socket_database


class WidgetConsumer(RealtimeConsumer):
    """A website visitor's chat. Any origin may connect; the channel decides which origins it allows."""

    channel: Channel | None = None
    visitor_id: str | None = None
    visitor_typing: presence.VisitorTyping

    async def connect(self) -> None:
        rate, burst = limits.socket_rate()
        self.frames = limits.TokenBucket(rate=rate, burst=burst)
        await super().connect()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame, problem = self.parse_frame(text_data)
        # Every frame counts, garbage included: each one costs a parse and an answer.
        if (wait := self.frames.take()) > 0:
            await self.send_rate_limited(wait, uuid=self.client_uuid(frame) if frame is not None else None)
        elif frame is None:
            await self.send_frame_problem(problem or "bad_frame")
        elif frame["type"] == "hello":
            await self.hello(frame)
        elif self.visitor_id is None:
            await self.refuse(CLOSE_BAD_REQUEST, "hello_required", _("The first frame must be a hello."))
        elif frame["type"] == "message.send":
            await self.message_send(frame)
        elif frame["type"] == "typing":
            await self.visitor_typing.receive(frame)
        elif frame["type"] == "followup.email":
            await self.followup_email(frame)
        else:
            await self.send_error("unknown_type", _("Unknown frame type."))

    async def send_rate_limited(self, wait: float, **extra: Any) -> None:
        message = _("Too many messages; please wait a moment.")
        await self.send_error("rate_limited", message, retry_after=retry_after(wait), **extra)

    async def hello(self, frame: dict[str, Any]) -> None:
        if self.visitor_id is not None or self.channel is not None:
            await self.send_error("already_greeted", _("This connection has already said hello."))
            return
        key = frame.get("channel")
        valid_key = isinstance(key, str) and CHANNEL_KEY.fullmatch(key) is not None
        channel = await socket_database(selectors.get_widget_channel)(key if valid_key else "")
        if channel is None:
            await self.refuse(CLOSE_NOT_FOUND, "unknown_channel", _("This chat is not available."))
            return
        if not channel.allows_origin(self.origin()):
            await self.refuse(CLOSE_FORBIDDEN, "origin_not_allowed", _("This website may not use this chat."))
            return
        identity = frame.get("identity")
        visitor_id = await socket_database(visitors.returning_visitor)(
            channel=channel, token=frame.get("token"), identity=identity
        )
        if visitor_id is None:
            # Every new visitor may become a customer, a conversation and a routed item: few per address and minute.
            address = self.client_address()
            if address is not None and (wait := await limits.anew_visitor(address=address)) > 0:
                message = _("Too many new conversations from your network; please try again later.")
                await self.refuse(CLOSE_RATE_LIMITED, "rate_limited", message, retry_after=retry_after(wait))
                return
            visitor_id = visitors.new_visitor_id(channel=channel)
        welcome = await socket_database(visitors.greet_visitor)(
            channel=channel, visitor_id=visitor_id, identity=identity
        )
        offer = await socket_database(followup.followup_offer)(channel=channel)
        self.channel, self.visitor_id = channel, visitor_id
        self.visitor_typing = presence.VisitorTyping(channel=channel, visitor_id=visitor_id)
        # The history already holds every processed message, so there is nothing to replay for a visitor; nor is
        # there a cursor to give: our event numbers are not the visitor's business.
        await self.start_delivery(
            groups=[realtime.visitor_group(visitor_id)],
            after=None,
            welcome={"type": "welcome", **welcome, "followup": offer},
            cursor=False,
        )

    async def message_send(self, frame: dict[str, Any]) -> None:
        assert self.channel is not None and self.visitor_id is not None
        client_uuid = self.client_uuid(frame)
        if isinstance(frame.get("uuid"), str) and not visitors.storable(frame["uuid"]):
            await self.send_error("bad_uuid", _("Each message needs a client uuid."))
            return
        text = frame.get("text")
        if isinstance(text, str) and not visitors.storable(text):
            message = _("Messages cannot contain NUL characters or unpaired surrogates.")
            await self.send_error("invalid_text", message, uuid=client_uuid)
            return
        try:
            wait = await socket_database(limited_store)(
                channel=self.channel, visitor_id=self.visitor_id, uuid=frame.get("uuid"), text=text
            )
        except ValidationError as error:
            await self.send_error(error.code or "invalid", " ".join(error.messages), uuid=client_uuid)
            return
        if wait > 0:
            # Refused before anything is stored: the widget keeps the message and sends it again after the wait.
            await self.send_rate_limited(wait, uuid=client_uuid)
            return
        await self.send_json({"type": "message.accepted", "uuid": client_uuid})

    async def followup_email(self, frame: dict[str, Any]) -> None:
        assert self.channel is not None and self.visitor_id is not None
        language = frame.get("language") if frame.get("language") in ("en", "fr") else "en"
        if (wait := await limits.avisitor_message(visitor_id=self.visitor_id)) > 0:
            # Each accepted address sends an email: the same budget as the visitor's messages.
            await self.send_rate_limited(wait, about="followup")
            return
        try:
            await socket_database(followup.continue_by_email)(
                channel=self.channel, visitor_id=self.visitor_id, address=frame.get("email"), language=language
            )
        except ValidationError as error:
            await self.send_error(error.code or "invalid", " ".join(error.messages), about="followup")
            return
        await self.send_json({"type": "followup.accepted", "channel": "email"})

    @staticmethod
    def client_uuid(frame: dict[str, Any]) -> str | None:
        """The message's client uuid, to echo in answers; anything that cannot be one is not echoed back."""
        value = frame.get("uuid")
        return value if frame["type"] == "message.send" and isinstance(value, str) and len(value) <= 64 else None

    def origin(self) -> str | None:
        for name, value in self.scope.get("headers", []):
            if name == b"origin":
                return str(value.decode("latin-1"))
        return None

    def client_address(self) -> str | None:
        """The client's address as the server saw it (behind a proxy, uvicorn's --proxy-headers sets it).

        None when the server does not know it (a Unix socket without proxy headers): then every visitor would share
        one budget, so the per-address limit is not applied rather than applied to everyone at once.
        """
        client = self.scope.get("client")
        return str(client[0]) if client and client[0] else None


def retry_after(wait: float) -> float:
    """Seconds to tell the client to wait: finite (JSON has no infinity, a zero rate gives one) and not zero."""
    return round(min(max(wait, 0.05), 3600.0), 2)


def limited_store(*, channel: Channel, visitor_id: str, uuid: Any, text: Any) -> float:
    """The visitor's message budget taken, then the message stored (`inbound.record_widget_message`), in one trip to
    a socket database thread (each trip is a thread hand-over under the GIL): 0.0 once stored, else the seconds to
    wait, with nothing stored. Raises ValidationError for a message that cannot be stored."""
    wait = limits.visitor_message(visitor_id=visitor_id)
    if wait > 0:
        return wait
    inbound.record_widget_message(channel=channel, visitor_id=visitor_id, uuid=uuid, text=text)
    return 0.0
