"""Live load read for the contact page's decision: EWT per queue and channel kind, skilled agents, EWT samples."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, Sum

from interactions.models import Conversation
from routing import ewt
from routing.business_time import BusinessCalendar, is_open
from routing.models import AgentProfile, Queue, RoutingItem, capacity_class_for

SAMPLE_WINDOW = timedelta(days=7)
# Each web process reads a queue's load at most once per this many seconds and shares it between visitors: an EWT
# is a statistic (and the page shows it as a range), while seven queries per visitor would cost more than the page.
_snapshots: dict[tuple[int, str, tuple[int, ...]], tuple[float, QueueLoad]] = {}
_calendars: dict[tuple[str, str, str], BusinessCalendar] = {}


def load_ttl_seconds() -> float:
    """The setting, else the environment variable of that name (a test stack's server reads it there), else 2 s."""
    value = getattr(settings, "OMNIDESK_CONTACT_LOAD_TTL_SECONDS", None)
    return float(value if value is not None else os.environ.get("OMNIDESK_CONTACT_LOAD_TTL_SECONDS") or 2.0)


@dataclass(frozen=True)
class QueueLoad:
    queue_id: int
    channel_kind: str
    waiting: int
    agents: int  # available members with capacity in the class and every needed skill
    free_slots: int
    aht_seconds: float
    samples: int  # handled conversations behind the AHT (last week)
    ewt_seconds: float | None


def current_load(*, queue: Queue, channel_kind: str, skill_ids: tuple[int, ...], now: datetime) -> QueueLoad:
    """The queue's load for this channel kind and these skills, read again when the snapshot is older than the TTL."""
    key = (queue.pk, channel_kind, skill_ids)
    ttl = load_ttl_seconds()
    cached = _snapshots.get(key)
    if cached is not None and ttl > 0 and time.monotonic() - cached[0] < ttl:
        return cached[1]
    load = read_load(queue=queue, channel_kind=channel_kind, skill_ids=skill_ids, now=now)
    if len(_snapshots) > 10_000:
        _snapshots.clear()
    _snapshots[key] = (time.monotonic(), load)
    return load


def read_load(*, queue: Queue, channel_kind: str, skill_ids: tuple[int, ...], now: datetime) -> QueueLoad:
    """Three queries: the waiting count, the able agents' capacity, the recent handle times."""
    capacity_class = capacity_class_for(channel_kind)
    waiting = RoutingItem.objects.filter(
        queue=queue, capacity_class=capacity_class, state=RoutingItem.State.WAITING
    ).count()
    agents = AgentProfile.objects.filter(
        presence=AgentProfile.Presence.AVAILABLE,
        takes_work=True,
        user__is_active=True,
        user__queues=queue,
        **{f"{capacity_class}_capacity__gt": 0},
    )
    if skill_ids:
        agents = agents.annotate(
            skilled=Count("skills", filter=Q(skills__skill_id__in=skill_ids), distinct=True)
        ).filter(skilled=len(skill_ids))
        rows = list(agents.values_list(f"{capacity_class}_capacity", f"{capacity_class}_load"))
        able, capacity, load = len(rows), sum(r[0] for r in rows), sum(r[1] for r in rows)
    else:
        totals = agents.aggregate(n=Count("pk"), c=Sum(f"{capacity_class}_capacity"), l=Sum(f"{capacity_class}_load"))
        able, capacity, load = totals["n"], totals["c"] or 0, totals["l"] or 0
    handled = Conversation.objects.filter(
        queue=queue, channel__kind=channel_kind, resolved_at__gte=now - SAMPLE_WINDOW, assigned_at__isnull=False
    ).aggregate(
        n=Count("pk"), aht=Avg(ExpressionWrapper(F("resolved_at") - F("assigned_at"), output_field=DurationField()))
    )
    aht = handled["aht"].total_seconds() if handled["aht"] else float(queue.default_aht_seconds)
    free = max(0, capacity - load)
    estimate = ewt.estimate_wait_seconds(position=waiting + 1, agents=able, aht_seconds=aht, free_slots=free)
    return QueueLoad(queue.pk, channel_kind, waiting, able, free, round(aht, 1), handled["n"], estimate)


def calendar_of(queue: Queue) -> BusinessCalendar:
    """The queue's calendar, parsed once per distinct set of hours (parsing validates every interval)."""
    key = (queue.timezone, json.dumps(queue.business_hours or {}, sort_keys=True), json.dumps(queue.holidays or []))
    calendar = _calendars.get(key)
    if calendar is None:
        calendar = BusinessCalendar.from_queue_fields(queue.timezone, queue.business_hours or {}, queue.holidays or [])
        if len(_calendars) > 1000:
            _calendars.clear()
        _calendars[key] = calendar
    return calendar


def queue_is_open(queue: Queue, now: datetime) -> bool:
    return is_open(calendar_of(queue), now)
