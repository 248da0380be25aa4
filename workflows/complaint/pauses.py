"""Waiting on the customer: the owner asks for information (`request_information`), and
the resolution clock and the customer-update clock pause until the customer answers.

The request is emailed in the complaint's thread with a reply link (the `information`
question of the customer pages). A reply (by email, or on that page) resumes both clocks;
so does the staff update `resume`, with a reason. The pause lasts at most the policy's
`waiting.information_wait` (business time): a deadline of its own, whose warning at
`waiting.reminder_at` reminds the customer once and whose end resumes the clocks and tells
the owner. A paused deadline's due instant moves by exactly the business time it was paused
(clocks.py, `SlaClock.resume`); the customer-update clock keeps the time it had left.

Only histories with a `request_information` update take this path.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import SlaClock
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.events import INFORMATION_WAIT, RESOLUTION, Event
    from workflows.models import ClockPause, ClockResume, CustomerResponse, InformationRequest
    from workflows.permissions import is_customer_actor

WAITING = "waiting for the customer's information"


class Pauses:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation, customer: CustomerContact) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation
        self.customer = customer
        # The wait's warning reminds the customer; its end resumes the clocks (no SLA breach).
        deadlines.on(INFORMATION_WAIT, warning=self._remind, breach=self._wait_ended)

    def _asked(self) -> int:
        return sum(1 for e in self.case.state.timeline if e.event == Event.information_requested)

    def request(self, request: InformationRequest) -> None:
        """Emailed, and the clocks pause. Checked already (rules.request_information)."""
        case = self.case
        s, now = case.state, workflow.now()
        member = self.escalation.acted(request.actor)
        assert member is not None  # staff only (the rule)
        # A substantive message: the update period it falls in is met, as for an update.
        self.customer.message("information_request", request.message, member)
        n = self._asked() + 1
        case.log(Event.information_requested, request.actor, ui.excerpt(request.message))
        waiting = case.policy_now.waiting
        cal = case.policy_now.calendar
        wait = self.deadlines.start(
            ui.next_name(s, INFORMATION_WAIT),
            calendar.business_deadline(cal, now, waiting.information_wait),
            warn_at=calendar.business_deadline(cal, now, waiting.information_wait,
                                               waiting.reminder_at))
        s.paused = ClockPause(since=now, reason=WAITING, actor=request.actor,
                              wait=wait.name)
        self.customer.pause_update_clock()
        resolution = self._resolution_clock()
        paused = resolution is not None and resolution.pause(now)
        case.log(Event.clocks_paused, request.actor,
                 f"{WAITING} (request {n}): the resolution and customer-update clocks wait; "
                 f"at the latest until {ui.clock(wait.deadline.due_at)}",
                 reason=WAITING, deadline=resolution.name if paused and resolution else None)
        metrics.clocks_paused()
        self.effects.changed()

    def customer_answered(self, reply: CustomerResponse) -> None:
        """A reply while the clocks wait for it (by email, the page, or staff recording it)."""
        if self.case.state.paused is None:
            return
        by = "the customer replied" if is_customer_actor(reply.actor) else "reply recorded"
        self._resume(reply.actor, by, met=True)

    def resume(self, request: ClockResume) -> None:
        """The staff's `resume`. Checked already (rules.resume)."""
        self.escalation.acted(request.actor)
        self._resume(request.actor, f"resumed: {ui.excerpt(request.reason)}", met=False,
                     reason=request.reason)

    def ended(self) -> None:
        """Resolved, withdrawn or dismissed while paused: nothing waits any more."""
        self.case.state.paused = None

    def _resolution_clock(self) -> SlaClock | None:
        return self.deadlines.get(ui.latest(self.case.state, RESOLUTION))

    def _resume(self, actor: str, how: str, *, met: bool, reason: str | None = None) -> None:
        case = self.case
        s, now = case.state, workflow.now()
        pause = s.paused
        assert pause is not None
        s.paused = None
        wait = s.deadline(pause.wait)
        if wait is not None:
            if met:
                self.deadlines.mark_met(wait.name, actor, how)
            else:
                self.deadlines.supersede(wait, how)
        self.customer.resume_update_clock()
        resolution = self._resolution_clock()
        paused_for = (resolution.resume(now, case.policy_now.calendar)
                      if resolution is not None and resolution.paused else None)
        detail = how
        if resolution is not None and paused_for is not None:
            detail += (f"; {resolution.name} now due {ui.clock(resolution.deadline.due_at)} "
                       f"(paused {_hours(paused_for)} of business time)")
        case.log(Event.clocks_resumed, actor, detail, reason=reason or how,
                 deadline=resolution.name if paused_for is not None and resolution else None)
        self.effects.changed()

    # --- the wait's reminder and its end ----------------------------------------------------

    def _remind(self, clock: SlaClock) -> None:
        case = self.case
        to = case.customer_email()
        if to is not None and case.state.paused is not None:
            self.effects.email(f"information_reminder:{self._asked()}", [to],
                               "information_reminder", {
                                   **case.mail_context(), "owner_name": case.name(case.state.owner),
                                   **case.when("due", clock.deadline.due_at)})

    def _wait_ended(self, clock: SlaClock) -> None:
        """No answer within `information_wait`: the clocks run again, the owner is told."""
        case = self.case
        if case.state.paused is None:
            return
        waited = case.policy_now.waiting.information_wait
        self._resume(SYSTEM, f"no answer within {waited} (business time)", met=False)
        owner = case.roster.get(case.state.owner or "")
        if owner is not None:
            self.effects.email(f"information_wait_ended:{self._asked()}", [owner.email],
                               "information_wait_ended", {
                                   **case.mail_context(), "owner_name": owner.name,
                                   "waited": waited})


def _hours(paused: timedelta) -> str:
    minutes = int(paused.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}m" if m else f"{h}h"
