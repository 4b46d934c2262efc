"""Long ranges read whole UTC days from the daily rollups and their partial days from the 15-minute ones: the figures
are the 15-minute rows' sums for any range and time zone, and each daily row is the sum of its day's 15-minute rows."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from reporting import kpis
from reporting.events import record
from reporting.models import COUNTERS, DailyStat, EventKind, IntervalStat
from routing.models import Queue

pytestmark = pytest.mark.django_db
K = EventKind
T0 = datetime(2026, 10, 20, tzinfo=UTC)


@pytest.fixture
def ten_days(support_queue: Queue, billing_queue: Queue) -> None:
    """Offers, answers, abandons and resolutions of two queues at random instants over ten days (around the change
    to winter time in Paris on 25 October)."""
    rng = random.Random(12)
    for n in range(160):
        at = T0 + timedelta(minutes=rng.randrange(10 * 24 * 60))
        queue = support_queue if n % 3 else billing_queue
        kind = [K.OFFERED_TO_QUEUE, K.ANSWERED, K.ABANDONED, K.RESOLVED][n % 4]
        record(
            kind=kind,
            at=at,
            conversation_id=n,
            customer_id=n % 7,
            channel_kind=["chat", "email"][n % 2],
            queue_id=queue.pk,
            agent_id=0,
            duration_seconds=float(rng.randrange(1, 90)) if kind in (K.ANSWERED, K.ABANDONED) else None,
            handle_seconds=float(rng.randrange(30, 900)) if kind == K.RESOLVED else None,
        )


def fifteen_minute_sums(start: datetime, end: datetime) -> dict[str, float]:
    rows = IntervalStat.objects.filter(bucket__gte=start, bucket__lt=end)
    return {name: value or 0 for name, value in rows.aggregate(**{n: Sum(n) for n in COUNTERS}).items()}


@pytest.mark.parametrize("tz", ["Europe/Paris", "Asia/Kolkata", "America/St_Johns", "UTC"])
@pytest.mark.parametrize(("first", "days"), [(date(2026, 10, 21), 1), (date(2026, 10, 21), 2), (date(2026, 10, 20), 9)])
def test_it_sums_a_range_exactly_from_daily_and_fifteen_minute_rows(
    ten_days: None, tz: str, first: date, days: int
) -> None:
    start, end = kpis.day_range(first, first + timedelta(days=days), tz)
    sums = fifteen_minute_sums(start, end)
    assert sums["offered"] > 0
    total = kpis.grouped(start=start, end=end)[1]
    assert total["offered"] == sums["offered"] and total["resolved"] == sums["resolved"]
    assert total["asa_seconds"] == pytest.approx(sums["answer_wait_seconds"] / sums["answered"])
    assert total["aht_seconds"] == pytest.approx(sums["handle_seconds"] / sums["handled"])
    by_queue = kpis.compute(start=start, end=end, group_by="queue")
    assert sum(row["offered"] or 0 for row in by_queue.values()) == sums["offered"]


def test_it_keeps_each_daily_row_the_sum_of_its_days_fifteen_minute_rows(ten_days: None) -> None:
    expected: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for row in IntervalStat.objects.values("bucket", "queue_id", "channel_kind", "intent_id", "agent_id", *COUNTERS):
        key = (row["bucket"].astimezone(UTC).date(), row["queue_id"], row["channel_kind"], row["agent_id"])
        for name in COUNTERS:
            expected[key][name] += row[name]
    daily = {
        (row["day"], row["queue_id"], row["channel_kind"], row["agent_id"]): {n: row[n] for n in COUNTERS}
        for row in DailyStat.objects.values("day", "queue_id", "channel_kind", "agent_id", *COUNTERS)
    }
    assert daily == {key: pytest.approx(value) for key, value in expected.items()}


def test_it_groups_by_local_day_in_the_database(ten_days: None) -> None:
    paris = ZoneInfo("Europe/Paris")
    start, end = kpis.day_range(date(2026, 10, 20), date(2026, 10, 30), "Europe/Paris")
    per_day = kpis.by_period(start=start, end=end, tz="Europe/Paris", period="day")
    for day, figures in per_day.items():
        low, high = kpis.day_range(day, day + timedelta(days=1), "Europe/Paris")
        assert figures["offered"] == fifteen_minute_sums(low, high)["offered"], day
    assert date(2026, 10, 25) in per_day  # the 25-hour day
    weeks = kpis.by_period(start=start, end=end, tz="Europe/Paris", period="week")
    assert all(week.weekday() == 0 for week in weeks)
    assert sum(w["offered"] or 0 for w in weeks.values()) == sum(d["offered"] or 0 for d in per_day.values())
    assert start.astimezone(paris).hour == 0
