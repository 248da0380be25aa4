"""The firm's final response: its answer when the customer and the firm cannot agree
(after the policy's `max_proposals` refused proposals the owner is asked for it, with a
deadline), or when a regulator's limit from receipt falls due (the policy's [regulatory]
section). The letter is the owner's message and the policy's referral rights; the outcome
is recorded (upheld, partly upheld, not upheld), every clock ends, and the complaint goes
on to its post-mortem. Redress is credited through the refund path and its approval rules.

A holding response (a customer update with `holding`) moves the regulator's limit to its
extension, where the policy allows one.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import SlaClock
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.complaint.money import Money
    from workflows.complaint.resolution import Resolution
    from workflows.events import FINAL_RESPONSE, REGULATORY_FINAL_RESPONSE, Event
    from workflows.models import ComplaintOutcome, CustomerUpdate, FinalResponse


class FinalResponses:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation, money: Money, resolution: Resolution) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation
        self.money = money
        self.resolution = resolution
        # A regulator's limit missed goes straight to the head of customer success.
        deadlines.on(REGULATORY_FINAL_RESPONSE, breach=self._regulatory_limit_missed)

    # --- the clocks -------------------------------------------------------------------------

    def start_regulatory_clock(self) -> None:
        """At registration, under a policy with a [regulatory] section (none existed before
        it, so no running complaint replays differently)."""
        case = self.case
        regulatory = case.policy_now.regulatory
        if regulatory is None:
            return
        self._start_regulatory(regulatory.final_response_within)

    def _start_regulatory(self, period: str) -> None:
        case = self.case
        policy, s = case.policy_now, case.state
        assert policy.regulatory is not None
        self.deadlines.start(
            ui.next_name(s, REGULATORY_FINAL_RESPONSE),
            calendar.period_deadline(policy.calendar, s.received_at, period),
            warn_at=calendar.period_deadline(policy.calendar, s.received_at, period,
                                             policy.regulatory.warn_at))

    def _regulatory_limit_missed(self, clock: SlaClock) -> None:
        self.case.state.sla_breached = True
        self.escalation.escalate(2, f"{clock.what} missed", SYSTEM)

    def ask_owner(self) -> None:
        """Deadlock: the customer refused `max_proposals` proposals; the owner is asked for
        the final response, by a deadline (its breach escalates like any other)."""
        case = self.case
        policy, s = case.policy_now, case.state
        rules, now = policy.final_response, workflow.now()
        due = calendar.business_deadline(policy.calendar, now, rules.within)
        name = ui.next_name(s, FINAL_RESPONSE)
        case.log(Event.deadlock, SYSTEM,
                 f"{s.proposals_refused} proposals refused: a final response is due "
                 f"{ui.clock(due)}", deadline=name)
        self.deadlines.start(name, due, warn_at=calendar.business_deadline(
            policy.calendar, now, rules.within, rules.warn_at))
        owner = case.roster.get(s.owner or "")
        if owner is not None:
            self.effects.email(f"final_response_due:{s.proposals_refused}", [owner.email],
                               "final_response_due", {
                                   **case.mail_context(), "owner_name": owner.name,
                                   "refused": s.proposals_refused, "due": case.local(due)})
        self.effects.changed()

    # --- the final response and the holding response -----------------------------------------

    def issue(self, final: FinalResponse) -> None:
        """The letter goes out, the outcome is recorded, every clock ends; redress (if any)
        goes through the refund path. Checked already (rules.issue_final_response)."""
        case = self.case
        self.escalation.acted(final.actor)
        outcome = ComplaintOutcome(final.outcome.value)
        redress = (f"; redress {final.redress} {case.context.order.currency}"
                   if final.redress is not None and case.context.order else "")
        case.log(Event.final_response, final.actor,
                 f"{outcome.value.replace('_', ' ')}{redress}: {ui.excerpt(final.message)}",
                 outcome=outcome.value, amount=final.redress,
                 currency=case.context.order.currency if final.redress is not None
                 and case.context.order else None)
        to = case.customer_email()
        assert to is not None  # the rule refuses when there is nowhere to write
        n = sum(1 for e in case.state.timeline if e.event == Event.final_response)
        self.effects.email(f"final_response:{n}", [to], "final_response", {
            **case.mail_context(), **self.resolution.referral(), "message": final.message,
            "outcome": outcome.value, "owner_name": case.name(final.actor),
            "redress": str(final.redress) if final.redress is not None else None,
            "currency": case.context.order.currency if case.context.order else None})
        self.resolution.resolve(outcome, final.actor, "final response issued",
                                meets=(FINAL_RESPONSE, REGULATORY_FINAL_RESPONSE),
                                how="final response issued", notice=None)
        if final.redress is not None:
            self.money.request_redress(final.redress)

    def holding(self, update: CustomerUpdate) -> None:
        """A holding response (sent already as a customer update): the regulator's limit
        moves to its extension. Checked already (rules.send_customer_update)."""
        case = self.case
        regulatory = case.policy_now.regulatory
        assert regulatory is not None and regulatory.extended_final_response_within is not None
        current = case.state.deadline(ui.latest(case.state, REGULATORY_FINAL_RESPONSE))
        if current is not None:
            self.deadlines.supersede(current, "a holding response extended the limit")
        self._start_regulatory(regulatory.extended_final_response_within)
        case.log(Event.holding_response, update.actor,
                 f"the final response is now due within "
                 f"{regulatory.extended_final_response_within} of receipt",
                 deadline=ui.latest(case.state, REGULATORY_FINAL_RESPONSE))
        self.effects.changed()
