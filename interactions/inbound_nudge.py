"""The debounce's mark: at most one ingest task waits per channel (see the comment below; interactions/inbound.py
publishes the tasks and re-exports these names)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

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


def mark_store() -> Any:
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


def clear_pending_mark(*, channel_id: int) -> None:
    """Called by the task before it claims: from now on a new event publishes a task of its own."""
    store = mark_store()
    if store is None:
        return
    try:
        store.delete(pending_mark(channel_id))
    except Exception:
        logger.exception("could not clear the ingest mark of channel %s", channel_id)
