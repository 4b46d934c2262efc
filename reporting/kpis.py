"""KPIs from the 15-minute rollups: exact definitions (docs/kpis.md), ratios from summed numerators and denominators.

Every ratio is Σ numerator ÷ Σ denominator over the rows in range — never an average of per-queue or per-day averages.
A ratio with a zero denominator is None ("no data"), not 0. Ranges are half-open [start, end) instants; `day_range`
turns the supervisor's local dates into them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from reporting.events import DEFAULTS
from reporting.models import COUNTERS, AbandonTreatment, DailyStat, IntervalStat, QueueReportingSettings

DIMENSIONS = {"queue": "queue_id", "channel": "channel_kind", "intent": "intent_id", "agent": "agent_id"}


def day_range(first: date, last_exclusive: date, tz: str) -> tuple[datetime, datetime]:
    """[first 00:00, last_exclusive 00:00) in the supervisor's time zone, as aware instants."""
    zone = ZoneInfo(tz)
    return datetime.combine(first, time(), zone), datetime.combine(last_exclusive, time(), zone)


@dataclass
class Totals:
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0.0))
    sl_numerator: float = 0.0
    sl_denominator: float = 0.0

    def add(self, row: dict[str, Any], settings: QueueReportingSettings) -> None:
        for name in COUNTERS:
            self.sums[name] += row[name] or 0
        numerator, denominator = service_level_terms(row, settings.abandon_treatment)
        self.sl_numerator += numerator
        self.sl_denominator += denominator


def service_level_terms(row: dict[str, Any], treatment: str) -> tuple[float, float]:
    """Answered within T ÷ (answered + abandoned), short abandons never counted (they are a separate kind).

    against: abandons count in the denominator only; ignored: left out of both; in favour: abandons within T count
    as met (numerator and denominator), later abandons against.
    """
    answered, in_target = row["answered"] or 0, row["answered_in_target"] or 0
    abandoned, abandoned_in_target = row["abandoned"] or 0, row["abandoned_in_target"] or 0
    if treatment == AbandonTreatment.IGNORED:
        return in_target, answered
    if treatment == AbandonTreatment.IN_FAVOUR:
        return in_target + abandoned_in_target, answered + abandoned
    return in_target, answered + abandoned


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def figures(totals: Totals) -> dict[str, float | None]:
    s = totals.sums
    nps = ratio(s["nps_promoters"] - s["nps_detractors"], s["nps_answers"])
    return {
        "offered": s["offered"],
        "answered": s["answered"],
        "abandoned": s["abandoned"],
        "short_abandoned": s["short_abandoned"],
        "handled": s["handled"],
        "resolved": s["resolved"],
        "service_level": ratio(totals.sl_numerator, totals.sl_denominator),
        "asa_seconds": ratio(s["answer_wait_seconds"], s["answered"]),
        "asa_business_seconds": ratio(s["answer_wait_business_seconds"], s["answered"]),
        "offered_out_of_hours": s["offered_out_of_hours"],
        "out_of_hours_rate": ratio(s["offered_out_of_hours"], s["offered"]),
        "abandonment_rate": ratio(s["abandoned"], s["offered"] - s["short_abandoned"]),
        "aht_seconds": ratio(s["handle_seconds"], s["handled"]),
        "talk_seconds": s["talk_seconds"],
        "hold_seconds": s["hold_seconds"],
        "wrapup_seconds": s["wrapup_seconds"],
        "first_response_seconds": ratio(s["first_response_seconds"], s["first_responses"]),
        "first_response_business_seconds": ratio(s["first_response_business_seconds"], s["first_responses"]),
        "reply_seconds": ratio(s["reply_seconds"], s["replies"]),
        "occupancy": ratio(s["handle_seconds"] - s["chat_handle_seconds"], s["staffed_seconds"]),
        "slot_utilisation": ratio(s["chat_handle_seconds"], s["chat_slot_seconds"]),
        "transfer_rate": ratio(s["transfers_out"], s["handled"]),
        "reopen_rate": ratio(s["reopened"], s["resolved"]),
        "survey_response_rate": ratio(s["surveys_answered"], s["surveys_sent"]),
        "csat": ratio(s["csat_satisfied"], s["csat_answers"]),
        "nps": None if nps is None else nps * 100,
        "ces_mean": ratio(s["ces_total"], s["ces_answers"]),
        "ces_easy": ratio(s["ces_easy"], s["ces_answers"]),
        "fcr": ratio(s["resolved"] - s["resolutions_repeated"], s["resolved"]),
        "channel_attrition": ratio(s["cases_attrited"], s["cases"]),
        "callbacks_requested": s["callbacks_requested"],
        "callbacks_completed": s["callbacks_completed"],
    }


def settings_by_queue() -> dict[int, QueueReportingSettings]:
    return {s.queue_id: s for s in QueueReportingSettings.objects.all()}


def _filtered(query: QuerySet[Any], filters: dict[str, Any] | None) -> QuerySet[Any]:
    for name, value in (filters or {}).items():
        query = query.filter(**{DIMENSIONS[name]: value})
    return query


def _whole_utc_days(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The whole UTC days inside [start, end), as [first midnight, last midnight), or None if there is none."""
    first = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(days=1)
    last = end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (first, last) if first < last else None


@lru_cache(maxsize=64)
def _rollup_sql(keys: tuple[str, ...], filtered: tuple[str, ...], daily: bool) -> str:
    """The SQL text of one rollup read, built once per shape: compiling the ORM's 45-sum queries was most of the
    report's CPU time (bench/reports.py). Only our own table and column names are formatted in."""
    group = ", ".join(keys)
    sums = ", ".join(f"SUM({name})" for name in COUNTERS)
    where = "".join(f" AND {column} = %s" for column in filtered)
    fine_table, daily_table = IntervalStat._meta.db_table, DailyStat._meta.db_table
    if not daily:
        return f"SELECT {group}, {sums} FROM {fine_table} WHERE bucket >= %s AND bucket < %s{where} GROUP BY {group}"
    return (
        f"SELECT {group}, {sums} FROM {daily_table} WHERE day >= %s AND day < %s{where} GROUP BY {group} UNION ALL "
        f"SELECT {group}, {sums} FROM {fine_table} WHERE ((bucket >= %s AND bucket < %s) OR "
        f"(bucket >= %s AND bucket < %s)){where} GROUP BY {group}"
    )


def rollup_rows(
    *, start: datetime, end: datetime, filters: dict[str, Any] | None = None, group_by: str | None = None
) -> Iterable[dict[str, Any]]:
    """Summed counters per (queue, group) in [start, end), in one query. Queue is always a key: each queue's SL
    treatment applies. A key may come twice (whole UTC days from the daily rollups, the partial days at both ends
    from the 15-minute ones): callers add rows up, they never assume one row per key."""
    keys = ["queue_id"]
    if group_by is not None and DIMENSIONS[group_by] != "queue_id":
        keys.append(DIMENSIONS[group_by])
    filtered = tuple((DIMENSIONS[name], value) for name, value in sorted((filters or {}).items()))
    values = [value for _, value in filtered]
    days = _whole_utc_days(start, end)
    ops = connection.ops
    if days is None:
        params = [ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end), *values]
    else:
        params = [ops.adapt_datefield_value(days[0].date()), ops.adapt_datefield_value(days[1].date()), *values]
        for low, high in ((start, days[0]), (days[1], end)):
            params += [ops.adapt_datetimefield_value(low), ops.adapt_datetimefield_value(high)]
        params += values
    sql = _rollup_sql(tuple(keys), tuple(column for column, _ in filtered), days is not None)
    names = [*keys, *COUNTERS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def grouped(
    *,
    start: datetime,
    end: datetime,
    filters: dict[str, Any] | None = None,
    group_by: str | None = None,
    settings: dict[int, QueueReportingSettings] | None = None,
) -> tuple[dict[Any, dict[str, float | None]], dict[str, float | None]]:
    """(KPIs per group value, KPIs of the whole range) for [start, end) from one rollup query: the total is the sum
    of the same rows, every queue's treatment applied row by row."""
    settings = settings_by_queue() if settings is None else settings
    groups: dict[Any, Totals] = defaultdict(Totals)
    total = Totals()
    column = DIMENSIONS.get(group_by or "")
    for row in rollup_rows(start=start, end=end, filters=filters, group_by=group_by):
        key = row[column] if column else None
        queue_settings = settings.get(row["queue_id"], DEFAULTS)
        groups[key].add(row, queue_settings)
        total.add(row, queue_settings)
    return {key: figures(totals) for key, totals in groups.items()}, figures(total)


def compute(
    *,
    start: datetime,
    end: datetime,
    filters: dict[str, Any] | None = None,
    group_by: str | None = None,
    settings: dict[int, QueueReportingSettings] | None = None,
) -> dict[Any, dict[str, float | None]]:
    """KPIs for [start, end), one entry per group value (a single entry keyed None without group_by)."""
    return grouped(start=start, end=end, filters=filters, group_by=group_by, settings=settings)[0]


TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


def by_period(
    *, start: datetime, end: datetime, tz: str, period: str, filters: dict[str, Any] | None = None
) -> dict[date, dict[str, float | None]]:
    """KPIs per local day, ISO week (keyed by its Monday) or month (keyed by its 1st)."""
    return periods(start=start, end=end, tz=tz, period=period, filters=filters)[0]


def periods(
    *,
    start: datetime,
    end: datetime,
    tz: str,
    period: str,
    filters: dict[str, Any] | None = None,
    settings: dict[int, QueueReportingSettings] | None = None,
) -> tuple[dict[date, dict[str, float | None]], dict[str, float | None]]:
    """(KPIs per local day, ISO week (keyed by its Monday) or month (keyed by its 1st), KPIs of the whole range).

    Summed per local period by the database (buckets are quarter-hour instants, so every local midnight of a
    whole-quarter-hour offset is a bucket boundary): one row per period and queue reaches Python, not one per bucket.
    """
    zone = ZoneInfo(tz)
    settings = settings_by_queue() if settings is None else settings
    groups: dict[date, Totals] = defaultdict(Totals)
    total = Totals()
    query = _filtered(IntervalStat.objects.filter(bucket__gte=start, bucket__lt=end), filters)
    rows = (
        query.annotate(local=TRUNC[period]("bucket", tzinfo=zone))
        .values("local", "queue_id")
        .annotate(**{name: Sum(name) for name in COUNTERS})
        .order_by()
    )
    for row in rows:
        local = row["local"]
        key = local.astimezone(zone).date() if isinstance(local, datetime) else local
        queue_settings = settings.get(row["queue_id"], DEFAULTS)
        groups[key].add(row, queue_settings)
        total.add(row, queue_settings)
    return {key: figures(groups[key]) for key in sorted(groups)}, figures(total)


def _sums(*, start: datetime, end: datetime, filters: dict[str, Any] | None, names: tuple[str, ...]) -> list[int]:
    totals = dict.fromkeys(names, 0)
    for row in rollup_rows(start=start, end=end, filters=filters):
        for name in names:
            totals[name] += row[name] or 0
    return [int(totals[name]) for name in names]


def first_contact_resolution(
    *, start: datetime, end: datetime, filters: dict[str, Any] | None = None
) -> tuple[int, int]:
    """(resolutions in range with no repeat contact by the customer on any channel within N days, resolutions).

    From the rollups: `reporting.followups` marks a resolution repeated when such a contact is written (N =
    `followups.fcr_days()`, OMNIDESK_FCR_DAYS).
    """
    resolved, repeated = _sums(start=start, end=end, filters=filters, names=("resolved", "resolutions_repeated"))
    return resolved - repeated, resolved


def channel_attrition(*, start: datetime, end: datetime, filters: dict[str, Any] | None = None) -> tuple[int, int]:
    """(cases first offered in range whose customer used a second channel kind before resolution, cases).

    From the rollups kept by `reporting.followups` (a case = a conversation from its first offer to its resolution).
    """
    cases, attrited = _sums(start=start, end=end, filters=filters, names=("cases", "cases_attrited"))
    return attrited, cases
