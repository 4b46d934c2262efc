"""The call lane: a phone channel's ingest tasks on a Celery queue of their own (OMNIDESK_CALL_QUEUE), so that a
ringing's screen pop never waits in the broker or on a worker behind chat, SMS or mail batches.

Opt-in: with OMNIDESK_CALL_QUEUE unset every task stays on the default queue. When it is set, run a worker for it
(docs/phone.md, docs/deployment.md):

    calls: python -m celery -A omnidesk worker -Q calls --concurrency 1 --without-gossip --without-mingle -n calls@%h

How: a Celery router (CELERY_TASK_ROUTES in omnidesk/settings.py) sends the channel's debounced ingest task — the one
every webhook publishes, `process_inbound_event_task(event_id, channel_id=…)` — to the call queue when the channel is
a phone channel. The router runs in the web process on the accept path, which must stay one INSERT and one publish:
a channel's kind is read once per process and kept (a channel never changes kind; a channel deleted and re-created
gets a new id). A task that names no channel (a retry, the sweeper's re-enqueue) stays on the default queue, which
the default worker always consumes: a call event is never stranded on a queue nobody reads.

Where it would belong instead: `interactions.inbound.queue_for` already decides the mail lane from the channel's
kind; this is the same decision for calls (see docs/phone.md for the one-line change that would make it one place).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings

from interactions.models import Channel

INGEST_TASK = "interactions.tasks.process_inbound_event_task"

_kinds: dict[int, str] = {}
_kinds_lock = threading.Lock()


def call_queue() -> str:
    """The call lane's queue name, "" when calls share the default queue."""
    return str(getattr(settings, "OMNIDESK_CALL_QUEUE", "") or "")


def channel_kind(channel_id: int) -> str:
    """The channel's kind, read once per process ("" for a channel that does not exist)."""
    with _kinds_lock:
        known = _kinds.get(channel_id)
    if known is not None:
        return known
    kind = Channel.objects.filter(pk=channel_id).values_list("kind", flat=True).first() or ""
    if kind:
        with _kinds_lock:
            _kinds[channel_id] = kind
    return kind


def queue_for_channel(channel_id: int | None) -> str:
    """The call queue for a phone channel's ingest task when the lane is on, else "" (Celery's default routing)."""
    queue = call_queue()
    if not queue or channel_id is None:
        return ""
    return queue if channel_kind(channel_id) == Channel.Kind.VOICE else ""


def route_task(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **rest: Any) -> dict[str, str] | None:
    """Celery router (CELERY_TASK_ROUTES): the call lane for a phone channel's ingest task, else no opinion.

    A queue chosen by the publisher (`apply_async(queue=…)`: the mail lane) wins: Celery consults routers only for
    what the publisher left open, and this one never overrides an explicit choice.
    """
    if name != INGEST_TASK or (options or {}).get("queue"):
        return None
    channel_id = (kwargs or {}).get("channel_id")
    queue = queue_for_channel(channel_id if isinstance(channel_id, int) else None)
    return {"queue": queue} if queue else None
