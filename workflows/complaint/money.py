"""The money path: refunds and credits in an action plan (the complaint management
process's refund approval, amount with taxes and credit notes, and account balance steps).

The checks are pure functions (what a plan may ask for, whether a decision may count).
`Money` is the part of the workflow that carries a refund out: within the owner's
authority it is applied at once; at or above the threshold it waits for the Finance
Manager, with a reminder at 75% and the head of customer success told when it is overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.activity_types import RefundActivities
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import SlaClock
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.events import REFUND_APPROVAL, Event
    from workflows.messages import RefundApplication
    from workflows.models import (
        ActionPlan,
        FixStatus,
        PlanStep,
        RefundDecision,
        RefundState,
        RefundStatus,
        Role,
        Status,
        StepKind,
    )
    from workflows.records import Order, StaffMember
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
    total = sum((st.amount or Decimal(0) for _, st in money), to_money(Decimal(0), order.currency))
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
    if refund.status != RefundStatus.pending_approval:
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


class Money:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation, ask_for_sign_off: Callable[[], None]) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation
        self._ask_for_sign_off = ask_for_sign_off  # once the money is credited
        # Beyond the team lead's authority: an overdue decision goes to the head of CS.
        deadlines.on(REFUND_APPROVAL, warning=self._remind_finance,
                     breach=lambda clock: escalation.escalate(2, "refund decision overdue",
                                                              SYSTEM))

    def request_refund(self) -> None:
        """The customer agreed to a plan with money in it: within the owner's authority it is
        applied now; at or above the threshold it waits for the Finance Manager."""
        order = self.case.context.order
        assert order is not None
        self._request(sum((st.amount or Decimal(0) for st in money_steps(self.case.state.action_plan)),
                          to_money(Decimal(0), order.currency)))

    def request_redress(self, amount: Decimal) -> None:
        """Redress offered with a final response: the same authority and approval rules as a
        refund in a plan; the complaint is resolved already and stays so."""
        order = self.case.context.order
        assert order is not None
        self._request(to_money(amount, order.currency),
                      reasons=["redress offered with the final response"])

    def _request(self, total: Decimal, reasons: list[str] | None = None) -> None:
        case = self.case
        policy, order = case.policy_now, case.context.order
        assert order is not None
        s, rules = case.state, policy.refund
        limit = refund_limit(order)
        s.refund = RefundState(
            refund_id=s.refund.refund_id + 1, amount=total, currency=order.currency,
            maximum=limit.maximum - to_money(case.refunded_total, order.currency),
            computation=limit.explain(), reasons=reasons or [])
        if not (rules.approval_for_every_refund or total >= rules.approval_threshold):
            s.refund.status = RefundStatus.approved
            case.log(Event.refund_approved, SYSTEM, f"{total} {order.currency}: below the "
                     f"approval threshold ({rules.approval_threshold}), within the owner's "
                     "authority", amount=total, currency=order.currency, outcome="approved")
            self._apply()
            return
        s.refund.status = RefundStatus.pending_approval
        if s.resolved_at is None:  # redress after a final response: it stays resolved
            s.status = Status.awaiting_approval
        now = workflow.now()
        cal = policy.calendar
        due = calendar.business_deadline(cal, now, rules.approval_within)
        name = ui.next_name(s, REFUND_APPROVAL)
        case.log(Event.refund_approval_requested, SYSTEM,
                 f"{total} {order.currency} ({limit.explain()}); decision due {ui.clock(due)}",
                 amount=total, currency=order.currency, deadline=name)
        self.deadlines.start(
            name, due,
            warn_at=calendar.business_deadline(cal, now, rules.approval_within, rules.warn_at))
        finance = case.staff_emails(Role.finance_manager)
        if finance:
            self.effects.email(f"{name}:request", finance, "refund_approval",
                               {**self._refund_context(due), "reminder": False,
                                "recipient_name": "Finance"})
        self.escalation.escalate(1, f"refund of {total} {order.currency} at or above the "
                                    f"approval threshold ({rules.approval_threshold})", SYSTEM)

    def _refund_context(self, due: datetime) -> dict[str, Any]:
        case = self.case
        s, order = case.state, case.context.order
        assert order is not None
        return {**case.mail_context(), "amount": str(s.refund.amount),
                "currency": order.currency, "order_id": order.id,
                "computation": s.refund.computation, "owner_name": case.name(s.owner),
                "due": case.local(due),
                "reasons": s.refund.reasons
                or [st.description for st in money_steps(s.action_plan)]}

    def _remind_finance(self, clock: SlaClock) -> None:
        """The refund approval's warning: the Finance Manager is reminded."""
        d = clock.deadline
        finance = self.case.staff_emails(Role.finance_manager)
        if finance:
            self.effects.email(f"{d.name}:reminder", finance, "refund_approval",
                               {**self._refund_context(d.due_at), "reminder": True,
                                "recipient_name": "Finance"})

    def decide(self, decision: RefundDecision) -> None:
        """The Finance Manager's decision, checked already (`refund_decision_problem`)."""
        case = self.case
        s, refund = case.state, case.state.refund
        member = case.roster[decision.actor]
        outcome = "approved" if decision.approved else "rejected"
        self.deadlines.mark_met(ui.latest(s, REFUND_APPROVAL), decision.actor, outcome)
        refund.approver, refund.note = decision.actor, decision.note
        note = f": {decision.note}" if decision.note else ""
        if decision.approved:
            refund.status = RefundStatus.approved
            refund.amount = to_money(decision.amount, refund.currency or "")
            if s.resolved_at is None:
                s.status = (Status.fix_in_progress if s.fix == FixStatus.open
                            else Status.under_investigation)
            case.log(Event.refund_approved, decision.actor, f"{refund.amount} {refund.currency}"
                     + note, amount=refund.amount, currency=refund.currency, outcome=outcome)
            self._apply()
        else:
            refund.status = RefundStatus.rejected
            if s.resolved_at is None:  # (redress after a final response: it stays resolved)
                s.action_plan, s.customer_agreed, s.status = [], None, Status.under_investigation
            case.log(Event.refund_rejected, decision.actor,
                     ("a new plan is needed" if s.resolved_at is None
                      else "the redress is not paid") + note,
                     amount=refund.amount, currency=refund.currency, outcome=outcome)
            owner = case.roster.get(s.owner or "")
            if owner is not None:
                self.effects.email(f"refund_rejected:{refund.refund_id}", [owner.email],
                                   "refund_rejected", {
                                       **case.mail_context(), "owner_name": owner.name,
                                       "approver_name": member.name,
                                       "amount": str(refund.amount),
                                       "currency": refund.currency, "note": decision.note})
        self.effects.changed()

    def withdraw_pending(self) -> None:
        """Withdrawn while a refund awaited the Finance Manager: nobody decides it now."""
        refund = self.case.state.refund
        if refund.status == RefundStatus.pending_approval:
            refund.status = RefundStatus.withdrawn

    def _apply(self) -> None:
        case = self.case
        s, order = case.state, case.context.order
        refund = s.refund
        assert order is not None and refund.amount is not None
        application = RefundApplication(
            crn=s.crn, refund_id=refund.refund_id, customer_id=order.customer_id,
            order_id=order.id, amount=refund.amount, currency=order.currency,
            approved_by=refund.approver)

        async def apply() -> None:
            note = await self.effects.call(
                RefundActivities.apply_refund, application,
                f"Credit {application.amount} {application.currency} to {application.customer_id}",
                personal=True)
            refund.status, refund.credit_note = RefundStatus.applied, note
            case.refunded_total += application.amount
            case.log(Event.refund_applied, SYSTEM, f"{application.amount} "
                     f"{application.currency}, credit note {note} on order {order.id}",
                     amount=application.amount, currency=application.currency)
            self.effects.changed()
            to = case.customer_email()
            if to:
                self.effects.email(f"refund_applied:{refund.refund_id}", [to],
                                   "refund_applied", {
                                       **case.mail_context(), "amount": str(application.amount),
                                       "currency": application.currency, "order_id": order.id,
                                       "credit_note": note})
            self._ask_for_sign_off()

        self.effects.spawn(apply(), f"refund {refund.refund_id}")
