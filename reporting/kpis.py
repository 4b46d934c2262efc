"""KPIs from the 15-minute rollups: exact definitions (docs/kpis.md), ratios from summed numerators and denominators.

Every ratio is Σ numerator ÷ Σ denominator over the rows in range — never an average of per-queue or per-day averages.
A ratio with a zero denominator is None ("no data"), not 0. Ranges are half-open [start, end) instants; `day_range`
turns the supervisor's local dates into them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    Subquery,
    Sum,
    When,
)

from reporting.events import DEFAULTS, bucket_of
from reporting.models import COUNTERS, AbandonTreatment, EventKind, IntervalStat, QueueReportingSettings, ReportingEvent

DIMENSIONS = {"queue": "queue_id", "channel": "channel_kind", "intent": "intent_id", "agent": "agent_id"}
FCR_DAYS = 7


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
        "callbacks_requested": s["callbacks_requested"],
        "callbacks_completed": s["callbacks_completed"],
    }


def _settings_by_queue() -> dict[int, QueueReportingSettings]:
    return {s.queue_id: s for s in QueueReportingSettings.objects.all()}


def rollup_rows(
    *, start: datetime, end: datetime, filters: dict[str, Any] | None = None, group_by: str | None = None
) -> Iterable[dict[str, Any]]:
    """Summed counters per (queue, group) in [start, end). Queue is always a key: each queue's SL treatment applies."""
    keys = ["queue_id"]
    if group_by == "period":
        keys.append("bucket")
    elif group_by is not None and DIMENSIONS[group_by] != "queue_id":
        keys.append(DIMENSIONS[group_by])
    query = IntervalStat.objects.filter(bucket__gte=start, bucket__lt=end)
    for name, value in (filters or {}).items():
        query = query.filter(**{DIMENSIONS[name]: value})
    return query.values(*keys).annotate(**{name: Sum(name) for name in COUNTERS}).order_by()


def compute(
    *, start: datetime, end: datetime, filters: dict[str, Any] | None = None, group_by: str | None = None
) -> dict[Any, dict[str, float | None]]:
    """KPIs for [start, end), one entry per group value (a single entry keyed None without group_by)."""
    settings = _settings_by_queue()
    groups: dict[Any, Totals] = defaultdict(Totals)
    column = DIMENSIONS.get(group_by or "")
    for row in rollup_rows(start=start, end=end, filters=filters, group_by=group_by):
        key = row[column] if column else None
        groups[key].add(row, settings.get(row["queue_id"], DEFAULTS))
    return {key: figures(totals) for key, totals in groups.items()}


def by_period(
    *, start: datetime, end: datetime, tz: str, period: str, filters: dict[str, Any] | None = None
) -> dict[date, dict[str, float | None]]:
    """KPIs per local day, ISO week (keyed by its Monday) or month (keyed by its 1st)."""
    zone = ZoneInfo(tz)
    settings = _settings_by_queue()
    groups: dict[date, Totals] = defaultdict(Totals)
    for row in rollup_rows(start=start, end=end, filters=filters, group_by="period"):
        local = row["bucket"].astimezone(zone).date()
        if period == "week":
            local -= timedelta(days=local.weekday())
        elif period == "month":
            local = local.replace(day=1)
        groups[local].add(row, settings.get(row["queue_id"], DEFAULTS))
    return {key: figures(groups[key]) for key in sorted(groups)}


def _event_filter(filters: dict[str, Any] | None) -> Q:
    q = Q()
    for name, value in (filters or {}).items():
        q &= Q(**{DIMENSIONS[name]: value})
    return q


CONTACTS = [EventKind.OFFERED_TO_QUEUE, EventKind.CUSTOMER_MESSAGE]


def _in_range(start: datetime, end: datetime) -> Q:
    """Events at [start, end). The bucket bounds add nothing (bucket = the event's quarter hour) but let the
    (kind, bucket) index narrow the scan, which the time alone cannot."""
    return Q(at__gte=start, at__lt=end, bucket__gte=bucket_of(start), bucket__lt=end)


def first_contact_resolution(
    *, start: datetime, end: datetime, filters: dict[str, Any] | None = None, days: int = FCR_DAYS
) -> tuple[int, int]:
    """(cases resolved in range with no repeat contact by the customer on any channel within `days`, cases resolved).

    A repeat contact is any new offer to a queue or customer message by the same customer, in any conversation and on
    any channel, after the resolution and within `days` of it. One query over events (indexed by customer and time).
    """
    window = ExpressionWrapper(OuterRef("at") + timedelta(days=days), output_field=DateTimeField())
    repeat = ReportingEvent.objects.filter(
        customer_id=OuterRef("customer_id"), kind__in=CONTACTS, at__gt=OuterRef("at"), at__lte=window
    )
    totals = (
        ReportingEvent.objects.filter(_event_filter(filters), _in_range(start, end), kind=EventKind.RESOLVED)
        .annotate(repeated=Exists(repeat))
        .aggregate(resolved=Count("pk"), first=Count("pk", filter=Q(repeated=False)))
    )
    return totals["first"], totals["resolved"]


def channel_attrition(*, start: datetime, end: datetime, filters: dict[str, Any] | None = None) -> tuple[int, int]:
    """(cases offered in range whose customer used a second channel kind before resolution, cases offered).

    One query: per offered case, its first resolution after the offer, and whether the customer made contact on
    another channel kind between the two (at any time after the offer if the case is unresolved).
    """
    offers = ReportingEvent.objects.filter(
        _event_filter(filters), _in_range(start, end), kind=EventKind.OFFERED_TO_QUEUE
    )
    resolved_at = (
        ReportingEvent.objects.filter(
            conversation_id=OuterRef("conversation_id"), kind=EventKind.RESOLVED, at__gte=OuterRef("at")
        )
        .order_by("at")
        .values("at")[:1]
    )
    elsewhere = ReportingEvent.objects.filter(
        customer_id=OuterRef("customer_id"), kind__in=CONTACTS, at__gt=OuterRef("at")
    ).exclude(channel_kind=OuterRef("channel_kind"))
    before_resolution = elsewhere.filter(Q(at__lt=OuterRef("resolved_at")))
    rows = offers.annotate(resolved_at=Subquery(resolved_at)).annotate(
        attrited=Case(
            When(resolved_at__isnull=True, then=Exists(elsewhere)),
            default=Exists(before_resolution),
            output_field=BooleanField(),
        )
    )
    cases: dict[int | None, bool] = {}
    for conversation_id, attrited in rows.values_list("conversation_id", "attrited"):
        cases[conversation_id] = cases.get(conversation_id, False) or attrited
    return sum(cases.values()), len(cases)
