"""The supervisors' live queue view: a coalesced `queue.stats_changed` event carrying the rendered figures.

Enqueue and assignment can happen hundreds of times a second; supervisors need about one update a second. After a
change commits, a process schedules one Celery task to publish the figures OMNIDESK_STATS_INTERVAL later, unless it
already has one scheduled after the change: that task renders the figures as they are when it runs, so it covers
every change before it. Rendering stays off the ingest path, and the periodic sweep publishes again if the figures
differ from the last published ones (a lost task, a change made elsewhere).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from omnidesk import realtime
from omnidesk.celery import registered_task
from omnidesk.models import Event
from routing import deferred
from routing.selectors import supervisor_overview

STATS_EVENT = "queue.stats_changed"
# The task running `publish_stats` (routing/tasks.py), enqueued by its name: see `registered_task`.
PUBLISH_TASK = "routing.tasks.publish_stats"


def interval() -> float:
    return float(getattr(settings, "OMNIDESK_STATS_INTERVAL", 1.0))


def render_stats() -> str:
    return render_to_string("routing/supervisor.html#stats", supervisor_overview())


def publish_stats(*, force: bool = False) -> bool:
    """Publish the figures now (in a transaction of its own) unless they are the ones last published."""
    html = render_stats()
    digest = hashlib.sha1(html.encode()).hexdigest()
    if not force:
        last = Event.objects.filter(type=STATS_EVENT).order_by("-id").values_list("data", flat=True).first()
        if last is not None and last.get("digest") == digest:
            return False
    with transaction.atomic():
        realtime.publish_on_commit(
            type=STATS_EVENT, data={"html": html, "digest": digest}, groups=[realtime.supervisors_group()]
        )
    return True


def publish_stats_on_commit() -> None:
    """Ask for a stats update after the current transaction commits, coalesced per process."""
    if not getattr(settings, "OMNIDESK_STATS_LIVE", True):
        return
    transaction.on_commit(_schedule)


def _schedule() -> None:
    # Never the publish itself: a task after the interval (a thread of its own in the embedded mode, routing/deferred).
    deferred.schedule(STATS_EVENT, registered_task(PUBLISH_TASK), interval=interval())


def flush_skipped() -> bool:
    """The sweep's part: publish if the figures changed since the last published ones."""
    return publish_stats()
