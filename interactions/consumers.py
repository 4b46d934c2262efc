"""Websocket consumers: authenticate, join the groups the server computes, forward. No business rules here."""

from __future__ import annotations

import json
import uuid
from collections import deque
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from interactions import access, inbound, selectors, visitors
from interactions.models import Channel
from omnidesk import realtime
from routing import services as routing_services

# Close codes in the 4400–4499 range tell the widget not to reconnect.
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
MAX_FRAME_BYTES = 64 * 1024


class RealtimeConsumer(AsyncWebsocketConsumer):
    """Shared delivery: replays from a cursor, then forwards live events exactly once per connection."""

    realtime_groups: list[str]

    async def connect(self) -> None:
        self.realtime_groups = []
        # Live events received before the replay is done are held back, so frames go out in id order.
        self.ready = False
        self.held: list[dict[str, Any]] = []
        self.recent_ids: deque[int] = deque(maxlen=2000)
        self.sent: set[int] = set()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await realtime.remove_from_groups(self.channel_name, self.realtime_groups)

    async def start_delivery(self, *, groups: list[str], after: int | None, welcome: dict[str, Any]) -> None:
        """Join `groups`, send `welcome` with the current cursor, replay what was missed after `after`, then go live.

        Joining comes first so that nothing committed from here on can fall between the replay and live delivery.
        """
        self.realtime_groups = groups
        await realtime.add_to_groups(self.channel_name, groups)
        cursor = await database_sync_to_async(realtime.latest_event_id)()
        await self.send_json({**welcome, "last_event_id": cursor})
        if after is not None:
            frames = await database_sync_to_async(realtime.replay)(groups=groups, after=after)
            if frames is None:
                await self.send_json({"type": "resync"})
            else:
                for text in frames:
                    await self.forward(json.loads(text)["id"], text)
        self.ready = True
        for message in self.held:
            await self.forward(message["id"], message["text"])
        self.held = []

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels runs close_old_connections on its one shared database thread before every handler; pushes touch no
        # database, so they must not queue behind the ingest writes on that thread.
        if message["type"] == realtime.LAYER_HANDLER:
            await self.realtime_event(message)
            return
        await super().dispatch(message)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        if not self.ready:
            self.held.append(message)
            return
        await self.forward(message["id"], message["text"])

    async def forward(self, event_id: int, text: str) -> None:
        if event_id in self.sent:
            return
        if len(self.recent_ids) == self.recent_ids.maxlen:
            self.sent.discard(self.recent_ids[0])
        self.recent_ids.append(event_id)
        self.sent.add(event_id)
        await self.send(text_data=text)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def refuse(self, close_code: int, code: str, message: str) -> None:
        await self.send_error(code, message)
        await self.close(code=close_code, reason=message[:120])

    def parse_frame(self, text_data: str | None) -> dict[str, Any] | None:
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            return None
        try:
            frame = json.loads(text_data)
        except ValueError:
            return None
        return frame if isinstance(frame, dict) and isinstance(frame.get("type"), str) else None

    @staticmethod
    def parse_cursor(value: Any) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class DeskConsumer(RealtimeConsumer):
    """An agent's or supervisor's desk: everything they may see, live."""

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
        await super().disconnect(code)
        if getattr(self, "counted", False):
            await database_sync_to_async(routing_services.socket_disconnected)(user=self.scope["user"])

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = self.parse_frame(text_data)
        if frame is None:
            await self.send_error("bad_frame", _("Frames must be JSON objects with a type."))
        elif frame["type"] == "hello":
            groups = await database_sync_to_async(access.realtime_groups_for_agent)(self.scope["user"])
            after = self.parse_cursor(frame.get("last_event_id"))
            await self.start_delivery(groups=groups, after=after, welcome={"type": "welcome"})
        else:
            await self.send_error("unknown_type", _("Unknown frame type."))


class WidgetConsumer(RealtimeConsumer):
    """A website visitor's chat. Any origin may connect; the channel decides which origins it allows."""

    channel: Channel | None = None
    visitor_id: str | None = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = self.parse_frame(text_data)
        if frame is None:
            await self.send_error("bad_frame", _("Frames must be JSON objects with a type."))
        elif frame["type"] == "hello":
            await self.hello(frame)
        elif self.visitor_id is None:
            await self.refuse(CLOSE_BAD_REQUEST, "hello_required", _("The first frame must be a hello."))
        elif frame["type"] == "message.send":
            await self.message_send(frame)
        else:
            await self.send_error("unknown_type", _("Unknown frame type."))

    async def hello(self, frame: dict[str, Any]) -> None:
        if self.visitor_id is not None:
            await self.send_error("bad_frame", _("Already greeted."))
            return
        key = frame.get("channel")
        channel = await database_sync_to_async(selectors.get_widget_channel)(key if isinstance(key, str) else "")
        if channel is None:
            await self.refuse(CLOSE_NOT_FOUND, "unknown_channel", _("This chat is not available."))
            return
        if not channel.allows_origin(self.origin()):
            await self.refuse(CLOSE_FORBIDDEN, "origin_not_allowed", _("This website may not use this chat."))
            return
        self.channel = channel
        token = frame.get("token")
        visitor_id = visitors.visitor_from_token(channel=channel, token=token if isinstance(token, str) else None)
        self.visitor_id = visitor_id or uuid.uuid4().hex
        identity = frame.get("identity")
        if isinstance(identity, dict) and (identity.get("email") or identity.get("name")):
            await database_sync_to_async(visitors.identify_visitor)(
                channel=channel,
                visitor_id=self.visitor_id,
                email=identity.get("email"),
                name=identity.get("name"),
                identifier_hash=identity.get("identifier_hash"),
            )
        history = await database_sync_to_async(visitors.visitor_history)(channel=channel, visitor_id=self.visitor_id)
        welcome = {
            "type": "welcome",
            "token": visitors.issue_visitor_token(channel=channel, visitor_id=self.visitor_id),
            "history": history,
        }
        # The history already holds every processed message, so there is nothing to replay for a visitor.
        await self.start_delivery(groups=[realtime.visitor_group(self.visitor_id)], after=None, welcome=welcome)

    async def message_send(self, frame: dict[str, Any]) -> None:
        assert self.channel is not None and self.visitor_id is not None
        client_uuid = frame.get("uuid")
        try:
            # Off the shared database thread: visitors' writes are independent of each other.
            await database_sync_to_async(inbound.record_widget_message, thread_sensitive=False)(
                channel=self.channel, visitor_id=self.visitor_id, uuid=client_uuid, text=frame.get("text")
            )
        except ValidationError as error:
            await self.send_error(error.code or "invalid", " ".join(error.messages), uuid=client_uuid)
            return
        await self.send_json({"type": "message.accepted", "uuid": client_uuid})

    def origin(self) -> str | None:
        for name, value in self.scope.get("headers", []):
            if name == b"origin":
                return str(value.decode("latin-1"))
        return None
