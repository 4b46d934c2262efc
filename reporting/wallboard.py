"""The live wallboard's figures: numbers only, so each supervisor's page keeps its own language for the labels.

Today's service level, ASA, abandonment and per-agent figures come from the 15-minute rollups (one GROUPING SETS
query), the waiting counts, EWT and SLA risk from one grouped query each (`reporting.wallboard_reads`), agents' states
from their profiles and their calls.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from interactions.phone.models import Call
from omnidesk import realtime
from omnidesk.models import Event
from reporting import kpis, wallboard_reads
from reporting.events import DEFAULTS, bucket_of
from reporting.models import COUNTERS, QueueReportingSettings
from routing.models import AgentProfile, Queue

WALLBOARD_EVENT = "wallboard.updated"
ZEROS: dict[str, float] = dict.fromkeys(COUNTERS, 0)
LIVE_CALL_STATES = {Call.State.ON_CALL: "on_call", Call.State.ON_HOLD: "on_hold", Call.State.WRAP_UP: "wrap_up"}


def start_of_today(now: datetime) -> datetime:
    zone = ZoneInfo(getattr(settings, "OMNIDESK_WALLBOARD_TIME_ZONE", settings.TIME_ZONE))
    return datetime.combine(now.astimezone(zone).date(), time(), zone)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def agent_state(profile: AgentProfile, call_state: str | None) -> str:
    """available, busy_chat / busy_voice / busy_email, on_call, on_hold, wrap_up, away or offline."""
    if call_state is not None:
        return call_state
    if profile.presence != AgentProfile.Presence.AVAILABLE:
        return str(profile.presence)
    for kind in ("voice", "chat", "email"):
        if profile.load(kind) > 0:
            return f"busy_{kind}"
    return "available"


def _totals(rows: list[dict[str, Any]], key: str, options: dict[int, QueueReportingSettings]) -> dict[Any, Any]:
    groups: dict[Any, kpis.Totals] = defaultdict(kpis.Totals)
    for row in rows:
        # Agent rows span queues: only their handled, AHT and occupancy are shown, which no queue setting changes.
        groups[row[key]].add({**ZEROS, **row}, options.get(row.get("queue_id", 0), DEFAULTS))
    return {k: kpis.figures(totals) for k, totals in groups.items()}


def figures(*, now: datetime | None = None) -> dict[str, Any]:
    """Today's tiles, agents and 15-minute chart data: about eight queries in all, whatever the number of queues."""
    now = now or timezone.now()
    start = start_of_today(now)
    end = bucket_of(now) + timedelta(minutes=15)
    rollups = wallboard_reads.todays_rollups(start=start, end=end)
    options = {s.queue_id: s for s in QueueReportingSettings.objects.all()}
    today = _totals(rollups["queue"], "queue_id", options)
    queues = []
    for row in wallboard_reads.live_queues(now=now):
        queue: Queue = row["queue"]
        kpi = today.get(queue.pk, {})
        setting = options.get(queue.pk, DEFAULTS)
        sl = kpi.get("service_level")
        queues.append(
            {
                "id": queue.pk,
                "name": queue.name,
                "service_level": _round(sl),
                "goal": setting.service_level_goal,
                "asa_seconds": _round(kpi.get("asa_seconds"), 1),
                "abandonment_rate": _round(kpi.get("abandonment_rate")),
                "offered": kpi.get("offered", 0),
                "waiting": row["waiting"],
                "longest_wait_seconds": row["longest_wait_seconds"],
                "ewt_seconds": row["ewt_seconds"],
                "at_risk": row["at_risk"],
                "alerts": [
                    *(["service_level"] if sl is not None and sl < setting.service_level_goal else []),
                    *(["longest_wait"] if row["longest_wait_seconds"] > setting.longest_wait_alert_seconds else []),
                ],
            }
        )
    calls = dict(
        Call.objects.filter(state__in=list(LIVE_CALL_STATES), agent__isnull=False).values_list("agent_id", "state")
    )
    per_agent = _totals(rollups["agent"], "agent_id", options)
    states: Counter[str] = Counter()
    agents = []
    for profile in wallboard_reads.wallboard_agents():
        call_state = calls.get(profile.user_id)
        state = agent_state(profile, LIVE_CALL_STATES.get(Call.State(call_state)) if call_state else None)
        states[state] += 1
        kpi = per_agent.get(profile.user_id, {})
        agents.append(
            {
                "id": profile.user_id,
                "name": profile.user.first_name or profile.user.get_username(),
                "state": state,
                "handled": kpi.get("handled", 0),
                "aht_seconds": _round(kpi.get("aht_seconds"), 1),
                "occupancy": _round(kpi.get("occupancy")),
            }
        )
    return {
        "queues": queues,
        "states": dict(states),
        "agents": agents,
        "intervals": intervals(rows=rollups["period"], options=options),
    }


def intervals(*, rows: list[dict[str, Any]], options: dict[int, QueueReportingSettings]) -> list[dict[str, Any]]:
    """Today's service level and volume per 15 minutes, all queues (each queue's own treatment of abandons).

    Only the three sums the chart shows are added up (up to 96 buckets × queues rows a call, every second).
    """
    sums: dict[datetime, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # offered, SL numerator, denominator
    for row in rows:
        treatment = options.get(row["queue_id"], DEFAULTS).abandon_treatment
        numerator, denominator = kpis.service_level_terms(row, treatment)
        bucket = sums[row["bucket"]]
        bucket[0] += row["offered"] or 0
        bucket[1] += numerator
        bucket[2] += denominator
    return [
        {
            "at": bucket.isoformat(),
            "offered": offered,
            "service_level": _round(kpis.ratio(numerator, denominator)),
        }
        for bucket, (offered, numerator, denominator) in sorted(sums.items())
    ]


def supervisors_watching() -> bool:
    return AgentProfile.objects.filter(
        role=AgentProfile.Role.SUPERVISOR, socket_count__gt=0, user__is_active=True
    ).exists()


def push_wallboard(*, force: bool = False) -> bool:
    """Publish today's figures to supervisors unless they are the ones last published, or no supervisor has a desk
    socket open (nobody would see the push; a wallboard that opens later renders the figures as they are then)."""
    if not force and not supervisors_watching():
        return False
    data = figures()
    digest = hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    if not force:
        last = Event.objects.filter(type=WALLBOARD_EVENT).order_by("-id").values_list("data", flat=True).first()
        if last is not None and last.get("digest") == digest:
            return False
    with transaction.atomic():
        realtime.publish_on_commit(
            type=WALLBOARD_EVENT, data={**data, "digest": digest}, groups=[realtime.supervisors_group()]
        )
    return True
