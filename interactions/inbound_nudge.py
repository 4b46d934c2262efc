"""The debounce of inbound processing: at most one task waits per channel, and the publishing of ingest tasks.

Split from interactions/inbound.py (the ingest path), which uses and re-exports these names.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from interactions import lanes

logger = logging.getLogger(__name__)

# --- the debounce: at most one task waits per channel --------------------------------------------------------------
# Publishing a Celery task cost more than storing the event (~15 % of a webhook's time), and under load the worker
# takes 20 events per task anyway, leaving 19 tasks of 20 with nothing to do. So a webhook publishes only when it sets
# the channel's mark (SET NX); the task clears the mark *before* it claims. If the mark was set, a task has not yet
# cleared it, and its claim comes after this event's commit: it sees the event. A claim that fills its batch may
# leave events behind, so the worker then nudges again before processing (which also keeps a second worker busy).
# The mark only ever expires or gets deleted, which cause extra publishes, never a stranded event; a lost task
# strands nothing the sweeper does not take back after OMNIDESK_INBOUND_RETRY_AFTER.

_redis_client: Any = None


def _mark_store() -> Any:
    """Redis, when tasks go through a broker; None when they run eagerly (embedded mode): then always publish."""
    global _redis_client
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.REDIS_URL:
        return None
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    return _redis_client


def pending_mark(channel_id: int) -> str:
    return f"omnidesk:ingest:pending:{channel_id}"


def nudge_channel(*, channel_id: int, event_id: int = 0, kind: str | None = None) -> None:
    """Make sure a task will claim the channel's committed pending events: publish one unless one is waiting.

    `event_id` 0 names no event: the task then claims only events never attempted. `kind`: the channel's, when the
    caller holds it (it picks the lane; else it is read when a lane is set).
    """
    store = _mark_store()
    if store is not None:
        try:
            if not store.set(pending_mark(channel_id), event_id, nx=True, ex=settings.OMNIDESK_INBOUND_RETRY_AFTER):
                return
        except Exception:
            logger.exception("could not check the ingest mark of channel %s; publishing anyway", channel_id)
    if not enqueue_inbound_event(event_id=event_id, channel_id=channel_id, kind=kind) and store is not None:
        try:
            store.delete(pending_mark(channel_id))  # else events would skip publishing until the mark expires
        except Exception:
            logger.exception("could not clear the ingest mark of channel %s", channel_id)


def clear_pending_mark(*, channel_id: int) -> None:
    """Called by the task before it claims: from now on a new event publishes a task of its own."""
    store = _mark_store()
    if store is None:
        return
    try:
        store.delete(pending_mark(channel_id))
    except Exception:
        logger.exception("could not clear the ingest mark of channel %s", channel_id)


# The Celery message header carrying the channel's kind, when the publisher knew it (see `enqueue_inbound_event`).
KIND_HEADER = "omnidesk_channel_kind"


def enqueue_inbound_event(
    *,
    event_id: int,
    countdown: float = 0,
    channel_id: int | None = None,
    retake: bool = False,
    kind: str | None = None,
) -> bool:
    """Publish a task for `event_id` (and a batch); with `channel_id` it is the channel's debounced task. False if
    the broker refused it. `retake`: see `process_inbound_event`."""
    from interactions.tasks import process_inbound_event_task

    options: dict[str, Any] = {"countdown": countdown}
    if kind is None and lanes.lane_queues():
        kind = lanes.kind_of(channel_id=channel_id, event_id=event_id)
    queue = lanes.queue_for(kind=kind or "")
    if queue:
        options["queue"] = queue
    if kind and channel_id is not None:
        # The task reads its channel's kind from this header instead of a SELECT before each task (a header, not an
        # argument: the task's arguments stay ids).
        options["headers"] = {KIND_HEADER: kind}
    try:
        if channel_id is None:
            process_inbound_event_task.apply_async((event_id,), **options)
        elif retake:
            process_inbound_event_task.apply_async((event_id,), {"channel_id": channel_id, "retake": True}, **options)
        else:
            process_inbound_event_task.apply_async((event_id,), {"channel_id": channel_id}, **options)
    except Exception:
        # Stored already: the sweeper will enqueue it again once the broker is back.
        logger.exception("could not enqueue inbound event %s", event_id)
        return False
    return True
