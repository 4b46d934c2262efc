"""Ingest lanes: which Celery queue a channel's ingest task goes to, and how many of its events one task claims.

One decision per channel kind, in one place:
- mail (OMNIDESK_MAIL_QUEUE) on a queue of its own when set, so that chat, SMS and WhatsApp never wait behind a
  mailbox's parsing;
- calls (OMNIDESK_CALL_QUEUE) likewise, so that a ringing's screen pop never waits behind other channels' batches,
  and claimed one at a time (OMNIDESK_CALL_BATCH_SIZE, default 1): a pop is pushed when its batch commits, and a
  batch of 20 held it for seconds (docs/phone.md: task stage 214–331 ms p50 with batches of one, 6–8 s with 20);
- mail claimed OMNIDESK_MAIL_BATCH_SIZE (50) at a time: nobody watches a mail arrive to the millisecond, and a
  batch's fixed statements and its one commit shared by 50 mails instead of 20 cut a mail's statements from 2.4 to
  1.7 (docs/performance-email.md); a poisoned batch is redone one mail at a time, as any other;
- everything else on the default queue, OMNIDESK_INGEST_BATCH_SIZE events per claim.
A lane's queue needs a worker that consumes it (docs/deployment.md). The webhook's accept path, which must stay one
INSERT and one publish, passes the kind of the channel it already holds; the worker's paths read it (`kind_of`).
"""

from __future__ import annotations

from django.conf import settings

from interactions.models import Channel, InboundEvent


def kind_of(*, channel_id: int | None, event_id: int = 0) -> str:
    """The kind of the channel, or of `event_id`'s channel when no channel is named ("" if there is none)."""
    if channel_id is not None:
        return Channel.objects.filter(pk=channel_id).values_list("kind", flat=True).first() or ""
    return InboundEvent.objects.filter(pk=event_id).values_list("channel__kind", flat=True).first() or ""


def lane_queues() -> dict[str, str]:
    """The lanes that are set: channel kind → Celery queue."""
    queues = {
        Channel.Kind.EMAIL.value: str(getattr(settings, "OMNIDESK_MAIL_QUEUE", "") or ""),
        Channel.Kind.VOICE.value: str(getattr(settings, "OMNIDESK_CALL_QUEUE", "") or ""),
    }
    return {kind: queue for kind, queue in queues.items() if queue}


def queue_for(*, kind: str) -> str:
    """The Celery queue of an ingest task for a channel of `kind`: its lane when one is set, else "" (default)."""
    return lane_queues().get(kind, "")


def one_task_at_a_time(*, kind: str) -> bool:
    """Whether a channel of `kind` runs at most one ingest task at a time. Mail: its parsing is the slow part of
    ingest (a hostile 2 MB mail takes seconds), and two mailbox batches at once could hold both worker processes."""
    return kind == Channel.Kind.EMAIL


def batch_size_for(*, kind: str) -> int:
    """How many pending events of a channel of `kind` one task claims."""
    if kind == Channel.Kind.VOICE:
        return int(getattr(settings, "OMNIDESK_CALL_BATCH_SIZE", 1))
    if kind == Channel.Kind.EMAIL:
        return int(settings.OMNIDESK_MAIL_BATCH_SIZE)
    return int(settings.OMNIDESK_INGEST_BATCH_SIZE)
