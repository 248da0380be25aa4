"""The SLA clocks: one deadline each, and the pausable customer-update clock.

A clock owns its deadline (in the spirit of samples-python's `updatable_timer`): it waits
on a durable timer until the deadline is met, superseded or falls due, warns at its
warning instant, and tells its owner what happened through the callbacks it was given.
It never reaches into the workflow; the workflow asks it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint.presentation import sla_summary
    from workflows.messages import ClearText, UpdateClockState
    from workflows.models import Deadline
    from workflows.policy import CalendarPolicy

ClockEvent = Callable[["SlaClock"], None]


async def wait_until(condition: Callable[[], bool], instant: datetime, summary: str) -> bool:
    """True when `condition` held by `instant`; False when `instant` came first."""
    if condition():
        return True
    remaining = instant - workflow.now()
    if remaining <= timedelta(0):
        return False
    try:
        await workflow.wait_condition(condition, timeout=remaining,
                                      timeout_summary=ClearText(summary))
        return True
    except TimeoutError:
        return False


class SlaClock:
    """One deadline: met, superseded (a newer clock or the complaint resolved), or breached
    at its due instant, with an optional warning before it."""

    def __init__(self, deadline: Deadline, what: str, *, on_warning: ClockEvent,
                 on_breach: ClockEvent) -> None:
        self.deadline = deadline
        self.what = what  # in the support team's words: "phone contact"
        self._on_warning = on_warning
        self._on_breach = on_breach
        self._moves = 0  # how often its due instant moved (a pause ended, a new policy)

    @property
    def name(self) -> str:
        return self.deadline.name

    @property
    def settled(self) -> bool:
        return self.deadline.met_at is not None or self.deadline.superseded

    @property
    def open(self) -> bool:
        """Still running: neither met, superseded nor breached."""
        return not self.settled and not self.deadline.breached

    def meet(self, at: datetime) -> bool:
        """Met at `at` (also after its breach: late). False if it was already settled."""
        if self.settled:
            return False
        self.deadline.met_at = at
        return True

    def supersede(self) -> bool:
        """No longer applies. False if it had already ended (met, breached or superseded)."""
        if not self.open:
            return False
        self.deadline.superseded = True
        return True

    # --- changes under way: paused for the customer, moved by a new policy ----------------

    @property
    def paused(self) -> bool:
        return self.deadline.paused_since is not None

    def pause(self, now: datetime) -> bool:
        """Stop counting (its timer is cancelled) until `resume`. False if not running."""
        if not self.open or self.paused:
            return False
        self.deadline.paused_since = now
        return True

    def resume(self, now: datetime, cal: CalendarPolicy) -> timedelta:
        """Count again: the due instant (and a warning still to come) moves by exactly the
        business time it was paused. Returns that time."""
        d = self.deadline
        if d.paused_since is None:
            return timedelta(0)
        paused = calendar.business_time_between(cal, d.paused_since, now)
        d.paused_since = None
        d.paused_for = (d.paused_for or timedelta(0)) + paused
        self.move(calendar.add_business_time(cal, d.due_at, paused),
                  calendar.add_business_time(cal, d.warn_at, paused)
                  if d.warn_at is not None and d.warned_at is None else d.warn_at)
        return paused

    def move(self, due_at: datetime, warn_at: datetime | None) -> None:
        """A new due instant (a pause ended, a new policy): the running timer is replaced."""
        d = self.deadline
        d.due_at, d.warn_at = due_at, warn_at
        d.summary = sla_summary(self.what, due_at)
        self._moves += 1

    async def run(self, until: Callable[[], bool] | None = None) -> None:
        """Wait out the deadline; `until` ends the wait early (the clock that replaced it).
        A pause stops the wait until it resumes; a move starts it again at the new instant
        (a clock never paused or moved waits exactly as it always did)."""
        d = self.deadline

        def done() -> bool:
            return self.settled or (until is not None and until())

        if d.breached:  # carried over by continue-as-new after its breach: nothing left to do
            return
        while not done():
            if self.paused:
                await workflow.wait_condition(lambda: done() or not self.paused)
                continue
            moves = self._moves

            def changed(moves: int = moves) -> bool:
                return done() or self.paused or self._moves != moves

            if d.warn_at is not None and d.warned_at is None:
                if not await wait_until(changed, d.warn_at, "Warning: " + d.summary):
                    d.warned_at = workflow.now()
                    self._on_warning(self)
                elif not done():
                    continue  # paused or moved before its warning
            if not await wait_until(changed, d.due_at, d.summary):
                # breached_at is the instant it fell due; the timeline records when it was
                # acted on (milliseconds later: a timer starts when the server records it).
                d.breached, d.breached_at = True, d.due_at
                self._on_breach(self)
                return


class CustomerUpdateClock:
    """SOP 3, silence is not acceptable: a substantive update at least every `every`.
    Each period is an SlaClock (warning at `warn_at` of it, escalation at its breach);
    a message restarts it, a proposal pauses it while the customer considers it, the
    resolution stops it. After a breach the next period starts only when an update is
    finally sent: one escalation per silence, not one per minute."""

    def __init__(self, every: timedelta, warn_at: float, state: UpdateClockState,
                 start_period: Callable[[datetime, datetime], SlaClock],
                 current: Callable[[], SlaClock | None],
                 running: SlaClock | None = None) -> None:
        self.every = every
        self.warn_fraction = warn_at
        self.state = state
        self._start_period = start_period  # (due, warn_at) -> the period's clock
        self._current = current  # the latest period's clock, if any
        self._running = running  # a period carried over by continue-as-new, still running

    @property
    def paused(self) -> bool:
        return self.state.paused_with is not None

    def restart(self, now: datetime) -> int:
        """A message went to the customer (the caller marks the period met): the next
        period starts from now. Returns the message's number (its outbox key)."""
        self.state.sent += 1
        self.state.due = now + self.every
        return self.state.sent

    def pause(self, now: datetime) -> None:
        assert self.state.due is not None
        self.state.paused_with = self.state.due - now

    def resume(self, now: datetime) -> datetime | None:
        """The customer answered: the clock runs again with the time it had left."""
        if self.state.paused_with is None:
            return None
        self.state.due = now + self.state.paused_with
        self.state.paused_with = None
        return self.state.due

    def stop(self) -> None:
        current = self._current()
        if current is not None and current.deadline.met_at is None:
            current.supersede()
        self.state.paused_with = None
        self.state.stopped = True

    async def run(self) -> None:
        s = self.state
        while not s.stopped:
            if s.paused_with is not None:
                await workflow.wait_condition(lambda: s.paused_with is None or s.stopped)
                continue
            assert s.due is not None
            period, self._running = self._running, None
            if period is None:
                period = self._start_period(s.due, s.due - self.every * (1 - self.warn_fraction))
            sent_before = s.sent

            def moved(sent_before: int = sent_before) -> bool:
                return s.sent != sent_before or s.paused_with is not None or s.stopped

            await period.run(until=moved)
            await workflow.wait_condition(moved)
