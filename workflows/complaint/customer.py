"""Keeping the customer informed: the customer-update clock (silence is not acceptable: a
substantive update at least every 24 hours), the messages that restart it, the pause while
the customer considers a proposal, asking for the written sign-off, and telling the owner
when the customer writes.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint import presentation as ui
    from workflows.complaint import rules
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import CustomerUpdateClock, SlaClock
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.events import CUSTOMER_SIGN_OFF, CUSTOMER_UPDATE, Event
    from workflows.models import CustomerResponse
    from workflows.permissions import is_customer_actor
    from workflows.records import StaffMember

# Patches (workflow.patched) for what the email channel added to running complaints.
ASK_FOR_SIGN_OFF = "ask-customer-for-sign-off"
REPLY_NOTIFIES_OWNER = "customer-reply-notifies-owner"
SIGN_OFF_WAIT = "sign-off-wait"


class CustomerContact:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.update_clock: CustomerUpdateClock | None = None

    # --- the customer-update clock --------------------------------------------------------

    def start_update_clock(self, running: SlaClock | None) -> None:
        """Start (or, after continue-as-new, pick up with its `running` period) the clock."""
        comms = self.case.policy_now.communication

        def start_period(due: datetime, warn_at: datetime) -> SlaClock:
            return self.deadlines.start(ui.next_name(self.case.state, CUSTOMER_UPDATE), due,
                                        warn_at=warn_at, watch=False)

        self.update_clock = CustomerUpdateClock(
            comms.customer_update_every, comms.warn_at, self.case.update_clock, start_period,
            current=lambda: self.deadlines.get(ui.latest(self.case.state, CUSTOMER_UPDATE)),
            running=running)
        self.effects.spawn(self.update_clock.run(), "the customer-update clock", watcher=True)

    def message(self, kind: str, message: str, member: StaffMember) -> None:
        """A substantive message to the customer: emailed, and the update clock restarts."""
        assert self.update_clock is not None
        case = self.case
        to = case.customer_email()
        assert to is not None  # validators refuse when there is nowhere to write
        n = self.update_clock.restart(workflow.now())
        self.effects.email(f"{kind}:{n}", [to], kind,
                           {**case.mail_context(), "message": message, "owner_name": member.name})
        self.deadlines.mark_met(ui.latest(case.state, CUSTOMER_UPDATE), member.id,
                                kind.replace("_", " "))

    def pause_update_clock(self) -> None:
        assert self.update_clock is not None
        self.update_clock.pause(workflow.now())
        self.case.log(Event.update_clock_paused, SYSTEM, "waiting for the customer")

    def resume_update_clock(self) -> None:
        assert self.update_clock is not None
        due = self.update_clock.resume(workflow.now())
        if due is not None:
            self.case.log(Event.update_clock_resumed, SYSTEM,
                          f"next customer update due {ui.clock(due)}", deadline=CUSTOMER_UPDATE)

    def stop_update_clock(self) -> None:
        self.case.state.paused = None  # resolved or ended: nothing waits for the customer
        if self.update_clock is not None:
            self.update_clock.stop()

    # --- the written sign-off ---------------------------------------------------------------

    def ask_for_sign_off(self) -> None:
        """Once everything the customer agreed to is done (the fix deployed, the money
        applied), ask them for "Resolution Confirmed": by reply, or by the sign-off link the
        email activity adds. Once per agreement."""
        case = self.case
        s = case.state
        if not workflow.patched(ASK_FOR_SIGN_OFF) or not rules.ready_for_sign_off(s):
            return
        agreed = [e.seq for e in s.timeline if e.event == Event.customer_agreed]
        asked = [e.seq for e in s.timeline if e.event == Event.sign_off_requested]
        to = case.customer_email()
        if not agreed or (asked and asked[-1] > agreed[-1]) or to is None:
            return
        case.log(Event.sign_off_requested, SYSTEM, f"asked {to} to reply \"Resolution Confirmed\"")
        self.effects.email(f"sign_off_request:{len(agreed)}", [to], "sign_off_request",
                           {**case.mail_context(), "owner_name": case.name(s.owner)})
        if workflow.patched(SIGN_OFF_WAIT):
            # A reminder at half of it; at its end, resolved unconfirmed (resolution.py).
            cal, waiting = case.policy_now.calendar, case.policy_now.waiting
            now = workflow.now()
            self.deadlines.start(
                ui.next_name(s, CUSTOMER_SIGN_OFF),
                calendar.business_deadline(cal, now, waiting.sign_off_wait),
                warn_at=calendar.business_deadline(cal, now, waiting.sign_off_wait,
                                                   waiting.reminder_at))
        self.effects.changed()

    # --- the customer wrote ------------------------------------------------------------------

    def tell_owner_of_reply(self, reply: CustomerResponse) -> None:
        """The owner hears of the customer's reply at once (it came by email or a page)."""
        case = self.case
        owner = case.roster.get(case.state.owner or "")
        if owner is None or not workflow.patched(REPLY_NOTIFIES_OWNER):
            return
        n = len([e for e in case.state.timeline if e.event == Event.customer_replied])
        self.effects.email(f"customer_reply:{n}", [owner.email], "customer_reply", {
            **case.mail_context(), "owner_name": owner.name, "message": reply.message,
            "by_customer": is_customer_actor(reply.actor)})
