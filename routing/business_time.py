"""Business time: the open hours of a queue's calendar, for SLA due times. Pure (no models, no I/O).

A calendar is a time zone, up to a few open intervals per weekday (local wall-clock times) and holidays (closed all
day). Business time is the real elapsed time that falls inside open intervals, so an interval that spans a DST change
counts the hour actually lived (00:00–24:00 on the last Sunday of March in Paris is 23 h). Intervals never cross
midnight; "24:00" ends one at the next midnight.

Long spans skip whole weeks at once when the week holds no holiday and no UTC-offset change, so a 1,000-hour target
costs a few dozen steps, not one per day (let alone per minute).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _

Interval = tuple[int, int]  # minutes since local midnight, [start, end), end ≤ 1440
DAY_MINUTES = 24 * 60
WEEK = timedelta(days=7)
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class BusinessCalendar:
    tz: ZoneInfo
    # Seven entries, Monday first; each a sorted tuple of non-overlapping intervals.
    weekly: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    _sorted_holidays: tuple[date, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError(_("Business hours need exactly seven weekdays."))
        if not any(self.weekly):
            raise ValueError(_("These business hours are closed every day of the week: no due time could be reached."))
        object.__setattr__(self, "_sorted_holidays", tuple(sorted(self.holidays)))

    @classmethod
    def from_queue_fields(
        cls, timezone: str, business_hours: Mapping[str, Any], holidays: Sequence[Any]
    ) -> BusinessCalendar:
        """The calendar of a queue's `timezone`, `business_hours` and `holidays` fields; ValueError when malformed.

        `business_hours` maps "0" (Monday) … "6" to lists of ["HH:MM", "HH:MM"]; an empty mapping means open around the
        clock, and a weekday absent from a non-empty mapping is closed. Holidays are ISO dates ("2026-12-25").
        """
        errors = validate_queue_hours(timezone=timezone, business_hours=business_hours, holidays=holidays)
        if errors:
            raise ValueError(" ".join(errors))
        return cls(
            tz=ZoneInfo(timezone),
            weekly=_parse_weekly(business_hours, []),
            holidays=frozenset(_parse_holidays(holidays, [])),
        )

    @property
    def always_open(self) -> bool:
        return not self.holidays and all(day == ((0, DAY_MINUTES),) for day in self.weekly)

    @property
    def week_minutes(self) -> int:
        return sum(end - start for day in self.weekly for start, end in day)

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of local date `day`, as UTC datetimes, in order."""
        if day in self.holidays:
            return []
        result = []
        for start, end in self.weekly[day.weekday()]:
            opens = _local(day, start, self.tz)
            closes = _local(day, end, self.tz)
            # A start inside a spring-forward gap can land after its end; such an interval has no real time.
            if closes > opens:
                result.append((opens, closes))
        return result

    def _week_is_plain(self, day: date) -> bool:
        """True when the 7 days from `day` hold no holiday and no UTC-offset change: exactly a nominal week."""
        index = bisect.bisect_left(self._sorted_holidays, day)
        if index < len(self._sorted_holidays) and self._sorted_holidays[index] < day + WEEK:
            return False
        midnight = datetime.combine(day, time(0), tzinfo=self.tz)
        later = datetime.combine(day + WEEK, time(0), tzinfo=self.tz)
        return midnight.utcoffset() == later.utcoffset()


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    if minutes >= DAY_MINUTES:
        return datetime.combine(day + ONE_DAY, time(0), tzinfo=tz).astimezone(UTC)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=tz).astimezone(UTC)


# --- parsing and validation ---------------------------------------------------------------------------------------


def _parse_time(value: Any, *, is_end: bool) -> int:
    if not isinstance(value, str) or len(value.split(":")) != 2:
        raise ValueError(_("%(value)r is not a time: use HH:MM.") % {"value": value})
    hours, minutes = value.split(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and 1 <= len(hours) <= 2):
        raise ValueError(_("%(value)r is not a time: use HH:MM.") % {"value": value})
    total = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or total > DAY_MINUTES or (total == DAY_MINUTES and not is_end):
        raise ValueError(_("%(value)r is not a time of day (00:00 to 24:00).") % {"value": value})
    return total


def _parse_day(name: str, intervals: Any, errors: list[str]) -> tuple[Interval, ...]:
    if not isinstance(intervals, list):
        errors.append(_("Weekday %(day)s: expected a list of [start, end] pairs.") % {"day": name})
        return ()
    parsed: list[Interval] = []
    for pair in intervals:
        if not (isinstance(pair, list | tuple) and len(pair) == 2):
            errors.append(_("Weekday %(day)s: %(pair)r is not a [start, end] pair.") % {"day": name, "pair": pair})
            continue
        try:
            start, end = _parse_time(pair[0], is_end=False), _parse_time(pair[1], is_end=True)
        except ValueError as error:
            errors.append(_("Weekday %(day)s: %(error)s") % {"day": name, "error": error})
            continue
        if end <= start:
            errors.append(
                _("Weekday %(day)s: %(end)s is not after %(start)s.") % {"day": name, "start": pair[0], "end": pair[1]}
            )
            continue
        parsed.append((start, end))
    parsed.sort()
    for previous, current in itertools.pairwise(parsed):
        if current[0] < previous[1]:
            errors.append(_("Weekday %(day)s: intervals overlap.") % {"day": name})
            break
    return tuple(parsed)


def _parse_weekly(business_hours: Any, errors: list[str]) -> tuple[tuple[Interval, ...], ...]:
    if not isinstance(business_hours, Mapping):
        errors.append(_('Business hours must map weekdays ("0" = Monday … "6") to intervals.'))
        return tuple(((0, DAY_MINUTES),) for _day in range(7))
    if not business_hours:
        return tuple(((0, DAY_MINUTES),) for _day in range(7))
    weekly: list[tuple[Interval, ...]] = [()] * 7
    for key, intervals in business_hours.items():
        name = str(key)
        if name not in {str(n) for n in range(7)}:
            errors.append(_('Unknown weekday %(day)r: use "0" (Monday) to "6" (Sunday).') % {"day": key})
            continue
        weekly[int(name)] = _parse_day(name, intervals, errors)
    if not errors and not any(weekly):
        errors.append(_("These business hours are closed every day of the week: no due time could be reached."))
    return tuple(weekly)


def _parse_holidays(holidays: Any, errors: list[str]) -> list[date]:
    if not isinstance(holidays, list | tuple):
        errors.append(_('Holidays must be a list of dates, e.g. ["2026-12-25"].'))
        return []
    days = []
    for value in holidays:
        try:
            days.append(date.fromisoformat(value))
        except (TypeError, ValueError):
            errors.append(_("%(value)r is not a date: use YYYY-MM-DD.") % {"value": value})
    return days


def validate_queue_hours(*, timezone: Any, business_hours: Any, holidays: Any) -> list[str]:
    """Every problem with a queue's calendar fields, as sentences to show; empty when they are valid."""
    errors: list[str] = []
    try:
        if not isinstance(timezone, str) or not timezone:
            raise ZoneInfoNotFoundError(timezone)
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(_("Unknown time zone %(tz)r (use a name such as Europe/Paris).") % {"tz": timezone})
    _parse_weekly(business_hours, errors)
    _parse_holidays(holidays, errors)
    return errors


# --- arithmetic ---------------------------------------------------------------------------------------------------


def _require_aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(_("Business-time arithmetic needs time-zone-aware datetimes."))


def _days_from(calendar: BusinessCalendar, at: datetime) -> Iterable[date]:
    day = at.astimezone(calendar.tz).date()
    while True:
        yield day
        day += ONE_DAY


def add_business_time(calendar: BusinessCalendar, start: datetime, delta: timedelta) -> datetime:
    """The moment (UTC) when `delta` of business time has passed since `start`.

    Time before the calendar opens is skipped, so a start outside business hours counts from the next opening.
    A zero delta returns `start` itself.
    """
    _require_aware(start)
    if delta < timedelta(0):
        raise ValueError(_("A business-time delta cannot be negative."))
    current = start.astimezone(UTC)
    if delta == timedelta(0):
        return current
    if calendar.always_open:
        return current + delta
    remaining = delta
    week = timedelta(minutes=calendar.week_minutes)
    day = current.astimezone(calendar.tz).date()
    first = True
    while True:
        if not first:
            while remaining > week and calendar._week_is_plain(day):
                remaining -= week
                day += WEEK
        first = False
        for opens, closes in calendar.intervals_on(day):
            if closes <= current:
                continue
            opens = max(opens, current)
            available = closes - opens
            if remaining <= available:
                return opens + remaining
            remaining -= available
        day += ONE_DAY


def business_time_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Business time from `a` to `b` (negative when `b` is before `a`); the inverse of `add_business_time`."""
    _require_aware(a, b)
    if b < a:
        return -business_time_between(calendar, b, a)
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    if calendar.always_open:
        return b - a
    total = timedelta(0)
    week = timedelta(minutes=calendar.week_minutes)
    day = a.astimezone(calendar.tz).date()
    last = b.astimezone(calendar.tz).date()
    first = True
    while day <= last:
        if not first:
            while day + WEEK <= last and calendar._week_is_plain(day):
                total += week
                day += WEEK
        first = False
        for opens, closes in calendar.intervals_on(day):
            overlap = min(closes, b) - max(opens, a)
            if overlap > timedelta(0):
                total += overlap
        day += ONE_DAY
    return total


def is_open(calendar: BusinessCalendar, at: datetime) -> bool:
    _require_aware(at)
    at = at.astimezone(UTC)
    day = at.astimezone(calendar.tz).date()
    return any(opens <= at < closes for opens, closes in calendar.intervals_on(day))


def next_open(calendar: BusinessCalendar, at: datetime) -> datetime:
    """`at` itself (in UTC) when the calendar is open then, else the next opening."""
    _require_aware(at)
    at = at.astimezone(UTC)
    for day in _days_from(calendar, at):
        for opens, closes in calendar.intervals_on(day):
            if closes > at:
                return max(opens, at)
    raise AssertionError("unreachable: a calendar is open on some weekday")  # pragma: no cover
