"""The business-hours calendar (workflows/calendar.py), every expected instant worked out by hand.

London is on GMT (UTC+0) from 2026-10-25 to 2027-03-28 and on BST (UTC+1) from
2026-03-29 to 2026-10-24, so November/December cases read the same in London and UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflows.calendar import (
    add_business_time,
    business_deadline,
    business_time_between,
    is_working_day,
    period_deadline,
    to_business_time,
)
from workflows.policy import (
    DEMO_POLICY_PATH,
    WEEKDAYS,
    CalendarPolicy,
    load_policy,
    parse_period,
    snapshot_policy,
)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


# The default policy (Europe/London 09:00-17:00 Mon-Fri, GB/ENG holidays), as a complaint
# received on Fri 2026-11-27 18:00 UTC keeps it: holidays resolved for 2026-2028.
LONDON = snapshot_policy(load_policy(), utc(2026, 11, 27, 18)).calendar
NEW_YORK = CalendarPolicy(timezone="America/New_York")  # 09:00-17:00 Mon-Fri, no holidays
TOKYO = CalendarPolicy(timezone="Asia/Tokyo", day_ends="18:00")  # 09:00-18:00 = 9 h days
# 09:00-17:00 PST = 17:00-01:00 UTC: the working day straddles midnight UTC
LOS_ANGELES = CalendarPolicy(timezone="America/Los_Angeles")
DEMO = load_policy(DEMO_POLICY_PATH).calendar  # UTC, 00:00-24:00, every day
LONDON_24_7 = CalendarPolicy(
    timezone="Europe/London", working_days=list(WEEKDAYS), day_starts="00:00", day_ends="24:00"
)


# --- add_business_time: the default London calendar ---------------------------------

LONDON_CASES = [
    # (start, amount, expected, reasoning)
    pytest.param(
        utc(2026, 11, 27, 18),
        "8h",
        utc(2026, 11, 30, 17),
        id="sev1-friday-evening",
    ),  # Fri 18:00 is after close; Sat/Sun skipped; Mon 09:00 + 8 h = Mon 17:00 (GMT = UTC)
    pytest.param(
        utc(2026, 11, 24, 10, 30),
        "8h",
        utc(2026, 11, 25, 10, 30),
        id="sev1-tuesday-mid-morning",
    ),  # Tue 10:30-17:00 = 6.5 h, then Wed 09:00 + 1.5 h = Wed 10:30
    pytest.param(
        utc(2026, 11, 28, 12),
        "1h",
        utc(2026, 11, 30, 10),
        id="received-saturday",
    ),  # Sat and Sun do not count: Mon 09:00 + 1 h
    pytest.param(
        utc(2026, 11, 27, 16),
        "2h",
        utc(2026, 11, 30, 10),
        id="friday-afternoon-spans-weekend",
    ),  # Fri 16:00-17:00 = 1 h, then Mon 09:00 + 1 h
    pytest.param(
        utc(2026, 12, 24, 13),
        "8h",
        utc(2026, 12, 29, 13),
        id="christmas-and-boxing-day-substitute",
    ),  # Thu 24th 13:00-17:00 = 4 h; Fri 25th Christmas; Sat/Sun; Mon 28th Boxing Day
    #     (observed, as the 26th is a Saturday); Tue 29th 09:00 + 4 h = 13:00
    pytest.param(
        utc(2026, 4, 2, 14),
        "8h",
        utc(2026, 4, 7, 14),
        id="easter-bst",
    ),  # Thu 2 Apr 14:00 UTC = 15:00 BST; 15:00-17:00 = 2 h; Good Friday, weekend, Easter
    #     Monday off; Tue 7th 09:00 BST (08:00 UTC) + 6 h = 14:00 UTC
    pytest.param(
        utc(2026, 11, 24, 7, 30),
        "8h",
        utc(2026, 11, 24, 17),
        id="before-opening-full-day",
    ),  # nothing counts before 09:00: 09:00 + 8 h = 17:00 the same day (its close, not Wed 09:00)
    pytest.param(
        utc(2026, 11, 24, 7, 30),
        "2h",
        utc(2026, 11, 24, 11),
        id="before-opening-two-hours",
    ),  # 09:00 + 2 h
    pytest.param(
        utc(2026, 11, 24, 17),
        "8h",
        utc(2026, 11, 25, 17),
        id="exactly-at-close",
    ),  # Tue's window is used up at 17:00: Wed 09:00 + 8 h = Wed 17:00
    pytest.param(
        utc(2026, 11, 24, 17),
        "1h",
        utc(2026, 11, 25, 10),
        id="exactly-at-close-one-hour",
    ),  # Wed 09:00 + 1 h
    pytest.param(
        utc(2026, 11, 23, 9),
        "5d",
        utc(2026, 11, 27, 17),
        id="five-working-days",
    ),  # 5 d = 5 x 8 h = 40 h: Mon, Tue, Wed, Thu, Fri, each 09:00-17:00 -> Fri 17:00
    pytest.param(
        utc(2026, 11, 24, 10, 30),
        "24h",
        utc(2026, 11, 27, 10, 30),
        id="sev2-24-business-hours",
    ),  # Tue 6.5 h + Wed 8 h + Thu 8 h = 22.5 h; Fri 09:00 + 1.5 h = Fri 10:30
    pytest.param(
        utc(2026, 11, 23, 9),
        "1d4h",
        utc(2026, 11, 24, 13),
        id="mixed-day-and-hours",
    ),  # 1 working day (8 h) + 4 h = 12 h: Mon 8 h, Tue 09:00 + 4 h = 13:00
    pytest.param(
        utc(2026, 11, 24, 15),
        timedelta(hours=3),
        utc(2026, 11, 25, 10),
        id="timedelta-amount",
    ),  # Tue 15:00-17:00 = 2 h, Wed 09:00 + 1 h
    pytest.param(
        utc(2026, 3, 27, 13),
        "8h",
        utc(2026, 3, 30, 12),
        id="dst-spring-forward",
    ),  # Fri 27 Mar 13:00 GMT: 4 h to 17:00; clocks go forward Sun 29th; Mon 30th opens at
    #     09:00 BST = 08:00 UTC, + 4 h = 12:00 UTC (13:00 BST)
    pytest.param(
        utc(2026, 10, 23, 14),
        "8h",
        utc(2026, 10, 26, 15),
        id="dst-fall-back",
    ),  # Fri 23 Oct 14:00 UTC = 15:00 BST: 2 h to 17:00 BST; clocks go back Sun 25th;
    #     Mon 26th opens at 09:00 GMT = 09:00 UTC, + 6 h = 15:00 UTC
]


@pytest.mark.parametrize(("start", "amount", "expected"), LONDON_CASES)
def test_add_business_time_london(start: datetime, amount, expected: datetime) -> None:
    assert add_business_time(LONDON, start, amount) == expected


def test_result_is_utc_whatever_zone_the_start_is_in() -> None:
    # Tue 2 Jun 2026 10:00 BST = 09:00 UTC; + 1 h = 10:00 UTC, returned as a UTC datetime.
    start = datetime(2026, 6, 2, 10, 0, tzinfo=ZoneInfo("Europe/London"))
    due = add_business_time(LONDON, start, "1h")
    assert due == utc(2026, 6, 2, 10)
    assert due.tzinfo is UTC


def test_zero_amount_is_the_start_even_out_of_hours() -> None:
    # Nothing to add: Sat 12:00 stays Sat 12:00 (not moved to Monday's opening).
    assert add_business_time(LONDON, utc(2026, 11, 28, 12), timedelta(0)) == utc(2026, 11, 28, 12)


def test_unresolved_policy_does_not_know_bank_holidays() -> None:
    # The policy as loaded has no dates yet (holidays are resolved by snapshot_policy), so
    # Christmas Day counts: Thu 24th 4 h + Fri 25th 09:00 + 4 h = Fri 13:00. The snapshot
    # gives Tue 29th (see christmas case above).
    raw = load_policy().calendar
    assert add_business_time(raw, utc(2026, 12, 24, 13), "8h") == utc(2026, 12, 25, 13)


def test_extra_company_holiday() -> None:
    # Christmas Eve 2026 (Thu) as a company day off.
    policy = load_policy()
    policy = policy.model_copy(
        update={
            "calendar": policy.calendar.model_copy(update={"extra_holidays": [date(2026, 12, 24)]})
        }
    )
    cal = snapshot_policy(policy, utc(2026, 12, 23, 13)).calendar
    assert not is_working_day(cal, date(2026, 12, 24))
    # Wed 23rd 13:00-17:00 = 4 h; Thu 24th (company), Fri 25th, weekend, Mon 28th off;
    # Tue 29th 09:00 + 4 h = 13:00.
    assert add_business_time(cal, utc(2026, 12, 23, 13), "8h") == utc(2026, 12, 29, 13)
    # Without the company day: Wed 4 h + Thu 24th 09:00 + 4 h = Thu 13:00.
    assert add_business_time(LONDON, utc(2026, 12, 23, 13), "8h") == utc(2026, 12, 24, 13)


# --- business_deadline ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "amount", "fraction", "expected"),
    [
        # 75% of 8 h = 6 h: Tue 09:00 + 6 h = 15:00
        (utc(2026, 11, 24, 9), "8h", 0.75, utc(2026, 11, 24, 15)),
        # Fri 18:00 is closed: Mon 09:00 + 6 h = Mon 15:00
        (utc(2026, 11, 27, 18), "8h", 0.75, utc(2026, 11, 30, 15)),
        # 75% of 5 d = 30 h: Mon 8, Tue 16, Wed 24, Thu 09:00 + 6 h = Thu 15:00
        (utc(2026, 11, 23, 9), "5d", 0.75, utc(2026, 11, 26, 15)),
        # the whole target (default fraction checked below): Tue 10:30 + 8 h = Wed 10:30
        (utc(2026, 11, 24, 10, 30), "8h", 1.0, utc(2026, 11, 25, 10, 30)),
        # half of 1 h = 30 min from Tue 16:50: 10 min Tue, Wed 09:00 + 20 min
        (utc(2026, 11, 24, 16, 50), "1h", 0.5, utc(2026, 11, 25, 9, 20)),
    ],
)
def test_business_deadline(start, amount, fraction, expected) -> None:
    assert business_deadline(LONDON, start, amount, fraction) == expected


def test_business_deadline_default_fraction_is_the_whole_target() -> None:
    # Same as add_business_time: Fri 18:00 + 8 h -> Mon 17:00
    assert business_deadline(LONDON, utc(2026, 11, 27, 18), "8h") == utc(2026, 11, 30, 17)


# --- to_business_time -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "amount", "expected"),
    [
        (LONDON, "8h", timedelta(hours=8)),  # hours are hours
        (LONDON, "5d", timedelta(hours=40)),  # 5 working days x 8 h
        (LONDON, "1.5d", timedelta(hours=12)),  # 1.5 x 8 h
        (LONDON, "90m", timedelta(minutes=90)),
        (LONDON, "1d4h", timedelta(hours=12)),  # 8 h + 4 h
        (LONDON, " 2D ", timedelta(hours=16)),  # trimmed, case-insensitive: 2 x 8 h
        (LONDON, timedelta(hours=3), timedelta(hours=3)),  # a timedelta is taken as is
        (TOKYO, "1d", timedelta(hours=9)),  # 09:00-18:00
        (DEMO, "1d", timedelta(hours=24)),  # 00:00-24:00
        (DEMO, "40m", timedelta(minutes=40)),
    ],
)
def test_to_business_time(cal: CalendarPolicy, amount, expected: timedelta) -> None:
    assert to_business_time(cal, amount) == expected


@pytest.mark.parametrize("amount", ["1 hour", "", "0d", "-1d", "5 days"])
def test_to_business_time_refuses_non_durations(amount: str) -> None:
    with pytest.raises(ValueError):
        to_business_time(LONDON, amount)


# --- is_working_day ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "day", "expected"),
    [
        (LONDON, date(2026, 11, 30), True),  # Mon
        (LONDON, date(2026, 11, 27), True),  # Fri
        (LONDON, date(2026, 11, 28), False),  # Sat
        (LONDON, date(2026, 11, 29), False),  # Sun
        (LONDON, date(2026, 12, 24), True),  # Christmas Eve is no bank holiday in England
        (LONDON, date(2026, 12, 25), False),  # Christmas Day (Fri)
        (LONDON, date(2026, 12, 28), False),  # Boxing Day substitute (Mon)
        (LONDON, date(2026, 12, 29), True),  # Tue
        (LONDON, date(2026, 5, 4), False),  # Early May bank holiday (Mon)
        (LONDON, date(2027, 3, 29), False),  # Easter Monday 2027: within the 2-year snapshot
        (load_policy().calendar, date(2026, 12, 25), True),  # unresolved: only weekdays known
        (CalendarPolicy(working_days=["sat", "sun"]), date(2026, 11, 28), True),  # Sat
        (CalendarPolicy(working_days=["sat", "sun"]), date(2026, 11, 30), False),  # Mon
        (CalendarPolicy(holidays=[date(2026, 11, 30)]), date(2026, 11, 30), False),
        (DEMO, date(2026, 11, 29), True),  # Sunday counts in the 24/7 demo
    ],
)
def test_is_working_day(cal: CalendarPolicy, day: date, expected: bool) -> None:
    assert is_working_day(cal, day) is expected


# --- business_time_between ----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Tue 10:30 -> Wed 10:30: 6.5 h + 1.5 h
        (utc(2026, 11, 24, 10, 30), utc(2026, 11, 25, 10, 30), timedelta(hours=8)),
        # Fri 18:00 -> Mon 17:00: only Monday 09:00-17:00
        (utc(2026, 11, 27, 18), utc(2026, 11, 30, 17), timedelta(hours=8)),
        # Fri 16:00 -> Mon 10:00: 1 h + 1 h
        (utc(2026, 11, 27, 16), utc(2026, 11, 30, 10), timedelta(hours=2)),
        # the whole weekend: nothing
        (utc(2026, 11, 28, 0), utc(2026, 11, 29, 23, 59), timedelta(0)),
        # end before start: nothing
        (utc(2026, 11, 25), utc(2026, 11, 24), timedelta(0)),
        # Tue 07:00 -> Tue 20:00: clipped to 09:00-17:00
        (utc(2026, 11, 24, 7), utc(2026, 11, 24, 20), timedelta(hours=8)),
        # Thu 24 Dec 13:00 -> Tue 29 Dec 13:00: 4 h + (holidays, weekend) + 4 h
        (utc(2026, 12, 24, 13), utc(2026, 12, 29, 13), timedelta(hours=8)),
        # Mon 09:00 -> Fri 17:00: five full days
        (utc(2026, 11, 23, 9), utc(2026, 11, 27, 17), timedelta(hours=40)),
        # across spring-forward: Fri 13:00-17:00 GMT (4 h) + Mon 08:00-12:00 UTC (4 h)
        (utc(2026, 3, 27, 13), utc(2026, 3, 30, 12), timedelta(hours=8)),
    ],
)
def test_business_time_between_london(start, end, expected) -> None:
    assert business_time_between(LONDON, start, end) == expected


@pytest.mark.parametrize(
    "start",
    [
        utc(2026, 11, 27, 18),  # Fri after close
        utc(2026, 11, 24, 10, 30),  # Tue mid-morning
        utc(2026, 12, 23, 16, 15),  # just before the Christmas break
        utc(2026, 3, 27, 13),  # before the spring DST change
    ],
)
@pytest.mark.parametrize(
    ("amount", "business"),
    [
        ("8h", timedelta(hours=8)),
        ("5d", timedelta(hours=40)),
        ("45m", timedelta(minutes=45)),
        ("1d4h", timedelta(hours=12)),
    ],
)
def test_between_inverts_add(start: datetime, amount: str, business: timedelta) -> None:
    # Counting the working time from start to the deadline gives back the target.
    due = add_business_time(LONDON, start, amount)
    assert due > start
    assert business_time_between(LONDON, start, due) == business


def test_add_inverts_between_for_an_instant_in_working_hours() -> None:
    # Fri 18:00 -> Tue 1 Dec 11:15 = Mon 8 h + Tue 2 h 15 m = 10 h 15 m of business time,
    # and adding those 10 h 15 m to Fri 18:00 lands on Tue 11:15 again.
    start, end = utc(2026, 11, 27, 18), utc(2026, 12, 1, 11, 15)
    between = business_time_between(LONDON, start, end)
    assert between == timedelta(hours=10, minutes=15)
    assert add_business_time(LONDON, start, between) == end


# --- other time zones -------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "start", "amount", "expected"),
    [
        # New York, EST (UTC-5) in November: Tue 09:00 EST = 14:00 UTC; + 8 h = 17:00 EST = 22:00 UTC
        (NEW_YORK, utc(2026, 11, 10, 14), "8h", utc(2026, 11, 10, 22)),
        # Fri 21:00 UTC = 16:00 EST: 1 h Fri; Mon 09:00 EST = 14:00 UTC + 7 h = 21:00 UTC
        (NEW_YORK, utc(2026, 11, 13, 21), "8h", utc(2026, 11, 16, 21)),
        # Tue 10 Nov 23:00 UTC is still Tue 18:00 EST (closed): Wed 09:00 EST = 14:00 UTC + 1 h
        (NEW_YORK, utc(2026, 11, 10, 23), "1h", utc(2026, 11, 11, 15)),
        # US DST starts Sun 8 Mar 2026. Fri 6 Mar 21:00 UTC = 16:00 EST: 1 h; Mon 9 Mar
        # 09:00 EDT = 13:00 UTC + 7 h = 20:00 UTC
        (NEW_YORK, utc(2026, 3, 6, 21), "8h", utc(2026, 3, 9, 20)),
        # Los Angeles: Fri 13 Nov 16:30 PST is already Sat 14 Nov 00:30 UTC, yet Friday's
        # window (until 01:00 UTC) is still open: 30 min Fri; Mon 16 Nov 09:00 PST = 17:00 UTC
        # + 30 min = 17:30 UTC
        (LOS_ANGELES, utc(2026, 11, 14, 0, 30), "1h", utc(2026, 11, 16, 17, 30)),
        # Tue 10 Nov 16:00 PST = Wed 11 Nov 00:00 UTC; + 8 h: 1 h Tue, Wed 09:00 PST
        # (17:00 UTC) + 7 h = Thu 12 Nov 00:00 UTC (Wed 16:00 PST)
        (LOS_ANGELES, utc(2026, 11, 11, 0), "8h", utc(2026, 11, 12, 0)),
        # Tokyo (UTC+9, no DST), 09:00-18:00. Fri 5 Jun 06:00 UTC = 15:00 JST: 3 h Fri;
        # Mon 8 Jun 09:00 JST = 00:00 UTC + 5 h = 05:00 UTC
        (TOKYO, utc(2026, 6, 5, 6), "8h", utc(2026, 6, 8, 5)),
        # Mon 8 Jun 08:00 UTC = 17:00 JST: 1 h Mon; Tue 9 Jun 09:00 JST = 00:00 UTC, + 1 h
        (TOKYO, utc(2026, 6, 8, 8), "2h", utc(2026, 6, 9, 1)),
        # Sun 7 Jun 23:30 UTC is already Mon 08:30 JST: opens 09:00 JST = 00:00 UTC, + 1 h
        (TOKYO, utc(2026, 6, 7, 23, 30), "1h", utc(2026, 6, 8, 1)),
        # one Tokyo working day is 9 h: Mon 09:00 JST -> Mon 18:00 JST = 09:00 UTC
        (TOKYO, utc(2026, 6, 8, 0), "1d", utc(2026, 6, 8, 9)),
    ],
)
def test_add_business_time_other_zones(cal, start, amount, expected) -> None:
    assert add_business_time(cal, start, amount) == expected


def test_new_york_between_across_dst() -> None:
    # Fri 6 Mar 21:00 UTC (16:00 EST) -> Mon 9 Mar 20:00 UTC (16:00 EDT): 1 h + 7 h
    assert business_time_between(NEW_YORK, utc(2026, 3, 6, 21), utc(2026, 3, 9, 20)) == timedelta(
        hours=8
    )


# --- the demo 24/7 calendar: business time is wall time ----------------------------


@pytest.mark.parametrize(
    ("start", "amount", "expected"),
    [
        (utc(2026, 11, 27, 18), "8m", utc(2026, 11, 27, 18, 8)),  # Fri evening counts
        (utc(2026, 11, 28, 23, 50), "40m", utc(2026, 11, 29, 0, 30)),  # Sat -> Sun midnight
        (utc(2026, 12, 24, 12), "1d", utc(2026, 12, 25, 12)),  # 1 d = 24 h, Christmas counts
        (utc(2026, 11, 27, 18), "8h", utc(2026, 11, 28, 2)),  # 8 h straight through the night
    ],
)
def test_demo_calendar_is_wall_time(start, amount, expected) -> None:
    assert add_business_time(DEMO, start, amount) == expected


def test_demo_between_is_wall_time() -> None:
    # Fri 18:00 -> Mon 17:00 is 71 wall-clock hours, all of them business time
    assert business_time_between(DEMO, utc(2026, 11, 27, 18), utc(2026, 11, 30, 17)) == timedelta(
        hours=71
    )


def test_24_7_calendar_in_london_across_dst() -> None:
    # Every local day is one window midnight -> midnight; Sun 29 Mar 2026 is 23 h long, the
    # windows still tile time without gap or overlap: 48 business hours = 48 wall hours.
    start = utc(2026, 3, 28, 12)
    assert add_business_time(LONDON_24_7, start, "48h") == utc(2026, 3, 30, 12)
    assert business_time_between(LONDON_24_7, start, utc(2026, 3, 30, 12)) == timedelta(hours=48)
    # and autumn (Sun 25 Oct is 25 h long)
    start = utc(2026, 10, 24, 12)
    assert add_business_time(LONDON_24_7, start, "48h") == utc(2026, 10, 26, 12)


# --- a calendar without working time --------------------------------------------------


def _every_monday_from(first: date, weeks: int) -> list[date]:
    return [first + timedelta(weeks=n) for n in range(weeks)]


def test_calendar_with_no_working_time_in_ten_years_raises() -> None:
    # Mondays only, and every Monday from 2026-01-05 for 540 weeks (> 10 years) a holiday.
    cal = CalendarPolicy(working_days=["mon"], holidays=_every_monday_from(date(2026, 1, 5), 540))
    with pytest.raises(ValueError, match="no working time"):
        add_business_time(cal, utc(2026, 1, 1), "1h")
    with pytest.raises(ValueError, match="no working time"):
        business_time_between(cal, utc(2026, 1, 1), utc(2040, 1, 1))


def test_first_working_day_far_away_is_still_found() -> None:
    # Same, but only 450 Mondays are holidays (weeks 0..449): the first working Monday is
    # week 450, 2026-01-05 + 3150 days = 2034-08-21 (within the ten-year horizon); a UTC
    # calendar, so 09:00 + 1 h = 10:00 UTC.
    cal = CalendarPolicy(working_days=["mon"], holidays=_every_monday_from(date(2026, 1, 5), 450))
    assert add_business_time(cal, utc(2026, 1, 1), "1h") == utc(2034, 8, 21, 10)


# --- a regulator's periods (the FCA's DISP, the CFPB) ----------------------------------------


def test_business_days_end_at_the_close_of_the_nth_working_day_after_receipt():
    # Received Wed 23 Dec 2026 14:00 (GMT): Thu 24 is the first business day, Christmas Day
    # (Fri 25) and Boxing Day's substitute (Mon 28) are bank holidays, Tue 29 the second,
    # Wed 30 the third: due at its close, 17:00.
    received = utc(2026, 12, 23, 14)
    assert period_deadline(LONDON, received, "3 business days") == utc(2026, 12, 30, 17)
    # 75% of the working time in between, for its warning: 3 h on Wed 23 + 8 h Thu 24 + 8 h
    # Tue 29 + 8 h Wed 30 = 27 h; 20.25 h in is 1.25 h into Wed 30: 10:15.
    assert period_deadline(LONDON, received, "3 business days", 0.75) == utc(2026, 12, 30, 10, 15)


def test_calendar_weeks_and_days_count_every_hour():
    received = utc(2026, 12, 23, 14)
    assert period_deadline(LONDON, received, "8 weeks") == utc(2027, 2, 17, 14)
    assert period_deadline(LONDON, received, "8 weeks", 0.75) == utc(2027, 2, 3, 14)
    assert period_deadline(NEW_YORK, received, "15 days") == utc(2027, 1, 7, 14)
    assert period_deadline(NEW_YORK, received, "60 days") == utc(2027, 2, 21, 14)


@pytest.mark.parametrize("bad", ["8", "eight weeks", "0 days", "3 working days", "-1 weeks"])
def test_a_period_that_is_not_one_is_refused(bad: str):
    with pytest.raises(ValueError, match="is not a period"):
        parse_period(bad)
