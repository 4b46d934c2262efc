"""Websocket consumers: authenticate, join the groups the server computes, forward. No business rules here."""

from __future__ import annotations

import asyncio
from typing import Any

from django.utils.translation import gettext as _

from assist import presence

# The widget's socket lives in its channel family; re-exported because tests/test_consumers.py imports it here.
from interactions.widget.consumers import WidgetConsumer as WidgetConsumer
from interactions.widget.limits import setting
from omnidesk import access_changes, realtime
from omnidesk.consumers import (
    CLOSE_UNAUTHORIZED,
    RealtimeConsumer,
)

# Re-exported: the tests and the live-stack settings read the frame cap here.
from omnidesk.consumers import MAX_FRAME_BYTES as MAX_FRAME_BYTES
from omnidesk.socket_db import socket_database
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
        # Presence: an agent with no desk socket for a minute becomes offline (routing's sweep). Counted before the
        # socket is accepted, so that a connected desk is always counted.
        await socket_database(routing_services.socket_connected)(user=user)
        self.counted = True
        await super().connect()

    async def disconnect(self, code: int) -> None:
        if self.recheck_task is not None:
            self.recheck_task.cancel()
        if self.desk_presence is not None:
            # No stale "viewing": the socket's entry goes at once (and would expire anyway if this never ran).
            await self.desk_presence.leave()
        await super().disconnect(code)
        if getattr(self, "counted", False):
            await socket_database(routing_services.socket_disconnected)(user=self.scope["user"])

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
        groups = await socket_database(access_changes.desk_groups)(user_id=user.pk, session_key=self.session_key())
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
        interval = setting("OMNIDESK_DESK_RECHECK_SECONDS", 30)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.recheck()
            except Exception:
                # A failed check (database restarting) is retried at the next tick; it never kills the socket.
                continue

    async def recheck(self) -> None:
        """Leave the groups the user lost, join the ones they gained, or close if they may no longer be here."""
        groups = await socket_database(access_changes.desk_groups)(
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
