"""The money path (issue 5; seed 003 steps 10-12): refunds and credits in an action plan.

The checks are pure functions (what a plan may ask for, whether a decision may count).
`MoneyPath` is the part of the workflow that carries a refund out: within the owner's
authority it is applied at once; at or above the threshold it waits for the Finance
Manager, with a reminder at 75% and the head of customer success told when it is overdue.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.activity_types import RefundActivities
    from workflows.complaint import presentation as ui
    from workflows.complaint.clocks import ClockEvent, SlaClock
    from workflows.complaint.core import SYSTEM
    from workflows.complaint.escalation import EscalationChain
    from workflows.events import REFUND_APPROVAL, Event, deadline_type
    from workflows.messages import RefundApplication
    from workflows.models import (
        ActionPlan,
        Order,
        PlanStep,
        RefundDecision,
        RefundState,
        Role,
        StaffMember,
        Status,
        StepKind,
    )
    from workflows.refunds import refund_limit, to_money
    from workflows.refusals import (
        InvalidValue,
        NotFinanceManager,
        NotReady,
        OverLimit,
        Refused,
    )

MONEY_STEPS = (StepKind.refund, StepKind.credit_offer)


def money_steps(steps: list[PlanStep]) -> list[PlanStep]:
    return [st for st in steps if st.kind in MONEY_STEPS]


def check_money_steps(plan: ActionPlan, order: Order | None, refunded: Decimal) -> None:
    """A refund or credit names an amount the order allows, in its currency."""
    money = [(i, st) for i, st in enumerate(plan.steps, 1) if st.kind in MONEY_STEPS]
    if not money:
        return
    if order is None:
        raise NotReady("a refund or credit needs the complaint's order, and this complaint "
                         "names no order in the CRM")
    limit = refund_limit(order)
    for i, st in money:
        if st.amount is None:
            raise InvalidValue(f"step {i} ({st.kind.value}) needs an amount")
        if st.currency and st.currency != order.currency:
            raise InvalidValue(f"step {i} ({st.kind.value}) is in {st.currency}; order "
                             f"{order.id} is in {order.currency}")
        if to_money(st.amount, order.currency) != st.amount:
            raise InvalidValue(f"step {i} ({st.kind.value}): {st.amount} has more decimal "
                             f"places than {order.currency} allows")
    total = sum((st.amount or 0 for _, st in money), to_money(0, order.currency))
    already = to_money(refunded, order.currency)
    if total > limit.maximum - already:
        raise OverLimit(f"{total} {order.currency} is more than may be refunded: "
                         f"{limit.explain()}"
                         + (f", less {already} already refunded by this complaint"
                            if refunded else ""))


def refund_decision_refusal(refund: RefundState, member: StaffMember | None,
                            decision: RefundDecision) -> Refused | None:
    """Why the Finance Manager's decision may not count, or None when it may."""
    if member is None or member.role != Role.finance_manager:
        return NotFinanceManager(f"{decision.actor!r} is not a finance manager on the roster")
    if refund.status != "pending_approval":
        return NotReady("no refund is waiting for a decision" + (
            f" (refund {refund.refund_id} is {refund.status})" if refund.refund_id else ""))
    if decision.approved and refund.maximum is not None and decision.amount > refund.maximum:
        return OverLimit(f"approved amount {decision.amount} {refund.currency} is above the "
                         f"maximum {refund.maximum} ({refund.computation})")
    if decision.approved and refund.amount is not None and decision.amount > refund.amount:
        return OverLimit(f"approved amount {decision.amount} is above the "
                         f"{refund.amount} {refund.currency} requested")
    return None


def refund_decision_problem(refund: RefundState, member: StaffMember | None,
                            decision: RefundDecision) -> str | None:
    """The same, as the line the refund_decision signal logs."""
    refusal = refund_decision_refusal(refund, member, decision)
    return None if refusal is None else str(refusal)


class MoneyPath(EscalationChain):
    def _clock_actions(self, name: str) -> tuple[ClockEvent, ClockEvent | None]:
        if deadline_type(name) == REFUND_APPROVAL:
            # SOP 4: beyond the team lead's authority; overdue goes to the head of CS.
            return self._remind_finance, lambda clock: self._escalate(
                2, "refund decision overdue", SYSTEM)
        return super()._clock_actions(name)

    def _request_refund(self) -> None:
        """The customer agreed to a plan with money in it: within the owner's authority it is
        applied now; at or above the threshold it waits for the Finance Manager."""
        assert self.policy is not None and self.context.order is not None
        s, order, rules = self.state, self.context.order, self.policy.refund
        limit = refund_limit(order)
        total = sum((st.amount or 0 for st in money_steps(s.action_plan)),
                    to_money(0, order.currency))
        s.refund = RefundState(
            refund_id=s.refund.refund_id + 1, amount=total, currency=order.currency,
            maximum=limit.maximum - to_money(self.refunded_total, order.currency),
            computation=limit.explain())
        if not (rules.approval_for_every_refund or total >= rules.approval_threshold):
            s.refund.status = "approved"
            self._log(Event.refund_approved, SYSTEM, f"{total} {order.currency}: below the "
                      f"approval threshold ({rules.approval_threshold}), within the owner's "
                      "authority", amount=total, currency=order.currency, outcome="approved")
            self._apply_refund()
            return
        s.refund.status, s.status = "pending_approval", Status.awaiting_approval
        now = workflow.now()
        cal = self.policy.calendar
        due = calendar.business_deadline(cal, now, rules.approval_within)
        name = ui.next_name(s, REFUND_APPROVAL)
        self._log(Event.refund_approval_requested, SYSTEM,
                  f"{total} {order.currency} ({limit.explain()}); decision due {ui.clock(due)}",
                  amount=total, currency=order.currency, deadline=name)
        self._start_deadline(
            name, due,
            warn_at=calendar.business_deadline(cal, now, rules.approval_within, rules.warn_at))
        finance = self._staff_emails(Role.finance_manager)
        if finance:
            self._email(f"{name}:request", finance, "refund_approval",
                        {**self._refund_context(due), "reminder": False,
                         "recipient_name": "Finance"})
        self._escalate(1, f"refund of {total} {order.currency} at or above the approval "
                          f"threshold ({rules.approval_threshold})", SYSTEM)

    def _refund_context(self, due: datetime) -> dict[str, Any]:
        s, order = self.state, self.context.order
        assert order is not None
        return {**self._mail_context(), "amount": str(s.refund.amount),
                "currency": order.currency, "order_id": order.id,
                "computation": s.refund.computation, "owner_name": self._name(s.owner),
                "due": self._local(due),
                "reasons": [st.description for st in money_steps(s.action_plan)]}

    def _remind_finance(self, clock: SlaClock) -> None:
        """The refund approval's warning: the Finance Manager is reminded."""
        d = clock.deadline
        finance = self._staff_emails(Role.finance_manager)
        if finance:
            self._email(f"{d.name}:reminder", finance, "refund_approval",
                        {**self._refund_context(d.due_at), "reminder": True,
                         "recipient_name": "Finance"})

    def _decide_refund(self, decision: RefundDecision) -> None:
        """The Finance Manager's decision, checked already (`refund_decision_problem`)."""
        s, refund = self.state, self.state.refund
        member = self.roster[decision.actor]
        outcome = "approved" if decision.approved else "rejected"
        self._mark_met(ui.latest(s, REFUND_APPROVAL), decision.actor, outcome)
        refund.approver, refund.note = decision.actor, decision.note
        note = f": {decision.note}" if decision.note else ""
        if decision.approved:
            refund.status, refund.amount = "approved", to_money(decision.amount, refund.currency or "")
            s.status = Status.fix_in_progress if s.fix == "open" else Status.under_investigation
            self._log(Event.refund_approved, decision.actor, f"{refund.amount} {refund.currency}"
                      + note, amount=refund.amount, currency=refund.currency, outcome=outcome)
            self._apply_refund()
        else:
            refund.status = "rejected"
            s.action_plan, s.customer_agreed, s.status = [], None, Status.under_investigation
            self._log(Event.refund_rejected, decision.actor, "a new plan is needed" + note,
                      amount=refund.amount, currency=refund.currency, outcome=outcome)
            owner = self.roster.get(s.owner or "")
            if owner is not None:
                self._email(f"refund_rejected:{refund.refund_id}", [owner.email],
                            "refund_rejected", {
                                **self._mail_context(), "owner_name": owner.name,
                                "approver_name": member.name, "amount": str(refund.amount),
                                "currency": refund.currency, "note": decision.note})
        self._changed()

    def _apply_refund(self) -> None:
        s, order = self.state, self.context.order
        assert order is not None and s.refund.amount is not None
        refund = s.refund
        application = RefundApplication(
            crn=s.crn, refund_id=refund.refund_id, customer_id=order.customer_id,
            order_id=order.id, amount=refund.amount, currency=order.currency,
            approved_by=refund.approver)

        async def apply() -> None:
            note = await self._call(
                RefundActivities.apply_refund, application,
                f"Credit {application.amount} {application.currency} to {application.customer_id}",
                personal=True)
            refund.status, refund.credit_note = "applied", note
            self.refunded_total += application.amount
            self._log(Event.refund_applied, SYSTEM, f"{application.amount} {application.currency}, "
                      f"credit note {note} on order {order.id}", amount=application.amount,
                      currency=application.currency)
            self._changed()
            to = self._customer_email()
            if to:
                self._email(f"refund_applied:{refund.refund_id}", [to], "refund_applied", {
                    **self._mail_context(), "amount": str(application.amount),
                    "currency": application.currency, "order_id": order.id, "credit_note": note})
            self._ask_for_sign_off()

        self._spawn(apply(), f"refund {refund.refund_id}")
