"""The realtime socket base every consumer builds on: replay from a cursor, then live events exactly once, and
the frame rules (JSON objects with a type, at most MAX_FRAME_BYTES) with their close codes.

The desk's and the widget's consumers (interactions/consumers.py) add who may connect and what they may say.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils.translation import gettext as _

from omnidesk import realtime
from omnidesk.socket_db import socket_database

# Close codes in the 4400–4499 range tell the widget not to reconnect.
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_RATE_LIMITED = 4429
# The consumer's cap, with a clear error; the server (uvicorn --ws-max-size, twice this) drops anything larger.
MAX_FRAME_BYTES = 64 * 1024
# Channel public keys are URL-safe tokens: anything else is not looked up at all (NUL bytes, surrogates, huge keys).
CHANNEL_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Event ids are PostgreSQL bigints.
MAX_CURSOR = 2**63 - 1


class RealtimeConsumer(AsyncWebsocketConsumer):
    """Shared delivery: replays from a cursor, then forwards live events exactly once per connection."""

    realtime_groups: list[str]
    group_set: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set from the start: a subclass may await work before `connect` runs here (the desk counts its socket
        # first), and a client that leaves meanwhile is disconnected with no groups.
        self.realtime_groups = []

    async def connect(self) -> None:
        # Live events received before the replay is done are held back, so frames go out in id order.
        self.ready = False
        self.held: list[dict[str, Any]] = []
        self.recent_ids: deque[int] = deque(maxlen=2000)
        self.sent: set[int] = set()
        self.ephemeral_seen: deque[Any] = deque(maxlen=64)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await realtime.remove_from_groups(self.channel_name, self.realtime_groups)

    async def start_delivery(
        self, *, groups: list[str], after: int | None, welcome: dict[str, Any], cursor: bool = True
    ) -> None:
        """Join `groups`, send `welcome` (with the current cursor if `cursor`), replay what was missed after `after`,
        then go live.

        Joining comes first so that nothing committed from here on can fall between the replay and live delivery.
        """
        self.realtime_groups, self.group_set = groups, frozenset(groups)
        await realtime.add_to_groups(self.channel_name, groups)
        if cursor:
            welcome = {**welcome, "last_event_id": await socket_database(realtime.latest_event_id)()}
        await self.send_json(welcome)
        if after is not None:
            frames = await socket_database(realtime.replay)(groups=groups, after=after)
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
        if message["type"] == realtime.EPHEMERAL_HANDLER:
            # Typing and viewing: only live, only to sockets still in one of its groups; nothing to hold or replay.
            nonce = message.get("nonce")
            if message.get("sender") == self.channel_name:
                return
            if self.ready and nonce not in self.ephemeral_seen and not self.group_set.isdisjoint(message["groups"]):
                self.ephemeral_seen.append(nonce)
                await self.send(text_data=message["text"])
            return
        if message["type"] == "websocket.receive":
            # Nor must a client's frames (typing, heartbeats, chat messages): Channels would first send each through
            # that one thread for close_old_connections, so 400 people typing queued behind every database call
            # made there (docs/typing.md). Every handler here reaches the database through `socket_database`
            # (omnidesk/socket_db.py), which closes a broken connection itself, in the thread that uses it.
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def realtime_event(self, message: dict[str, Any]) -> None:
        audience = message.get("groups")
        if audience is not None and self.group_set.isdisjoint(audience):
            # Sent to a group this socket has just left (its access changed): not for it any more.
            return
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

    async def refuse(self, close_code: int, code: str, message: str, **extra: Any) -> None:
        await self.send_error(code, message, **extra)
        await self.close(code=close_code, reason=message[:120])

    async def read_frame(self, text_data: str | None) -> dict[str, Any] | None:
        """The frame as a JSON object with a string type, or None after answering why it is not one."""
        frame, problem = self.parse_frame(text_data)
        if problem is not None:
            await self.send_frame_problem(problem)
        return frame

    @staticmethod
    def parse_frame(text_data: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """The frame, or None and the code of what is wrong with it: not_text, frame_too_large or bad_frame."""
        if text_data is None:
            return None, "not_text"
        # Characters first: no frame of fewer than a quarter of the cap in characters can exceed it in UTF-8 bytes.
        if len(text_data) > MAX_FRAME_BYTES or (
            len(text_data) * 4 > MAX_FRAME_BYTES and len(text_data.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES
        ):
            return None, "frame_too_large"
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            # RecursionError: a deeply nested array ("[[[[…") fits in a frame and still breaks the parser.
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return None, "bad_frame"
        return frame, None

    async def send_frame_problem(self, problem: str) -> None:
        if problem == "frame_too_large":
            message = _("Frames may be at most %(limit)d bytes long.") % {"limit": MAX_FRAME_BYTES}
            await self.send_error("frame_too_large", message, limit=MAX_FRAME_BYTES)
        elif problem == "not_text":
            await self.send_error("bad_frame", _("Frames must be JSON text."))
        else:
            await self.send_error("bad_frame", _("Frames must be JSON objects with a type."))

    @staticmethod
    def parse_cursor(value: Any) -> int | None:
        valid = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CURSOR
        return value if valid else None
