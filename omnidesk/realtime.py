"""The only module that touches the channel layer.

Every realtime event is first an Event row, written in the caller's transaction, then sent to its groups after
commit. The channel layer is at-most-once (the pubsub layer keeps nothing for a disconnected socket), so the rows are
the source of truth: a reconnecting client replays what it missed from them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, Literal, NamedTuple, TypedDict

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from omnidesk import prepared
from omnidesk.models import Event, EventAudience
from omnidesk.pubsub_layer import PipelinedPubSubChannelLayer

logger = logging.getLogger(__name__)

# The message a consumer receives from the layer: the frame is serialized once, here, not once per socket.
LAYER_HANDLER = "realtime.event"
# A control message to a user's desks: their access changed (not an Event: there is nothing to replay).
ACCESS_HANDLER = "realtime.access_changed"
# Ephemeral frames (typing, who is viewing): sent at most once, never stored, never replayed.
EPHEMERAL_HANDLER = "realtime.ephemeral"
VISITOR_PREFIX = "visitor."


class Frame(TypedDict):
    type: str
    id: int
    at: str
    data: Mapping[str, Any]


class LayerMessage(TypedDict):
    type: Literal["realtime.event"]
    id: int
    text: str
    # The event's audience: a consumer drops an event none of whose groups it still belongs to (access just changed).
    groups: list[str]


class AccessChanged(TypedDict):
    type: Literal["realtime.access_changed"]
    # Set on logout: desks of that session close; the user's other sessions only re-check their access.
    ended_session: str | None


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def queue_group(queue_id: int) -> str:
    return f"queue.{queue_id}"


def supervisors_group() -> str:
    return "supervisors"


def visitor_group(visitor_id: str) -> str:
    return f"{VISITOR_PREFIX}{visitor_id}"


def viewing_group(conversation_id: int) -> str:
    """The desk sockets that have the conversation open now: a delivery path for its typing, never an audience."""
    return f"viewing.{conversation_id}"


def frame_for(event: Event) -> Frame:
    return {"type": event.type, "id": event.id, "at": event.created_at.isoformat(), "data": event.data}


def text_for(event: Event, groups: Sequence[str]) -> str:
    """The serialized frame. Frames for widget visitors only carry no event id: our sequence numbers are not theirs."""
    frame: dict[str, Any] = dict(frame_for(event))
    if groups and all(group.startswith(VISITOR_PREFIX) for group in groups):
        del frame["id"]
    return json.dumps(frame)


class Announcement(NamedTuple):
    type: str
    data: Mapping[str, Any]
    groups: Iterable[str]


def publish_on_commit(*, type: str, data: Mapping[str, Any], groups: Iterable[str]) -> Event:
    """Record an event for `groups` and send it once the surrounding transaction commits.

    Must be called inside the transaction that makes the change the event announces, so that the event exists if and
    only if the change does.
    """
    return publish_many_on_commit([Announcement(type, data, groups)])[0]


def publish_many_on_commit(announcements: Sequence[Announcement]) -> list[Event]:
    """`publish_on_commit` for several events at once: two INSERTs and one send, whatever their number.

    Inside `batched()` the rows are written when the block ends; the returned events get their ids then.
    """
    pending = [(Event(type=a.type, data=dict(a.data)), sorted(set(a.groups))) for a in announcements]
    buffer = _batch.get()
    if buffer is None:
        _write_and_send(pending)
    else:
        buffer.extend(pending)
    return [event for event, _groups in pending]


@contextmanager
def batched() -> Iterator[None]:
    """Gather the events announced inside the block and write and send them together as it ends without error.

    For loops that announce many events in one transaction (the ingest worker under load). Nested blocks join the
    outermost one.
    """
    if _batch.get() is not None:
        yield
        return
    buffer: list[tuple[Event, list[str]]] = []
    token = _batch.set(buffer)
    try:
        yield
    finally:
        _batch.reset(token)
    if buffer:
        _write_and_send(buffer)


_batch: ContextVar[list[tuple[Event, list[str]]] | None] = ContextVar("realtime_batch", default=None)


@contextmanager
def savepoint() -> Iterator[None]:
    """A savepoint (`transaction.atomic()`) that also takes back, if the block raises, the events it announced into
    the enclosing `batched()` buffer: their change rolled back, so they must not be written nor sent.

    For a batch that isolates each item (one poison message among good ones): Django already drops the on-commit
    callbacks of a rolled-back savepoint, but not what is buffered here.
    """
    buffer = _batch.get()
    mark = len(buffer) if buffer is not None else 0
    try:
        with transaction.atomic():
            yield
    except BaseException:
        if buffer is not None:
            del buffer[mark:]
        raise


# Any constant: the advisory lock below only needs to be the same key in every process.
EVENT_ID_LOCK = 7_303_640_912


def _write_and_send(pending: Sequence[tuple[Event, list[str]]]) -> None:
    # No savepoint inside the caller's transaction (2 statements of every ingest batch): nothing catches a failed
    # write to carry on, so the caller's whole transaction rolls back with it, as the change it announces must.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _write_in_one_statement(pending)
        else:
            _write(pending)  # SQLite serializes all writes: event ids follow commit order without a lock


def _write_in_one_statement(pending: Sequence[tuple[Event, list[str]]]) -> None:
    """The events and their audiences in one statement, under a lock that makes event ids follow commit order.

    A reconnecting client asks for the events after the last id it saw. If a transaction that took id 100 could
    commit after one that took id 101, a client that saw 101 would never get 100. Holding this advisory lock from the
    first event row to the commit serializes only that short tail of the transactions that announce something. The
    lock is taken (CTE `l`, which the event INSERT reads) before any id is drawn; the ids come back in insertion
    order, as bulk_create relies on too, and each audience row finds its event by that order. One round trip where
    the lock and two bulk INSERTs took three (routing helper's measurement: 9.1 → 5.1 statements per decision with
    the savepoint gone too).
    """
    data_field = Event._meta.get_field("data")
    now = timezone.now()
    numbers: list[int] = []
    audience: list[str] = []
    for n, (_event, groups) in enumerate(pending, start=1):
        numbers += [n] * len(groups)
        audience += groups
    sql = (
        "WITH l AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s)),"
        f" e AS (INSERT INTO {Event._meta.db_table} (type, data, created_at)"
        " SELECT x.type, x.data::jsonb, %s FROM l, unnest(%s::text[], %s::text[]) WITH ORDINALITY AS x(type, data, n)"
        " ORDER BY x.n RETURNING id),"
        f" a AS (INSERT INTO {EventAudience._meta.db_table} (event_id, {connection.ops.quote_name('group')})"
        " SELECT r.id, g.grp FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM e) r"
        " JOIN unnest(%s::bigint[], %s::text[]) AS g(n, grp) ON g.n = r.n)"
        " SELECT id FROM e ORDER BY id"
    )
    params: list[Any] = [
        EVENT_ID_LOCK,
        now,
        [event.type for event, _groups in pending],
        [json.dumps(event.data, cls=data_field.encoder) for event, _groups in pending],
        numbers,
        audience,
    ]
    with connection.cursor() as cursor:
        # Prepared once per connection: parsing and planning this text was about half of its server CPU (0.46 →
        # 0.20 ms, docs/performance-routing.md round 6), paid by every message and every routing decision.
        prepared.execute(cursor, sql, params, owner="realtime")
        ids = [row[0] for row in cursor.fetchall()]
    for (event, _groups), pk in zip(pending, ids, strict=True):
        event.id = pk
        event.created_at = now
        event._state.adding = False
    _send_after_commit(pending)


def _write(pending: Sequence[tuple[Event, list[str]]]) -> None:
    events = Event.objects.bulk_create([event for event, _groups in pending])
    EventAudience.objects.bulk_create(
        [
            EventAudience(event=event, group=group)
            for event, (_same, groups) in zip(events, pending, strict=True)
            for group in groups
        ]
    )
    _send_after_commit(pending)  # bulk_create gave the pending events their ids


def _send_after_commit(written: Sequence[tuple[Event, list[str]]]) -> None:
    deliveries: list[tuple[list[str], LayerMessage]] = [
        (groups, {"type": "realtime.event", "id": event.id, "text": text_for(event, groups), "groups": groups})
        for event, groups in written
    ]
    transaction.on_commit(lambda: send_to_groups(deliveries))


def announce_access_changed(*, user_ids: Iterable[int], ended_session: str | None = None) -> None:
    """Tell the open desks of `user_ids` to re-check what they may receive, once the current transaction commits.

    Queue membership, role, deactivation and logout all change what a desk socket may receive; the socket decided
    its groups at `hello`, so it must hear about the change. Not recorded: a desk that misses it re-checks
    periodically anyway, and a reconnecting desk computes its groups afresh.
    """
    message: AccessChanged = {"type": "realtime.access_changed", "ended_session": ended_session}
    deliveries = [([agent_group(user_id)], message) for user_id in sorted(set(user_ids))]
    if deliveries:
        transaction.on_commit(lambda: send_to_groups(deliveries))


def send_to_groups(deliveries: Sequence[tuple[Sequence[str], Mapping[str, Any]]]) -> None:
    """Best effort: a failure here is logged, never raised, since the Event rows let clients catch up."""
    layer = get_channel_layer()
    if layer is None:
        return

    sends = [(group, message) for groups, message in deliveries for group in groups]
    if isinstance(layer, PipelinedPubSubChannelLayer) and _server_loop() is None:
        # A worker (or any code outside the ASGI server): straight from this thread, one pipeline for the batch.
        # Through the background loop each send crossed two threads and took two Redis round trips (a lone PUBLISH,
        # then the rest pipelined), ~1.1 ms of CPU per chat message and the task waited for all of it
        # (docs/performance-latency.md).
        try:
            layer.publish_now(sends)
        except Exception:
            logger.exception("realtime send failed (clients will replay it)")
        return

    async def send_all() -> None:
        if isinstance(layer, PipelinedPubSubChannelLayer):
            # All at once: the layer pipelines the PUBLISHes in the order they are asked for, so a batch's frames
            # take two Redis round trips instead of one per event and group (~80 for a batch of 20 chat messages).
            results = await asyncio.gather(
                *(layer.group_send(group, dict(message)) for group, message in sends), return_exceptions=True
            )
            failed = next((result for result in results if isinstance(result, BaseException)), None)
            if failed is not None:
                raise failed
            return
        for group, message in sends:  # a layer that may reorder concurrent sends (in memory): one at a time
            await layer.group_send(group, dict(message))

    try:
        _run(send_all)
    except Exception:
        logger.exception("realtime send failed (clients will replay it)")


def replay(*, groups: Sequence[str], after: int, limit: int | None = None) -> list[str] | None:
    """Frames (serialized) sent to any of `groups` after event id `after`, oldest first.

    None means the client is too far behind to replay and must resync (reload its state).
    """
    limit = limit or settings.OMNIDESK_REPLAY_LIMIT
    oldest = Event.objects.order_by("id").values_list("id", flat=True).first()
    # Events between the cursor and the oldest row may have been pruned: the client cannot be caught up.
    if after > 0 and oldest is not None and after < oldest - 1:
        return None
    ids = list(
        EventAudience.objects.filter(group__in=groups, event_id__gt=after)
        .order_by("event_id")
        .values_list("event_id", flat=True)
        .distinct()[: limit + 1]
    )
    if len(ids) > limit:
        return None
    events = Event.objects.filter(id__in=ids).order_by("id")
    return [json.dumps(frame_for(event)) for event in events]


def latest_event_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def prune_events(*, older_than_days: int = 7) -> int:
    deleted, _ = Event.objects.filter(created_at__lt=timezone.now() - timedelta(days=older_than_days)).delete()
    return deleted


class EphemeralMessage(TypedDict):
    type: Literal["realtime.ephemeral"]
    text: str
    # Who may have it: a socket forwards it only if it is in one of these groups (its access, as of now).
    groups: list[str]
    # One per frame: a socket in several of its groups gets it once per group and forwards it once.
    nonce: str
    # The sending socket's channel, which does not need its own frame back (None: a server-side sender).
    sender: str | None


async def send_ephemeral(
    *,
    type: str,
    data: Mapping[str, Any],
    groups: Iterable[str],
    audience: Iterable[str] | None = None,
    sender: str | None = None,
) -> None:
    """A frame that is not worth keeping (someone typing, who is viewing): no Event row, no id, no replay; a socket
    that misses it sees the next heartbeat. Best effort, like every send.

    It is sent to `groups`; `audience` (default: `groups`) says who may have it. Typing goes to the few sockets
    viewing the conversation (`viewing_group`) with the conversation's audience: a queue of ten desks does not get
    every keystroke of every conversation in it, and a viewer who may not act on it gets none.
    """
    targets = sorted(set(groups))
    allowed = targets if audience is None else sorted(set(audience))
    if not targets or not allowed:
        return
    message: EphemeralMessage = {
        "type": "realtime.ephemeral",
        "text": json.dumps({"type": type, "data": dict(data)}),
        "groups": allowed,
        "nonce": uuid.uuid4().hex,
        "sender": sender,
    }
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        # Concurrently: the pub/sub layer pipelines the PUBLISHes of one frame's groups into one Redis round trip.
        await asyncio.gather(*(layer.group_send(group, dict(message)) for group in targets))
    except Exception:
        logger.exception("ephemeral send failed")


async def add_to_groups(channel_name: str, groups: Iterable[str]) -> None:
    layer = get_channel_layer()
    for group in groups:
        await layer.group_add(group, channel_name)


async def remove_from_groups(channel_name: str, groups: Iterable[str]) -> None:
    layer = get_channel_layer()
    for group in groups:
        await layer.group_discard(group, channel_name)


async def check_layer(timeout: float = 2.0) -> None:
    """Round-trip one message through the layer; raises when it does not come back."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    await asyncio.wait_for(layer.receive(channel), timeout)


# --- running coroutines from synchronous code ---------------------------------------------------------------------
# Inside the ASGI server (a sync_to_async thread) async_to_sync hands the coroutine to the server's own loop, which the
# in-memory layer needs. In a Celery worker there is no such loop: async_to_sync would create a loop, a layer
# connection and tear them down per call (~3.7 ms); one persistent loop per process costs ~0.15 ms.

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="realtime-loop", daemon=True).start()
        return _loop


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The ASGI server's loop when this thread is one of its sync_to_async threads, else None.

    asgiref leaves `main_event_loop` on a thread after the call that set it; only a loop still running, seen from a
    thread that runs no loop itself, is a server waiting for us (a Playwright-driven test thread runs its own).
    """
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or not loop.is_running():
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return loop
    return None


def _run(function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    if _server_loop() is not None:
        async_to_sync(function)()
        return
    asyncio.run_coroutine_threadsafe(function(), _background_loop()).result(timeout=10)
