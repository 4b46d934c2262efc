"""The wallboard's reads, collapsed: a handful of grouped queries for every queue at once, instead of a few queries
per queue and per channel kind.

The live queue figures (waiting, longest wait, EWT, SLA at risk) follow routing's definitions (`routing.selectors`,
`routing.ewt`) but are computed here with one grouped query per figure, because the wallboard is recomputed up to
once a second and must stay within its budget (p99 < 20 ms, bench/reports.py). The handle time behind EWT is the
reporting AHT of the last 7 days (Σ handle ÷ handled from the rollups, per queue and channel kind), kept for
`AHT_CACHE_SECONDS` per process: a week's average does not move within a minute.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Count, Min, Q, Sum

from interactions.models import Conversation
from reporting.models import IntervalStat
from routing import ewt
from routing.models import AgentProfile, Assignment, CapacityClass, Queue, RoutingItem, capacity_class_for

AHT_DAYS = 7
AHT_CACHE_SECONDS = 60.0
CLASSES = [str(c) for c in CapacityClass.values]
# The rollup counters the wallboard shows (service level, ASA, abandonment, handled, AHT, occupancy).
WALLBOARD_COUNTERS = [
    "offered",
    "answered",
    "answered_in_target",
    "answer_wait_seconds",
    "abandoned",
    "abandoned_in_target",
    "short_abandoned",
    "handled",
    "handle_seconds",
    "chat_handle_seconds",
    "staffed_seconds",
]

_aht_lock = threading.Lock()
_aht_cache: dict[str, Any] = {"until": 0.0, "values": {}}


def todays_rollups(*, start: datetime, end: datetime) -> dict[str, list[dict[str, Any]]]:
    """Today's summed counters by queue, by agent and by (bucket, queue), in one query.

    PostgreSQL sums the three groupings itself (GROUPING SETS); elsewhere (the embedded SQLite) the finest grouping
    is read and summed here. Queue stays a key of the per-bucket rows: each queue's abandon treatment applies.
    """
    if connection.vendor == "postgresql":
        return _grouping_sets(start=start, end=end)
    rows = (
        IntervalStat.objects.filter(bucket__gte=start, bucket__lt=end)
        .values("queue_id", "agent_id", "bucket")
        .annotate(**{name: Sum(name) for name in WALLBOARD_COUNTERS})
        .order_by()
    )
    sums: dict[str, dict[Any, dict[str, Any]]] = {"queue": {}, "agent": {}, "period": {}}
    for found in rows:
        row: dict[str, Any] = dict(found)  # plain dict: the counters' names are computed
        for grouping, key, keys in (
            ("queue", row["queue_id"], {"queue_id": row["queue_id"]}),
            ("agent", row["agent_id"], {"agent_id": row["agent_id"]}),
            ("period", (row["bucket"], row["queue_id"]), {"bucket": row["bucket"], "queue_id": row["queue_id"]}),
        ):
            target = sums[grouping].setdefault(key, {**keys, **dict.fromkeys(WALLBOARD_COUNTERS, 0)})
            for name in WALLBOARD_COUNTERS:
                target[name] += row[name] or 0
    return {grouping: list(values.values()) for grouping, values in sums.items()}


def _grouping_sets(*, start: datetime, end: datetime) -> dict[str, list[dict[str, Any]]]:
    # Only our own table and column names are formatted in; the range is passed as parameters.
    table = connection.ops.quote_name(IntervalStat._meta.db_table)
    sums = ", ".join(f"SUM({name})" for name in WALLBOARD_COUNTERS)
    sql = (
        f"SELECT GROUPING(queue_id), GROUPING(agent_id), queue_id, agent_id, bucket, {sums} FROM {table} "
        "WHERE bucket >= %s AND bucket < %s "
        "GROUP BY GROUPING SETS ((queue_id), (agent_id), (bucket, queue_id))"
    )
    out: dict[str, list[dict[str, Any]]] = {"queue": [], "agent": [], "period": []}
    with connection.cursor() as cursor:
        cursor.execute(sql, [start, end])
        for no_queue, no_agent, queue_id, agent_id, bucket, *values in cursor.fetchall():
            row: dict[str, Any] = dict(zip(WALLBOARD_COUNTERS, values, strict=True))
            if no_queue:
                out["agent"].append({"agent_id": agent_id, **row})
            elif no_agent and bucket is None:
                out["queue"].append({"queue_id": queue_id, **row})
            else:
                out["period"].append({"bucket": bucket, "queue_id": queue_id, **row})
    return out


def recent_aht(*, now: datetime) -> dict[tuple[int, str], float]:
    """Σ handle seconds ÷ handled per (queue, channel kind) over the last 7 days, cached per process for a minute."""
    with _aht_lock:
        if _aht_cache["until"] > time.monotonic():
            return dict(_aht_cache["values"])
    rows = (
        IntervalStat.objects.filter(bucket__gte=now - timedelta(days=AHT_DAYS), bucket__lt=now, handled__gt=0)
        .values("queue_id", "channel_kind")
        .annotate(seconds=Sum("handle_seconds"), handled=Sum("handled"))
        .order_by()
    )
    values = {(r["queue_id"], r["channel_kind"]): r["seconds"] / r["handled"] for r in rows if r["handled"]}
    with _aht_lock:
        _aht_cache.update(until=time.monotonic() + AHT_CACHE_SECONDS, values=values)
    return dict(values)


def forget_cached_aht() -> None:
    with _aht_lock:
        _aht_cache.update(until=0.0, values={})


def _horizon(queue: Queue, now: datetime) -> datetime:
    """routing's warning horizon: a case due before it is at risk."""
    if not queue.sla_first_response_minutes:
        return now
    return now + timedelta(minutes=queue.sla_first_response_minutes * (100 - queue.sla_warning_percent) / 100)


# Every status but resolved, spelled out so that the (queue, status, …) index narrows the scan to open cases.
UNRESOLVED = [s for s in Conversation.Status.values if s != Conversation.Status.RESOLVED]


# interactions.models.SLA_NEXT_DUE in SQL: the same expression as the index's, so PostgreSQL uses the index.
NEXT_DUE = (
    "LEAST(CASE WHEN c.first_response_at IS NULL THEN c.first_response_due_at ELSE NULL END, "
    "c.next_response_due_at, c.resolution_due_at)"
)


def _at_risk(queues: list[Queue], *, now: datetime) -> dict[int, int]:
    """routing.selectors.at_risk_count for every queue in one query (each queue's own warning horizon).

    PostgreSQL gets the query as SQL text, each queue's horizon joined in as an array: building it with the ORM took
    a quarter of the wallboard's CPU time (a Q tree per queue, compiled every second)."""
    if not queues:
        return {}
    if connection.vendor == "postgresql":
        # Two counts per queue, each a range scan of a partial index (interactions.Conversation's indexes): the
        # cases due before the horizon, plus the flagged ones that are not. Reading every open case to test its
        # due times cost ~7 ms with 5,000 open cases, every second; this is ~0.2 ms.
        table = Conversation._meta.db_table
        sql = (
            f"SELECT h.queue_id, (SELECT count(*) FROM {table} c WHERE c.queue_id = h.queue_id "
            f"AND NOT (c.status = 'resolved') AND {NEXT_DUE} <= h.horizon) + (SELECT count(*) FROM {table} c "
            "WHERE c.queue_id = h.queue_id AND NOT (c.status = 'resolved') "
            "AND (c.sla_warned_at IS NOT NULL OR c.sla_breached_at IS NOT NULL) "
            f"AND NOT coalesce({NEXT_DUE} <= h.horizon, false)) "
            "FROM unnest(%s::integer[], %s::timestamptz[]) AS h(queue_id, horizon)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [[q.pk for q in queues], [_horizon(q, now) for q in queues]])
            return {queue_id: n for queue_id, n in cursor.fetchall() if n}
    due = Q()
    for queue in queues:
        horizon = _horizon(queue, now)
        due |= Q(queue_id=queue.pk) & (
            Q(first_response_at__isnull=True, first_response_due_at__lte=horizon)
            | Q(next_response_due_at__lte=horizon)
            | Q(resolution_due_at__lte=horizon)
        )
    warned = Q(sla_warned_at__isnull=False) | Q(sla_breached_at__isnull=False)
    rows = (
        Conversation.objects.filter(queue_id__in=[q.pk for q in queues], status__in=UNRESOLVED)
        .filter(warned | due)
        .values("queue_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {r["queue_id"]: r["n"] for r in rows}


@lru_cache(maxsize=1)
def _available_sql() -> str:
    """The PostgreSQL text of `_available_agents`' query (same definition), compiled once per process."""
    members = Queue.members.through
    user = AgentProfile._meta.get_field("user").related_model._meta.db_table
    queue_column, user_column = members._meta.get_field("queue").column, members._meta.get_field("user").column
    sums = []
    for cls in CLASSES:
        has = f"FILTER (WHERE p.{cls}_capacity > 0)"
        sums += [f"count(*) {has}", f"sum(p.{cls}_capacity) {has}", f"sum(p.{cls}_load) {has}"]
    return (
        f"SELECT m.{queue_column}, {', '.join(sums)} FROM {AgentProfile._meta.db_table} p "
        f"JOIN {user} u ON u.id = p.user_id JOIN {members._meta.db_table} m ON m.{user_column} = p.user_id "
        f"WHERE p.presence = %s AND p.takes_work AND u.is_active AND m.{queue_column} = ANY(%s) "
        f"GROUP BY m.{queue_column}"
    )


def _available_agents(queue_ids: list[int]) -> dict[tuple[int, str], tuple[int, int]]:
    """(agents, free slots) per (queue, capacity class): available members who take work and have that capacity."""
    out = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_available_sql(), [AgentProfile.Presence.AVAILABLE.value, queue_ids])
            for queue_id, *values in cursor.fetchall():
                for i, cls in enumerate(CLASSES):
                    n, slots, used = values[3 * i : 3 * i + 3]
                    out[(queue_id, cls)] = (n, max(0, (slots or 0) - (used or 0)))
        return out
    aggregates: dict[str, Any] = {}
    for cls in CLASSES:
        has = Q(**{f"{cls}_capacity__gt": 0})
        # Aliases unlike the fields' names: an annotation named like a field would shadow it in the filters.
        aggregates[f"n_{cls}"] = Count("pk", filter=has)
        aggregates[f"slots_{cls}"] = Sum(f"{cls}_capacity", filter=has)
        aggregates[f"used_{cls}"] = Sum(f"{cls}_load", filter=has)
    rows = (
        AgentProfile.objects.filter(
            presence=AgentProfile.Presence.AVAILABLE,
            takes_work=True,
            user__is_active=True,
            user__queues__in=queue_ids,
        )
        .values("user__queues")
        .annotate(**aggregates)
        .order_by()
    )
    for found in rows:
        row: dict[str, Any] = dict(found)  # plain dict: the counters' names are computed
        for cls in CLASSES:
            free = max(0, (row[f"slots_{cls}"] or 0) - (row[f"used_{cls}"] or 0))
            out[(row["user__queues"], cls)] = (row[f"n_{cls}"], free)
    return out


def live_queues(*, now: datetime) -> list[dict[str, Any]]:
    """Per queue (by name): waiting, longest wait in seconds, EWT (the longest over its channel kinds), at risk."""
    queues = list(Queue.objects.order_by("name"))
    ids = [q.pk for q in queues]
    waiting: dict[tuple[int, str], int] = defaultdict(int)
    oldest: dict[int, datetime] = {}
    rows = (
        RoutingItem.objects.filter(state=RoutingItem.State.WAITING)
        .values("queue_id", "capacity_class")
        .annotate(n=Count("pk"), oldest=Min("queued_at"))
        .order_by()
    )
    for row in rows:
        waiting[(row["queue_id"], row["capacity_class"])] = row["n"]
        if row["queue_id"] not in oldest or row["oldest"] < oldest[row["queue_id"]]:
            oldest[row["queue_id"]] = row["oldest"]
    agents = _available_agents(ids)
    aht = recent_aht(now=now)
    risk = _at_risk(queues, now=now)
    out = []
    for queue in queues:
        ewts = []
        for kind in queue.channel_kinds or ["chat"]:
            cls = capacity_class_for(kind)
            n, free = agents.get((queue.pk, cls), (0, 0))
            handle = aht.get((queue.pk, kind), float(queue.default_aht_seconds))
            estimate = ewt.estimate_wait_seconds(
                position=waiting[(queue.pk, cls)] + 1, agents=n, aht_seconds=handle, free_slots=free
            )
            if estimate is not None:
                ewts.append(estimate)
        first = oldest.get(queue.pk)
        out.append(
            {
                "queue": queue,
                "waiting": sum(waiting[(queue.pk, cls)] for cls in CLASSES),
                "longest_wait_seconds": int((now - first).total_seconds()) if first else 0,
                "ewt_seconds": round(max(ewts)) if ewts else None,
                "at_risk": risk.get(queue.pk, 0),
            }
        )
    return out


def wallboard_agents() -> list[AgentProfile]:
    """The agents routing's supervisor view lists (same rule), with their users, in one query."""
    return list(
        AgentProfile.objects.select_related("user")
        .filter(
            Q(role=AgentProfile.Role.AGENT)
            | Q(takes_work=True)
            | Q(chat_load__gt=0)
            | Q(voice_load__gt=0)
            | Q(email_load__gt=0)
            | Q(user_id__in=Assignment.objects.filter(ended_at__isnull=True).values("agent_id")),
            user__is_active=True,
        )
        .order_by("presence", "user__username")
    )
