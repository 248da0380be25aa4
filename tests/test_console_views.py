"""What the console's countdowns carry (starter/console/views.py), without a server: a
business-time deadline counts only working windows; each outcome reads as itself. (The
paused update clock is shown on a real complaint: test_console.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starter.console.views import countdown
from workflows.models import Deadline
from workflows.policy import CalendarPolicy

UTC_9_TO_5 = CalendarPolicy(timezone="UTC", working_days=["mon", "tue", "wed", "thu", "fri"],
                               day_starts="09:00", day_ends="17:00")
FRIDAY_4PM = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
MONDAY_10AM = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_a_resolution_clock_counts_the_working_time_left_over_a_weekend():
    d = Deadline(name="resolution", due_at=MONDAY_10AM)
    c = countdown(d, 2, UTC_9_TO_5, now=FRIDAY_4PM)
    assert (c.state, c.business) == ("open", True)
    assert c.windows == ('[["2026-12-04T16:00:00Z", "2026-12-04T17:00:00Z"], '
                         '["2026-12-07T09:00:00Z", "2026-12-07T10:00:00Z"]]')
    assert c.warn_at == MONDAY_10AM - timedelta(minutes=15)  # no warning instant of its own


def test_a_wall_clock_deadline_carries_no_windows_and_keeps_its_warning():
    warn = FRIDAY_4PM + timedelta(hours=3)
    d = Deadline(name="phone_contact", due_at=FRIDAY_4PM + timedelta(hours=4), warn_at=warn)
    c = countdown(d, 2, UTC_9_TO_5, now=FRIDAY_4PM)
    assert (c.state, c.business, c.windows, c.warn_at) == ("open", False, "[]", warn)


def test_outcomes():
    due = FRIDAY_4PM + timedelta(hours=1)
    cases = {
        "open": Deadline(name="phone_contact", due_at=due),
        "met": Deadline(name="phone_contact", due_at=due, met_at=FRIDAY_4PM),
        "met late": Deadline(name="phone_contact", due_at=due, met_at=due, breached=True),
        "breached": Deadline(name="phone_contact", due_at=due, breached=True),
        "superseded": Deadline(name="phone_contact", due_at=due, superseded=True),
    }
    states = {want: countdown(d, 3, UTC_9_TO_5, now=FRIDAY_4PM).state
              for want, d in cases.items()}
    assert states == {want: want for want in cases}
