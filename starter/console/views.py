"""What the console's pages show, computed from the state: deadlines as countdowns, the
queue's lines, and instants in the policy's time zone.

A countdown is exact to the second in the browser (static/console.js). For a deadline in
business time (resolution targets, the refund decision) it counts only the working time
left: the page carries the policy's working windows up to the deadline, so the clock
stands still overnight and at weekends as the deadline itself does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starter.listing import ComplaintSummary
from workflows import calendar
from workflows.complaint import presentation as ui
from workflows.events import CUSTOMER_UPDATE, REFUND_APPROVAL, RESOLUTION, Event, deadline_type
from workflows.models import ComplaintState, Deadline, Status
from workflows.policy import CalendarPolicy

BUSINESS_TIME_KINDS = frozenset({RESOLUTION, REFUND_APPROVAL})
DUE_SOON = timedelta(minutes=15)  # for clocks without a warning instant of their own
MAX_WINDOWS = 400  # working windows carried to the page (over a year of working days)


@dataclass(frozen=True)
class Countdown:
    """One deadline on a page: what the `<span class="countdown">` says and counts."""

    what: str
    due_at: datetime
    due_local: str
    state: str  # open | paused (the update clock) | met | met late | breached | superseded
    warn_at: datetime
    business: bool
    windows: str  # JSON [[start, end], ...] of working time, for business-time clocks
    met_at_local: str | None = None

    @property
    def live(self) -> bool:
        return self.state in ("open", "paused")


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def countdown(d: Deadline, severity: int, cal: CalendarPolicy,
              now: datetime | None = None) -> Countdown:
    now = now or datetime.now(UTC)
    business = deadline_type(d.name) in BUSINESS_TIME_KINDS
    if d.superseded:
        state = "superseded"
    elif d.met_at is not None:
        state = "met late" if d.breached else "met"
    elif d.breached:
        state = "breached"
    elif d.paused_since is not None:  # waiting for the customer's information
        state = "paused"
    else:
        state = "open"
    windows: list[list[str]] = []
    if business and state == "open":
        windows = [[_iso(a), _iso(b)] for a, b in
                   calendar.business_windows(cal, now, d.due_at)[:MAX_WINDOWS]]
    return Countdown(
        what=ui.what_is_due(d.name, severity), due_at=d.due_at,
        due_local=(f"paused since {ui.local(d.paused_since, cal)}, waiting for the customer's "
                   f"information (due {ui.local(d.due_at, cal)} before the pause)"
                   if state == "paused" and d.paused_since else ui.local(d.due_at, cal)),
        state=state,
        warn_at=d.warn_at or d.due_at - DUE_SOON, business=business,
        windows=json.dumps(windows), met_at_local=ui.local(d.met_at, cal) if d.met_at else None)


def paused_update_clock(s: ComplaintState, cal: CalendarPolicy) -> Countdown | None:
    """While the customer considers a proposal the customer-update clock waits (it has no
    running period then): shown as paused, since the pause."""
    if s.status != Status.awaiting_customer and s.paused is None:
        return None
    since = next((e.at for e in reversed(s.timeline) if e.event == Event.update_clock_paused),
                 None)
    if since is None:
        return None
    return Countdown(what=ui.what_is_due(CUSTOMER_UPDATE, s.severity), due_at=since,
                     due_local=f"paused since {ui.local(since, cal)}", state="paused",
                     warn_at=since, business=False, windows="[]")


def countdowns(s: ComplaintState, cal: CalendarPolicy) -> list[Countdown]:
    """Every deadline of the complaint, the live ones first (soonest first; a paused update
    clock among them), then the rest as they happened."""
    all_ = [countdown(d, s.severity, cal) for d in s.deadlines]
    live = sorted((c for c in all_ if c.live), key=lambda c: c.due_at)
    paused = paused_update_clock(s, cal)
    return ([paused] if paused else []) + live + [c for c in all_ if not c.live]


@dataclass(frozen=True)
class QueueLine:
    summary: ComplaintSummary
    subject: str
    customer: str
    next_due: datetime | None
    next_due_local: str
    paused: bool

    @property
    def crn(self) -> str:
        return self.summary.crn

    @property
    def warn_at(self) -> datetime | None:
        return self.next_due - DUE_SOON if self.next_due else None


def queue_line(s: ComplaintSummary, subject: str | None, customer: str | None,
               cal: CalendarPolicy) -> QueueLine:
    return QueueLine(summary=s, subject=subject or "(being registered)",
                     customer=customer or s.customer_id or "",
                     next_due=s.next_deadline_at,
                     next_due_local=ui.local(s.next_deadline_at, cal) if s.next_deadline_at
                     else "none running",
                     paused=s.status == Status.awaiting_customer.value)


def iso(instant: datetime | None) -> str:
    return _iso(instant) if instant else ""
