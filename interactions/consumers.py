"""Websocket consumers: authenticate, join the groups the server computes, forward. No business rules here."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from assist import presence
from interactions import inbound, selectors, visitors, widget_limits
from interactions.models import Channel
from omnidesk import access_changes, realtime
from omnidesk.consumers import (
    CHANNEL_KEY,
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_RATE_LIMITED,
    CLOSE_UNAUTHORIZED,
    RealtimeConsumer,
)

# Re-exported: the tests and the live-stack settings read the frame cap here.
from omnidesk.consumers import MAX_FRAME_BYTES as MAX_FRAME_BYTES
from routing import services as routing_services


class DeskConsumer(RealtimeConsumer):
    """An agent's or supervisor's desk: everything they may see, live, for as long as they may see it.

    Groups are computed at `hello` and again whenever the user's access changes (a control message from
    `omnidesk.access_changes`) and every `OMNIDESK_DESK_RECHECK_SECONDS` (changes made outside Django).
    """

    greeted = False
    recheck_task: asyncio.Task[None] | None = None
    desk_presence: presence.DeskPresence | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        await super().connect()
        # Presence: an agent with no desk socket for a minute becomes offline (routing's sweep).
        await database_sync_to_async(routing_services.socket_connected)(user=user)
        self.counted = True

    async def disconnect(self, code: int) -> None:
        if self.recheck_task is not None:
            self.recheck_task.cancel()
        if self.desk_presence is not None:
            # No stale "viewing": the socket's entry goes at once (and would expire anyway if this never ran).
            await self.desk_presence.leave()
        await super().disconnect(code)
        if getattr(self, "counted", False):
            await database_sync_to_async(routing_services.socket_disconnected)(user=self.scope["user"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = await self.read_frame(text_data)
        if frame is None:
            return
        if frame["type"] in presence.DESK_FRAMES and self.desk_presence is not None:
            await self.desk_presence.receive(frame)
        elif frame["type"] != "hello":
            await self.send_error("unknown_type", _("Unknown frame type."))
        elif self.greeted:
            # Each hello would replay the backlog again: one per socket; a client that needs a fresh start reconnects.
            await self.send_error("already_greeted", _("This connection has already said hello."))
        else:
            self.greeted = True
            await self.hello(frame)

    async def hello(self, frame: dict[str, Any]) -> None:
        user = self.scope["user"]
        # Joined before the groups are computed, so that an access change committed meanwhile is still heard (and
        # recorded at once, so that a disconnect leaves it whatever happens next).
        self.realtime_groups = [realtime.agent_group(user.pk)]
        await realtime.add_to_groups(self.channel_name, self.realtime_groups)
        groups = await database_sync_to_async(access_changes.desk_groups)(
            user_id=user.pk, session_key=self.session_key()
        )
        if groups is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        after = self.parse_cursor(frame.get("last_event_id"))
        await self.start_delivery(groups=groups, after=after, welcome={"type": "welcome"})
        self.desk_presence = presence.DeskPresence(user=user, socket_id=self.channel_name)
        self.recheck_task = asyncio.create_task(self.recheck_periodically())

    async def realtime_access_changed(self, message: dict[str, Any]) -> None:
        ended = message.get("ended_session")
        if ended is not None and ended == self.session_key():
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if self.desk_presence is not None:
            self.desk_presence.forget_access()  # typing: what it remembered of this user's access may be wrong now
        if self.greeted:
            await self.recheck()

    async def recheck_periodically(self) -> None:
        interval = widget_limits.setting("OMNIDESK_DESK_RECHECK_SECONDS", 30)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recheck()
            except Exception:
                # A failed check (database restarting) is retried at the next tick; it never kills the socket.
                continue

    async def recheck(self) -> None:
        """Leave the groups the user lost, join the ones they gained, or close if they may no longer be here."""
        groups = await database_sync_to_async(access_changes.desk_groups, thread_sensitive=False)(
            user_id=self.scope["user"].pk, session_key=self.session_key()
        )
        if groups is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        before, after = set(self.realtime_groups), set(groups)
        if before == after:
            return
        self.realtime_groups, self.group_set = groups, frozenset(groups)
        await realtime.remove_from_groups(self.channel_name, sorted(before - after))
        await realtime.add_to_groups(self.channel_name, sorted(after - before))
        # The desk may reload its lists; what it shows of lost queues will not be updated any more.
        await self.send_json({"type": "access.changed"})

    def session_key(self) -> str | None:
        session = self.scope.get("session")
        key = getattr(session, "session_key", None) if session is not None else None
        return key if isinstance(key, str) else None


class WidgetConsumer(RealtimeConsumer):
    """A website visitor's chat. Any origin may connect; the channel decides which origins it allows."""

    channel: Channel | None = None
    visitor_id: str | None = None
    visitor_typing: presence.VisitorTyping

    async def connect(self) -> None:
        rate, burst = widget_limits.socket_rate()
        self.frames = widget_limits.TokenBucket(rate=rate, burst=burst)
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
        channel = await database_sync_to_async(selectors.get_widget_channel)(key if valid_key else "")
        if channel is None:
            await self.refuse(CLOSE_NOT_FOUND, "unknown_channel", _("This chat is not available."))
            return
        if not channel.allows_origin(self.origin()):
            await self.refuse(CLOSE_FORBIDDEN, "origin_not_allowed", _("This website may not use this chat."))
            return
        identity = frame.get("identity")
        visitor_id = await database_sync_to_async(visitors.returning_visitor)(
            channel=channel, token=frame.get("token"), identity=identity
        )
        if visitor_id is None:
            # Every new visitor may become a customer, a conversation and a routed item: few per address and minute.
            address = self.client_address()
            if address is not None and (wait := await widget_limits.anew_visitor(address=address)) > 0:
                message = _("Too many new conversations from your network; please try again later.")
                await self.refuse(CLOSE_RATE_LIMITED, "rate_limited", message, retry_after=retry_after(wait))
                return
            visitor_id = visitors.new_visitor_id(channel=channel)
        welcome = await database_sync_to_async(visitors.greet_visitor)(
            channel=channel, visitor_id=visitor_id, identity=identity
        )
        self.channel, self.visitor_id = channel, visitor_id
        self.visitor_typing = presence.VisitorTyping(channel=channel, visitor_id=visitor_id)
        # The history already holds every processed message, so there is nothing to replay for a visitor; nor is
        # there a cursor to give: our event numbers are not the visitor's business.
        await self.start_delivery(
            groups=[realtime.visitor_group(visitor_id)],
            after=None,
            welcome={"type": "welcome", **welcome},
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
        if (wait := await widget_limits.avisitor_message(visitor_id=self.visitor_id)) > 0:
            # Refused before anything is stored: the widget keeps the message and sends it again after the wait.
            await self.send_rate_limited(wait, uuid=client_uuid)
            return
        try:
            # Off the shared database thread: visitors' writes are independent of each other.
            await database_sync_to_async(inbound.record_widget_message, thread_sensitive=False)(
                channel=self.channel, visitor_id=self.visitor_id, uuid=frame.get("uuid"), text=text
            )
        except ValidationError as error:
            await self.send_error(error.code or "invalid", " ".join(error.messages), uuid=client_uuid)
            return
        await self.send_json({"type": "message.accepted", "uuid": client_uuid})

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
