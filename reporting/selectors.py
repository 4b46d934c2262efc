"""What a user may see of the reports: agents their own figures, supervisors everyone's (interactions/access.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from interactions import access
from reporting import kpis
from reporting.models import EventKind, ReportingEvent

GROUPS = ("queue", "channel", "intent", "agent", "day", "week", "month")
FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "service_level",
    "asa_seconds",
    "asa_business_seconds",
    "abandonment_rate",
    "aht_seconds",
    "first_response_seconds",
    "first_response_business_seconds",
    "reply_seconds",
    "occupancy",
    "slot_utilisation",
    "transfer_rate",
    "reopen_rate",
    "survey_response_rate",
    "csat",
    "nps",
    "ces_mean",
    "ces_easy",
    "handled",
    "resolved",
    "offered_out_of_hours",
    "out_of_hours_rate",
)


def scope_for(user: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """Supervisors may filter freely; anyone else is held to their own agent id."""
    if access.is_supervisor(user):
        return filters
    return {**filters, "agent": user.pk}


def report(*, user: Any, first: date, last: date, tz: str, group: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Figures for local dates [first, last], grouped, with the previous period of the same length to compare."""
    filters = scope_for(user, filters)
    length = (last - first).days + 1
    start, end = kpis.day_range(first, last + timedelta(days=1), tz)
    prev_start, prev_end = kpis.day_range(first - timedelta(days=length), first, tz)
    # One rollup query for the rows and their total, one for the previous period (docs/kpis.md, Performance).
    settings = kpis.settings_by_queue()
    rows: dict[Any, Any]
    if group in ("day", "week", "month"):
        rows, total = kpis.periods(start=start, end=end, tz=tz, period=group, filters=filters, settings=settings)
    else:
        rows, total = kpis.grouped(start=start, end=end, filters=filters, group_by=group, settings=settings)
    _, previous = kpis.grouped(start=prev_start, end=prev_end, filters=filters, settings=settings)
    return {"rows": rows, "total": total, "previous": previous, "start": start, "end": end}


def drill_down(
    *, user: Any, first: date, last: date, tz: str, kind: str, filters: dict[str, Any], limit: int = 200
) -> list[int]:
    """The conversations behind a count (events of `kind` in range) that this user may open."""
    filters = scope_for(user, filters)
    start, end = kpis.day_range(first, last + timedelta(days=1), tz)
    events = ReportingEvent.objects.filter(kind=kind, at__gte=start, at__lt=end, conversation_id__isnull=False)
    for name, value in filters.items():
        events = events.filter(**{kpis.DIMENSIONS[name]: value})
    ids = events.values_list("conversation_id", flat=True).distinct()[: limit * 2]
    visible = access.conversations_visible_to(user).filter(pk__in=list(ids))
    return list(visible.values_list("pk", flat=True)[:limit])


def today_for(tz: str) -> date:
    return timezone.now().astimezone(ZoneInfo(tz)).date()


DRILLABLE = {k.value for k in EventKind}
