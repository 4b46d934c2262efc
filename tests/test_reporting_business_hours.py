"""Reporting events are flagged in or out of the queue's business hours, and their durations get a business-hours part
from the queue's calendar (routing/business_time.py); the business-time KPIs sum it. Values computed by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reporting import kpis
from reporting.events import record
from reporting.models import EventKind, QueueReportingSettings
from routing.models import Queue

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS_9_TO_18 = {str(day): [["09:00", "18:00"]] for day in range(5)}


@pytest.fixture
def office_queue(db: None) -> Queue:
    """Open Monday to Friday, 09:00–18:00 Paris time; Christmas is a holiday."""
    queue = Queue.objects.create(
        name="Office", timezone="Europe/Paris", business_hours=WEEKDAYS_9_TO_18, holidays=["2026-12-25"]
    )
    QueueReportingSettings.objects.create(queue=queue, service_level_seconds=20)
    return queue


def test_it_counts_a_first_response_across_closing_time_in_business_hours_only(office_queue: Queue) -> None:
    # The customer wrote Tuesday 17:50; the agent answered Wednesday 09:20.
    # Raw: 15 h 30 min = 55,800 s. Business: 17:50–18:00 (600 s) + 09:00–09:20 (1,200 s) = 1,800 s.
    at = datetime(2026, 12, 9, 9, 20, tzinfo=PARIS)
    event = record(kind=EventKind.FIRST_RESPONSE, at=at, queue_id=office_queue.pk, duration_seconds=55_800)
    assert event.in_business_hours is True
    assert event.business_seconds == 1_800
    day = kpis.day_range(at.date(), at.date().replace(day=10), "Europe/Paris")
    figures = kpis.compute(start=day[0], end=day[1]).get(None, {})
    assert figures["first_response_seconds"] == 55_800
    assert figures["first_response_business_seconds"] == 1_800


def test_it_flags_an_offer_after_closing_and_counts_its_wait_from_the_opening(office_queue: Queue) -> None:
    # Offered Tuesday 17:55 (open); another offered 18:30 (closed). The first is answered at 18:05 after 600 s:
    # 300 s of it before the 18:00 closing time. The second is answered Wednesday 09:01 after 52,260 s (14 h 31 min):
    # 60 s of business time.
    record(kind=EventKind.OFFERED_TO_QUEUE, at=datetime(2026, 12, 8, 17, 55, tzinfo=PARIS), queue_id=office_queue.pk)
    late = record(
        kind=EventKind.OFFERED_TO_QUEUE, at=datetime(2026, 12, 8, 18, 30, tzinfo=PARIS), queue_id=office_queue.pk
    )
    answered = record(
        kind=EventKind.ANSWERED,
        at=datetime(2026, 12, 8, 18, 5, tzinfo=PARIS),
        queue_id=office_queue.pk,
        duration_seconds=600,
    )
    next_day = record(
        kind=EventKind.ANSWERED,
        at=datetime(2026, 12, 9, 9, 1, tzinfo=PARIS),
        queue_id=office_queue.pk,
        duration_seconds=52_260,
    )
    assert late.in_business_hours is False and answered.in_business_hours is False
    assert answered.business_seconds == 300 and next_day.business_seconds == 60
    assert next_day.in_business_hours is True
    start, end = kpis.day_range(datetime(2026, 12, 8).date(), datetime(2026, 12, 10).date(), "Europe/Paris")
    figures = kpis.compute(start=start, end=end).get(None, {})
    assert figures["offered"] == 2 and figures["offered_out_of_hours"] == 1
    assert figures["out_of_hours_rate"] == pytest.approx(0.5)
    assert figures["asa_seconds"] == pytest.approx((600 + 52_260) / 2)
    assert figures["asa_business_seconds"] == pytest.approx((300 + 60) / 2)


def test_it_skips_a_holiday_and_treats_a_queue_without_hours_as_always_open(office_queue: Queue, db: None) -> None:
    # Thursday 24 December 17:00 → Monday 28 December 10:00 (Christmas Friday is a holiday, then the weekend):
    # 1 h on the 24th + 1 h on the 28th = 7,200 s.
    at = datetime(2026, 12, 28, 10, tzinfo=PARIS)
    raw = (at - datetime(2026, 12, 24, 17, tzinfo=PARIS)).total_seconds()
    event = record(kind=EventKind.FIRST_RESPONSE, at=at, queue_id=office_queue.pk, duration_seconds=raw)
    assert event.business_seconds == 7_200
    around_the_clock = Queue.objects.create(name="Night desk")
    night = record(
        kind=EventKind.ANSWERED,
        at=datetime(2026, 12, 25, 3, tzinfo=PARIS),
        queue_id=around_the_clock.pk,
        duration_seconds=42,
    )
    assert night.in_business_hours is True and night.business_seconds == 42


def test_it_keeps_what_the_caller_gives(office_queue: Any) -> None:
    event = record(
        kind=EventKind.FIRST_RESPONSE,
        at=datetime(2026, 12, 8, 20, tzinfo=PARIS),
        queue_id=office_queue.pk,
        duration_seconds=100,
        business_seconds=7,
        in_business_hours=True,
    )
    assert (event.in_business_hours, event.business_seconds) == (True, 7)
