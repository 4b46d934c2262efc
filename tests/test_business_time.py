"""Business time of a queue's calendar: due times across weekends, holidays and DST; open-hours checks; bad config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.business_time import (
    BusinessCalendar,
    add_business_time,
    business_time_between,
    is_open,
    next_open,
    validate_queue_hours,
)

PARIS = ZoneInfo("Europe/Paris")
OFFICE = {str(day): [["09:00", "18:00"]] for day in range(5)}  # Monday–Friday, 9:00–18:00


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def office(holidays: list[str] | None = None) -> BusinessCalendar:
    return BusinessCalendar.from_queue_fields("Europe/Paris", OFFICE, holidays or [])


def test_it_carries_a_friday_evening_ticket_over_the_weekend() -> None:
    # Friday 4 December 2026, 17:30: half an hour left on Friday, 3.5 h on Monday.
    due = add_business_time(office(), paris(2026, 12, 4, 17, 30), timedelta(hours=4))
    assert due == paris(2026, 12, 7, 12, 30)
    assert due.tzinfo == UTC


def test_it_skips_a_monday_holiday() -> None:
    due = add_business_time(office(["2026-12-07"]), paris(2026, 12, 4, 17, 30), timedelta(hours=4))
    assert due == paris(2026, 12, 8, 12, 30)


def test_it_counts_from_the_next_opening_when_started_while_closed() -> None:
    due = add_business_time(office(), paris(2026, 12, 5, 10, 0), timedelta(hours=1))  # a Saturday
    assert due == paris(2026, 12, 7, 10, 0)


def test_it_keeps_local_opening_hours_across_the_spring_dst_change() -> None:
    # Friday 27 March 2026 17:00 (CET, UTC+1) + 2 h → Monday 30 March 10:00 (CEST, UTC+2).
    due = add_business_time(office(), paris(2026, 3, 27, 17, 0), timedelta(hours=2))
    assert due == paris(2026, 3, 30, 10, 0)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_it_counts_the_hour_really_lived_on_the_autumn_dst_night() -> None:
    # Open around the clock on Sundays only: Sunday 25 October 2026 lasts 25 h in Paris.
    sundays = BusinessCalendar.from_queue_fields("Europe/Paris", {"6": [["00:00", "24:00"]]}, [])
    start, end = paris(2026, 10, 25, 0, 0), paris(2026, 10, 26, 0, 0)
    assert business_time_between(sundays, start, end) == timedelta(hours=25)
    assert add_business_time(sundays, start, timedelta(hours=25)) == end


def test_it_adds_plain_time_when_open_around_the_clock() -> None:
    always = BusinessCalendar.from_queue_fields("Europe/Paris", {}, [])
    start = paris(2026, 12, 5, 23, 0)
    assert add_business_time(always, start, timedelta(hours=30)) == start + timedelta(hours=30)
    assert is_open(always, start)


def test_it_closes_all_day_on_holidays_even_around_the_clock() -> None:
    always = BusinessCalendar.from_queue_fields("Europe/Paris", {}, ["2026-12-25"])
    due = add_business_time(always, paris(2026, 12, 24, 23, 0), timedelta(hours=2))
    assert due == paris(2026, 12, 26, 1, 0)


def test_it_skips_whole_weeks_for_long_targets() -> None:
    # 45 h a week: 100 weeks of target lands on the same weekday and time, 100 weeks later (DST changes included).
    start = paris(2026, 12, 7, 10, 0)
    due = add_business_time(office(), start, timedelta(hours=45 * 100))
    assert due == paris(2028, 11, 6, 10, 0)
    assert business_time_between(office(), start, due) == timedelta(hours=45 * 100)


@pytest.mark.parametrize(
    ("start", "hours"),
    [((2026, 12, 4, 17, 30), 4), ((2026, 3, 27, 12, 0), 13), ((2026, 10, 23, 9, 15), 50), ((2026, 12, 24, 8, 0), 7)],
)
def test_it_measures_back_exactly_what_it_added(start: tuple[int, int, int, int, int], hours: float) -> None:
    calendar = office(["2026-12-25"])
    begin = paris(*start)
    due = add_business_time(calendar, begin, timedelta(hours=hours))
    assert business_time_between(calendar, begin, due) == timedelta(hours=hours)
    assert business_time_between(calendar, due, begin) == -timedelta(hours=hours)


def test_it_tells_whether_it_is_open_and_when_it_opens_next() -> None:
    calendar = office(["2026-12-07"])
    assert is_open(calendar, paris(2026, 12, 4, 9, 0))
    assert not is_open(calendar, paris(2026, 12, 4, 18, 0))
    assert not is_open(calendar, paris(2026, 12, 7, 10, 0))  # the holiday
    assert next_open(calendar, paris(2026, 12, 4, 18, 0)) == paris(2026, 12, 8, 9, 0)
    assert next_open(calendar, paris(2026, 12, 4, 10, 0)) == paris(2026, 12, 4, 10, 0)


def test_it_supports_several_intervals_a_day() -> None:
    split = BusinessCalendar.from_queue_fields("Europe/Paris", {"0": [["14:00", "18:00"], ["09:00", "12:00"]]}, [])
    # Monday 11:00 + 2 h: 1 h before lunch, 1 h after.
    assert add_business_time(split, paris(2026, 12, 7, 11, 0), timedelta(hours=2)) == paris(2026, 12, 7, 15, 0)
    assert not is_open(split, paris(2026, 12, 7, 13, 0))


def test_it_refuses_a_calendar_closed_all_week() -> None:
    with pytest.raises(ValueError, match="closed every day"):
        BusinessCalendar.from_queue_fields("Europe/Paris", {"0": []}, [])


@pytest.mark.parametrize(
    ("timezone", "hours", "holidays", "message"),
    [
        ("Europe/Nowhere", {}, [], "Unknown time zone"),
        ("Europe/Paris", {"0": [["9h", "18:00"]]}, [], "is not a time"),
        ("Europe/Paris", {"0": [["09:00", "25:00"]]}, [], "is not a time of day"),
        ("Europe/Paris", {"0": [["18:00", "09:00"]]}, [], "is not after"),
        ("Europe/Paris", {"0": [["09:00", "13:00"], ["12:00", "18:00"]]}, [], "overlap"),
        ("Europe/Paris", {"7": [["09:00", "18:00"]]}, [], "Unknown weekday"),
        ("Europe/Paris", {}, ["25/12/2026"], "is not a date"),
    ],
)
def test_it_explains_malformed_hours(
    timezone: str, hours: dict[str, list[list[str]]], holidays: list[str], message: str
) -> None:
    errors = validate_queue_hours(timezone=timezone, business_hours=hours, holidays=holidays)
    assert len(errors) == 1 and message in errors[0]
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_queue_fields(timezone, hours, holidays)


def test_it_finds_nothing_wrong_with_valid_hours() -> None:
    assert validate_queue_hours(timezone="Europe/Paris", business_hours=OFFICE, holidays=["2026-12-25"]) == []


def test_it_refuses_naive_datetimes_and_negative_deltas() -> None:
    with pytest.raises(ValueError, match="aware"):
        add_business_time(office(), datetime(2026, 12, 4, 10, 0), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        add_business_time(office(), paris(2026, 12, 4, 10, 0), timedelta(hours=-1))
