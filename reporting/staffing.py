"""Erlang C staffing per queue and 15-minute interval, from the same weekday's volumes over the last weeks.

Forecast for an interval = mean offered contacts in that interval on the same weekday of the last `weeks` weeks; AHT =
Σ handle ÷ Σ handled over those weeks (the queue's default handle time when nothing was handled). Each interval then
gets the smallest N meeting the queue's service level goal in its target seconds (reporting/erlang.py), with the
predicted SL, ASA and occupancy, next to the agents logged in now (members available or busy).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Sum

from reporting import erlang
from reporting.events import DEFAULTS
from reporting.models import IntervalStat, QueueReportingSettings
from routing.models import AgentProfile, Queue

INTERVAL_SECONDS = 900


def logged_in_agents(queue: Queue) -> int:
    return AgentProfile.objects.filter(
        user__queues=queue, user__is_active=True, presence=AgentProfile.Presence.AVAILABLE
    ).count()


def history(*, queue: Queue, day: date, weeks: int = 4) -> tuple[dict[str, float], float]:
    """(mean offered contacts per local "HH:MM" interval on `day`'s weekday over the last `weeks` weeks, AHT)."""
    zone = ZoneInfo(queue.timezone or "Europe/Paris")
    offered: dict[time, float] = defaultdict(float)
    handled = handle = 0.0
    for back in range(1, weeks + 1):
        past = day - timedelta(days=7 * back)
        start = datetime.combine(past, time(), zone)
        rows = (
            IntervalStat.objects.filter(queue_id=queue.pk, bucket__gte=start, bucket__lt=start + timedelta(days=1))
            .values("bucket")
            .annotate(offered=Sum("offered"), handled=Sum("handled"), handle=Sum("handle_seconds"))
        )
        for row in rows:
            offered[row["bucket"].astimezone(zone).time()] += row["offered"]
            handled += row["handled"]
            handle += row["handle"]
    aht = handle / handled if handled else float(queue.default_aht_seconds)
    return {slot.strftime("%H:%M"): offered[slot] / weeks for slot in sorted(offered)}, aht


def plan(
    *,
    volumes: dict[str, float],
    aht: float,
    target_seconds: float,
    goal: float,
    max_occupancy: float | None = None,
    agents_logged_in: int = 0,
) -> list[dict[str, Any]]:
    """Agents needed per interval ("HH:MM" → contacts): Erlang C for the goal, then at least A ÷ max occupancy."""
    out = []
    for slot, contacts in volumes.items():
        traffic = erlang.traffic_intensity(
            contacts=contacts, interval_seconds=INTERVAL_SECONDS, average_handle_time=aht
        )
        need = erlang.agents_needed(
            traffic=traffic, average_handle_time=aht, target_seconds=target_seconds, service_level_goal=goal
        )
        if max_occupancy and traffic > 0 and need.occupancy > max_occupancy:
            # More agents than the service level needs, so that nobody works above the occupancy cap.
            agents = max(need.agents, math.ceil(traffic / max_occupancy - 1e-9))
            need = erlang.staffing_for(
                agents=agents, traffic=traffic, average_handle_time=aht, target_seconds=target_seconds
            )
        out.append(
            {
                "interval": slot,
                "contacts": round(contacts, 2),
                "aht_seconds": round(aht, 1),
                "traffic_erlangs": round(traffic, 3),
                "agents_needed": need.agents,
                "service_level": round(need.service_level, 3),
                "asa_seconds": round(need.average_speed_of_answer, 1),
                "occupancy": round(need.occupancy, 3),
                "agents_logged_in": agents_logged_in,
            }
        )
    return out


def forecast(*, queue: Queue, day: date, weeks: int = 4) -> list[dict[str, Any]]:
    """The queue's plan for `day` from its history and its service level settings."""
    options = QueueReportingSettings.objects.filter(queue=queue).first() or DEFAULTS
    volumes, aht = history(queue=queue, day=day, weeks=weeks)
    return plan(
        volumes=volumes,
        aht=aht,
        target_seconds=options.service_level_seconds,
        goal=options.service_level_goal,
        agents_logged_in=logged_in_agents(queue),
    )
