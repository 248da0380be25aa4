"""The business-hours calendar: pure functions over a policy's CalendarPolicy.

Workflow code calls these to turn "8 business hours after intake" into an
instant, so they read no clock and do no I/O: the same inputs always give the
same answer on replay. Arithmetic happens in UTC; the policy's time zone only
decides where a working day starts and ends (so DST changes are honoured).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from workflows.policy import (
    _DURATION_PART,
    _UNIT_SECONDS,
    WEEKDAYS,
    CalendarPolicy,
    parse_duration,
    parse_period,
)


@lru_cache(maxsize=64)
def _zone_from(name: str, rules: str | None) -> ZoneInfo:
    if rules is None:  # a snapshot taken before the rules were pinned: the installed ones
        return ZoneInfo(name)
    return ZoneInfo.from_file(io.BytesIO(base64.b64decode(rules)), key=name)


def zone(cal: CalendarPolicy) -> ZoneInfo:
    """The calendar's time zone, by the rules its snapshot pinned (`timezone_rules`), so a
    tzdata upgrade on the worker never moves a running complaint's deadlines on replay."""
    return _zone_from(cal.timezone, cal.timezone_rules)


def is_working_day(cal: CalendarPolicy, day: date) -> bool:
    return WEEKDAYS[day.weekday()] in cal.working_days and day not in cal.holidays


def _window(cal: CalendarPolicy, day: date) -> tuple[datetime, datetime]:
    """The working window of `day`, as UTC instants."""
    tz = zone(cal)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)

    def at(minute: int) -> datetime:
        if minute >= 24 * 60:  # 24:00 is the next day's midnight in local time
            nxt = day + timedelta(days=1)
            return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
        return midnight.replace(hour=minute // 60, minute=minute % 60).astimezone(UTC)

    return at(cal.start_minute), at(cal.end_minute)


def _windows_from(cal: CalendarPolicy, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working windows that end after `start`, in order, each clipped to begin no earlier."""
    start = start.astimezone(UTC)
    day = start.astimezone(zone(cal)).date()
    # Ten years of days with no working time means the calendar is empty: stop, don't spin.
    for _ in range(3660):
        if is_working_day(cal, day):
            opens, closes = _window(cal, day)
            if closes > start:
                yield max(opens, start), closes
        day += timedelta(days=1)
    raise ValueError("the calendar has no working time in the next ten years")


def business_day_length(cal: CalendarPolicy) -> timedelta:
    return timedelta(minutes=cal.end_minute - cal.start_minute)


def to_business_time(cal: CalendarPolicy, amount: str | timedelta) -> timedelta:
    """'8h' -> 8 business hours; '5d' -> 5 working days of the calendar's length."""
    if isinstance(amount, timedelta):
        return amount
    parse_duration(amount)  # refuses what is not a duration
    total = timedelta(0)
    # Each "d" part is a working day, also in mixed forms ("1d4h" = one day + 4 business hours).
    for number, unit in _DURATION_PART.findall(amount.strip().lower().replace(" ", "")):
        if unit == "d":
            total += business_day_length(cal) * float(number)
        else:
            total += timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    return total


def add_business_time(cal: CalendarPolicy, start: datetime, amount: str | timedelta) -> datetime:
    """The instant `amount` of working time after `start` (a UTC datetime).

    Time outside working hours, on non-working days and on holidays does not count.
    A deadline that uses up a day exactly falls at that day's close, not the next opening.
    """
    remaining = to_business_time(cal, amount)
    if remaining <= timedelta(0):
        return start.astimezone(UTC)
    for opens, closes in _windows_from(cal, start):
        available = closes - opens
        if remaining <= available:
            return opens + remaining
        remaining -= available
    raise AssertionError("unreachable")  # _windows_from raises first


def business_windows(cal: CalendarPolicy, start: datetime,
                     end: datetime) -> list[tuple[datetime, datetime]]:
    """The working windows between `start` and `end`, clipped to them, in order (none when
    end is not after start)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    windows: list[tuple[datetime, datetime]] = []
    if end <= start:
        return windows
    for opens, closes in _windows_from(cal, start):
        if opens >= end:
            break
        windows.append((opens, min(closes, end)))
    return windows


def business_time_between(cal: CalendarPolicy, start: datetime, end: datetime) -> timedelta:
    """Working time from `start` to `end` (zero when end is not after start)."""
    return sum((closes - opens for opens, closes in business_windows(cal, start, end)),
               timedelta(0))


def business_deadline(
    cal: CalendarPolicy, start: datetime, amount: str | timedelta, fraction: float = 1.0
) -> datetime:
    """The instant a `fraction` of a business-time target has passed (0.75 for a warning)."""
    return add_business_time(cal, start, to_business_time(cal, amount) * fraction)


def local_time(instant: datetime, cal: CalendarPolicy) -> datetime:
    """`instant` on the wall clock of the calendar's time zone (for what people read)."""
    return instant.astimezone(zone(cal))


def close_of_business_days_after(cal: CalendarPolicy, start: datetime, days: int) -> datetime:
    """Close of business on the `days`-th working day after the day of `start` (a
    regulator's "by close of business on the third business day following receipt")."""
    day = start.astimezone(zone(cal)).date()
    counted = 0
    for _ in range(3660):
        day += timedelta(days=1)
        if is_working_day(cal, day):
            counted += 1
            if counted == days:
                return _window(cal, day)[1]
    raise ValueError("the calendar has no working time in the next ten years")


def period_deadline(cal: CalendarPolicy, start: datetime, period: str,
                    fraction: float = 1.0) -> datetime:
    """The instant a `fraction` of a regulator's period from `start` has passed: calendar
    weeks and days count every hour; business days end at a close of business, and their
    fraction counts working time only."""
    n, unit = parse_period(period)
    if unit == "business_days":
        due = close_of_business_days_after(cal, start, n)
        if fraction >= 1.0:
            return due
        return add_business_time(cal, start, business_time_between(cal, start, due) * fraction)
    whole = timedelta(weeks=n) if unit == "weeks" else timedelta(days=n)
    return start.astimezone(UTC) + whole * fraction
