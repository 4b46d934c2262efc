"""Typing and collision (issue 15, item 4): who is viewing or replying to a conversation, and who is typing.

Nothing here is stored in the database or as an Event: typing and viewing are ephemeral frames
(`realtime.send_ephemeral`). "Viewing" is a heartbeat with an expiry, kept in Redis (a hash per conversation, one field
per desk socket, with its own deadline, and the key itself expiring) or, in the embedded default, in memory. A socket
that closes removes its entry at once; one that dies silently expires after `VIEW_TTL` seconds.

Frames a desk sends: {"type": "viewing", "conversation_id": N, "composing": bool} (every 10 s and on change) and
{"type": "typing", "conversation_id": N, "typing": bool}. A widget sends {"type": "typing", "typing": bool}.
Every conversation is checked through `interactions.access` before anything is said about it.

Typing is the hot path (bench/desk_typing.py: 400 people typing at once): a desk socket that views a conversation
joins its `realtime.viewing_group`, and typing goes to that group only (plus the visitor), filtered on arrival by
the conversation's audience (who may act on it), instead of to every desk of the queue. No database query waits on
it either: the access checks and lookups are remembered per socket and refreshed in the background
(`Remembered`), and forgotten when the user's access changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import redis.asyncio
from django.conf import settings
from django.utils.translation import gettext as _

from customers.models import Identity
from interactions import access
from interactions.models import Channel, Conversation
from interactions.visitors import channel_tag
from omnidesk import realtime
from omnidesk.socket_db import socket_database

logger = logging.getLogger(__name__)
DESK_FRAMES = frozenset({"viewing", "typing"})
VIEW_TTL = 30.0
# A "typing: true" is forwarded at most once a second per socket; a change to false always is.
TYPING_INTERVAL = 1.0
# How long a socket trusts a conversation access check (or lookup) before asking again in the background, and after
# how long it waits for the answer instead (a socket idle for a while). Access changed through Django is forgotten at
# once (`forget_access`); this only bounds changes made outside it, like the desk's own group re-check
# (OMNIDESK_DESK_RECHECK_SECONDS, 30 s). At 10 s, 400 sockets asked the database 60 times a second in the background,
# on the threads whose GIL the event loop shares (docs/typing.md).
ACCESS_CACHE_SECONDS = 30.0
ACCESS_STALE_SECONDS = 60.0

V = TypeVar("V")

_memory: dict[int, dict[str, dict[str, Any]]] = {}
_memory_lock = threading.Lock()
# One client per event loop: redis.asyncio connections belong to the loop that opened them (the server has one;
# each test has its own).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
REDIS_CONNECTIONS = 20


def _redis() -> Any:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # A blocking pool: 200 heartbeats at once wait for one of its connections (a pipeline holds one for a round
        # trip) instead of failing with "Too many connections", as the default pool (100) did under the benchmark.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=REDIS_CONNECTIONS, timeout=5, socket_timeout=5, socket_connect_timeout=2
        )
        client = redis.asyncio.Redis(connection_pool=pool)
        _clients[loop] = client
    return client


def _key(conversation_id: int) -> str:
    return f"omnidesk:viewing:{conversation_id}"


def _people(records: dict[str, dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """One entry per user (composing if any of their sockets is), expired records left out."""
    people: dict[int, dict[str, Any]] = {}
    for record in records.values():
        if record["expires"] <= now:
            continue
        person = people.setdefault(record["user_id"], {"user_id": record["user_id"], "name": record["name"]})
        person["composing"] = bool(person.get("composing") or record.get("composing"))
    return sorted(people.values(), key=lambda person: person["user_id"])


def _same(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """The same viewer as before, composing or not as before: a heartbeat that tells nobody anything new."""
    return before is not None and all(before.get(name) == after.get(name) for name in ("user_id", "name", "composing"))


async def record_viewing(
    *, conversation_id: int, socket_id: str, entry: dict[str, Any], now: float | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Record a socket's heartbeat; the conversation's live viewers, and whether they changed (this socket's entry is
    new or says something new, or expired entries were dropped), so that an unchanged heartbeat announces nothing.

    On the event loop, in one Redis round trip (two when an entry expired): 200 desks send one every 10 s, and a worker
    thread per heartbeat queued them behind the database work of every other socket (docs/typing.md)."""
    now = time.time() if now is None else now
    record = {**entry, "expires": now + VIEW_TTL}
    if settings.REDIS_URL:
        key = _key(conversation_id)
        async with _redis().pipeline(transaction=False) as pipe:
            pipe.hget(key, socket_id)
            pipe.hset(key, socket_id, json.dumps(record))
            pipe.expire(key, int(VIEW_TTL) + 1)
            pipe.hgetall(key)
            raw_before, _set, _expire, raw = await pipe.execute()
        before = json.loads(raw_before) if raw_before is not None else None
        records = {k.decode(): json.loads(v) for k, v in raw.items()}
        stale = [socket for socket, value in records.items() if value["expires"] <= now]
        if stale:
            await _redis().hdel(key, *stale)
    else:
        with _memory_lock:
            entries = _memory.setdefault(conversation_id, {})
            before = entries.get(socket_id)
            entries[socket_id] = record
            stale = [socket for socket, value in entries.items() if value["expires"] <= now]
            for socket in stale:
                del entries[socket]
            records = dict(entries)
    return _people(records, now), bool(stale) or not _same(before, record)


async def clear_viewing(*, conversation_id: int, socket_id: str) -> None:
    if settings.REDIS_URL:
        await _redis().hdel(_key(conversation_id), socket_id)
        return
    with _memory_lock:
        _memory.get(conversation_id, {}).pop(socket_id, None)


async def viewers(*, conversation_id: int, now: float | None = None) -> list[dict[str, Any]]:
    """The live viewers of a conversation (one entry per user, composing if any of their sockets is), expired
    entries dropped."""
    now = time.time() if now is None else now
    if settings.REDIS_URL:
        raw = await _redis().hgetall(_key(conversation_id))
        records = {k.decode(): json.loads(v) for k, v in raw.items()}
        stale = [socket for socket, record in records.items() if record["expires"] <= now]
        if stale:
            await _redis().hdel(_key(conversation_id), *stale)
    else:
        with _memory_lock:
            records = dict(_memory.get(conversation_id, {}))
            for socket, record in records.items():
                if record["expires"] <= now:
                    _memory[conversation_id].pop(socket, None)
    return _people(records, now)


class Remembered(Generic[V]):
    """Answers remembered per key: fresh ones as they are, older ones as they are while a background task asks
    again, and only absent or very old ones waited for. A frame thus never waits on the database once its socket
    has asked once; a change of access reaches it within ACCESS_CACHE_SECONDS, or at once through `forget`."""

    def __init__(self, *, keep_none: bool = True) -> None:
        self.keep_none = keep_none
        self.answers: dict[Hashable, tuple[float, V]] = {}
        self.refreshing: dict[Hashable, asyncio.Task[None]] = {}

    async def get(self, key: Hashable, ask: Callable[[], Awaitable[V]]) -> V:
        known = self.answers.get(key)
        age = time.monotonic() - known[0] if known is not None else None
        if known is None or age is None or age >= ACCESS_STALE_SECONDS:
            return await self._ask(key, ask)
        if age >= ACCESS_CACHE_SECONDS and key not in self.refreshing:
            self.refreshing[key] = asyncio.create_task(self._refresh(key, ask))
        return known[1]

    async def _ask(self, key: Hashable, ask: Callable[[], Awaitable[V]]) -> V:
        answer = await ask()
        if answer is not None or self.keep_none:
            self.answers[key] = (time.monotonic(), answer)
        else:
            self.answers.pop(key, None)
        return answer

    async def _refresh(self, key: Hashable, ask: Callable[[], Awaitable[V]]) -> None:
        try:
            await self._ask(key, ask)
        except Exception:
            # Kept as it was (a database restarting): asked again at the next frame, waited for once too old.
            pass
        finally:
            self.refreshing.pop(key, None)

    def forget(self) -> None:
        for task in self.refreshing.values():
            task.cancel()
        self.refreshing.clear()
        self.answers.clear()


def _desk_groups(conversation: Conversation, people: list[dict[str, Any]]) -> list[str]:
    """Who hears about viewers and typing: those who may act on the conversation, and the viewers themselves."""
    return access.audience_for_conversation(conversation) + [realtime.agent_group(p["user_id"]) for p in people]


def _visitor_groups(conversation: Conversation) -> list[str]:
    if conversation.channel.kind != Channel.Kind.CHAT:
        return []
    addresses = Identity.objects.filter(
        customer_id=conversation.customer_id,
        kind=Identity.Kind.WIDGET,
        address__startswith=f"{channel_tag(conversation.channel)}.",
    ).values_list("address", flat=True)
    return [realtime.visitor_group(address) for address in addresses]


class DeskPresence:
    """One desk socket's viewing heartbeat and typing, with their throttles and access checks."""

    def __init__(self, *, user: Any, socket_id: str) -> None:
        self.user = user
        self.socket_id = socket_id
        self.name = user.first_name or user.get_username()
        self.viewing: int | None = None
        self.checked: Remembered[tuple[Conversation, bool] | None] = Remembered()
        self.typing_sent: dict[int, tuple[bool, float]] = {}
        self.visitors: Remembered[list[str]] = Remembered()
        self.warming: asyncio.Task[list[str]] | None = None

    def forget_access(self) -> None:
        """The user's access changed: ask again before the next frame rather than trust what was remembered."""
        self.checked.forget()
        self.visitors.forget()

    async def conversation(self, value: Any, *, act: bool) -> Conversation | None:
        """The conversation if this user may open it (or act on it, for typing); checked through access,
        remembered per socket (`Remembered`). Both answers come from one check, so the viewing heartbeat of the open
        conversation keeps its typing permission fresh and a typing frame never waits for the database."""
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
            return None

        def check() -> tuple[Conversation, bool] | None:
            conversation = (
                access.conversations_visible_to(self.user)
                .select_related("channel", "queue", "customer")
                .filter(pk=value)
                .first()
            )
            if conversation is None or not access.may_open(self.user, conversation):
                return None
            return conversation, access.may_act_on(self.user, conversation)

        answer = await self.checked.get(value, socket_database(check))
        if answer is None or (act and not answer[1]):
            return None
        return answer[0]

    async def visitor_groups(self, conversation: Conversation) -> list[str]:
        """The widget groups of the conversation's visitor, remembered like the access check: an agent typing sends a
        frame every few seconds, and the visitor's identity does not change that often."""

        async def ask() -> list[str]:
            return await socket_database(_visitor_groups)(conversation)

        return await self.visitors.get(conversation.pk, ask)

    async def receive(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "viewing":
            await self.view(frame)
        else:
            await self.typing(frame)

    async def view(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame.get("conversation_id"), act=False)
        previous = self.viewing
        if previous is not None and (conversation is None or conversation.pk != previous):
            await self.leave()
        if conversation is None:
            return
        if previous != conversation.pk:
            await realtime.add_to_groups(self.socket_id, [realtime.viewing_group(conversation.pk)])
            # Looked up now, in the background, so that the agent's first typing frame does not wait for it.
            self.warming = asyncio.create_task(self.visitor_groups(conversation))
        self.viewing = conversation.pk
        entry = {"user_id": self.user.pk, "name": self.name, "composing": frame.get("composing") is True}
        try:
            people, changed = await record_viewing(
                conversation_id=conversation.pk, socket_id=self.socket_id, entry=entry
            )
        except redis.RedisError:
            # Redis busy or restarting: this heartbeat is lost, not the socket; the next one (10 s) records it.
            logger.warning("viewing heartbeat not recorded", exc_info=True)
            return
        # An unchanged heartbeat keeps the entry alive and tells no one anything: 200 desks every 10 s would otherwise
        # be 20 announcements a second to every desk of their queues, all for nothing.
        if changed or previous != conversation.pk:
            await self.announce_viewers(conversation, people)

    async def announce_viewers(self, conversation: Conversation, people: list[dict[str, Any]] | None = None) -> None:
        if people is None:
            people = await viewers(conversation_id=conversation.pk)
        await realtime.send_ephemeral(
            type="presence.viewers",
            data={"conversation_id": conversation.pk, "viewers": people},
            groups=_desk_groups(conversation, people),
        )

    async def leave(self) -> None:
        if self.viewing is None:
            return
        conversation_id, self.viewing = self.viewing, None
        await realtime.remove_from_groups(self.socket_id, [realtime.viewing_group(conversation_id)])
        try:
            await clear_viewing(conversation_id=conversation_id, socket_id=self.socket_id)
        except redis.RedisError:
            # The entry expires by itself within VIEW_TTL; the others are still told the socket left.
            logger.warning("viewing entry not cleared", exc_info=True)
        conversation = await self.conversation(conversation_id, act=False)
        if conversation is not None:
            await self.announce_viewers(conversation)

    async def typing(self, frame: dict[str, Any]) -> None:
        conversation = await self.conversation(frame.get("conversation_id"), act=True)
        if conversation is None:
            return
        state = frame.get("typing") is True
        last = self.typing_sent.get(conversation.pk)
        now = time.monotonic()
        if last is not None and last[0] == state and (not state or now - last[1] < TYPING_INTERVAL):
            return
        self.typing_sent[conversation.pk] = (state, now)
        # Both sides at once: with the layer's pipelined PUBLISHes (omnidesk/pubsub_layer.py) the two frames usually
        # leave in one Redis round trip, and the desks' frame never waits for the visitor's lookup.
        await asyncio.gather(self.tell_desks(conversation, state), self.tell_visitor(conversation, state))

    async def tell_desks(self, conversation: Conversation, state: bool) -> None:
        await realtime.send_ephemeral(
            type="presence.typing",
            data={
                "conversation_id": conversation.pk,
                "who": "agent",
                "user_id": self.user.pk,
                "name": self.name,
                "typing": state,
            },
            groups=[realtime.viewing_group(conversation.pk)],
            audience=access.audience_for_conversation(conversation),
            sender=self.socket_id,
        )

    async def tell_visitor(self, conversation: Conversation, state: bool) -> None:
        visitor_groups = await self.visitor_groups(conversation)
        # Visitors get a first name (never a username) and no ids, like their messages.
        public_name = self.user.first_name or _("Agent")
        await realtime.send_ephemeral(
            type="agent.typing", data={"typing": state, "name": public_name}, groups=visitor_groups
        )


class VisitorTyping:
    """A widget socket's typing, throttled and forwarded to the desks of the visitor's open conversation."""

    def __init__(self, *, channel: Channel, visitor_id: str) -> None:
        self.channel = channel
        self.visitor_id = visitor_id
        self.last: tuple[bool, float] | None = None
        # Only a found conversation is remembered: the visitor's first message may open one any moment now.
        self.conversation: Remembered[Conversation | None] = Remembered(keep_none=False)

    async def open_conversation(self) -> Conversation | None:
        def find() -> Conversation | None:
            return (
                Conversation.objects.filter(
                    channel=self.channel,
                    customer__identities__kind="widget",
                    customer__identities__address=self.visitor_id,
                )
                .exclude(status=Conversation.Status.RESOLVED)
                .select_related("queue")
                .order_by("-created_at")
                .first()
            )

        return await self.conversation.get("open", socket_database(find))

    async def receive(self, frame: dict[str, Any]) -> None:
        state = frame.get("typing") is True
        now = time.monotonic()
        if self.last is not None and self.last[0] == state and (not state or now - self.last[1] < TYPING_INTERVAL):
            return
        self.last = (state, now)
        conversation = await self.open_conversation()
        if conversation is None:
            return
        await realtime.send_ephemeral(
            type="presence.typing",
            data={"conversation_id": conversation.pk, "who": "visitor", "typing": state},
            groups=[realtime.viewing_group(conversation.pk)],
            audience=access.audience_for_conversation(conversation),
        )
