"""Live load read for the contact page's decision: EWT per queue and channel kind, skilled agents, EWT samples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, Sum

from interactions.models import Conversation
from routing import ewt
from routing.business_time import BusinessCalendar, is_open
from routing.models import AgentProfile, Queue, RoutingItem, capacity_class_for

SAMPLE_WINDOW = timedelta(days=7)


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
    return BusinessCalendar.from_queue_fields(queue.timezone, queue.business_hours or {}, queue.holidays or [])


def queue_is_open(queue: Queue, now: datetime) -> bool:
    return is_open(calendar_of(queue), now)
