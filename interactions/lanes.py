"""Ingest lanes: which Celery queue a channel's ingest task goes to, and how many of its events one task claims.

One decision per channel kind, in one place:
- mail (OMNIDESK_MAIL_QUEUE) on a queue of its own when set, so that chat, SMS and WhatsApp never wait behind a
  mailbox's parsing;
- calls (OMNIDESK_CALL_QUEUE) likewise, so that a ringing's screen pop never waits behind other channels' batches,
  and claimed one at a time (OMNIDESK_CALL_BATCH_SIZE, default 1): a pop is pushed when its batch commits, and a
  batch of 20 held it for seconds (docs/phone.md: task stage 214–331 ms p50 with batches of one, 6–8 s with 20);
- everything else on the default queue, OMNIDESK_INGEST_BATCH_SIZE events per claim.
A lane's queue needs a worker that consumes it (docs/deployment.md). The channel's kind is read once per process:
this runs on the webhook's accept path, which must stay one INSERT and one publish, and a channel never changes kind.
"""

from __future__ import annotations

import threading

from django.conf import settings

from interactions.models import Channel, InboundEvent

_kinds: dict[int, str] = {}
_kinds_lock = threading.Lock()


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


def forget_kinds() -> None:
    with _kinds_lock:
        _kinds.clear()


def _lane_queues() -> dict[str, str]:
    return {
        Channel.Kind.EMAIL: str(getattr(settings, "OMNIDESK_MAIL_QUEUE", "") or ""),
        Channel.Kind.VOICE: str(getattr(settings, "OMNIDESK_CALL_QUEUE", "") or ""),
    }


def queue_for(*, event_id: int, channel_id: int | None) -> str:
    """The Celery queue of an event's ingest task: its kind's lane when one is set, else "" (the default queue)."""
    queues = _lane_queues()
    if not any(queues.values()):
        return ""
    if channel_id is None:
        channel_id = InboundEvent.objects.filter(pk=event_id).values_list("channel_id", flat=True).first()
        if channel_id is None:
            return ""
    return queues.get(channel_kind(channel_id), "")


def batch_size_for(channel_id: int) -> int:
    """How many pending events of the channel one task claims."""
    if channel_kind(channel_id) == Channel.Kind.VOICE:
        return int(getattr(settings, "OMNIDESK_CALL_BATCH_SIZE", 1))
    return int(settings.OMNIDESK_INGEST_BATCH_SIZE)
