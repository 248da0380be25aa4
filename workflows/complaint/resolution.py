"""Finding and agreeing the resolution (CRR-001 phases 2 and 3): the owner's 3 Whys, the
action plan, the proposal the customer agrees to (or not), the R&D fix, the updates that
keep the customer informed, and the customer's written "Resolution Confirmed".
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.complaint.money import MONEY_STEPS, Money
    from workflows.events import RESOLUTION, Event
    from workflows.models import (
        ActionPlan,
        CustomerResponse,
        CustomerUpdate,
        FixDeployed,
        FixStatus,
        InternalReview,
        Phase,
        ResolutionConfirmation,
        Role,
        SolutionProposal,
        StaffMember,
        Status,
        StepKind,
    )

excerpt = ui.excerpt


class Resolution:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation, customer: CustomerContact, money: Money) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation
        self.customer = customer
        self.money = money

    def _staff_acted(self, actor: str) -> StaffMember:
        member = self.escalation.acted(actor)
        assert member is not None  # the rules admit only staff to these actions
        return member

    def submit_internal_review(self, review: InternalReview) -> None:
        case = self.case
        s = case.state
        self.escalation.acted(review.actor)
        missing = [name.replace("_", " ") for name, done in review.checklist.model_dump().items()
                   if not done]
        s.internal_review_complete = not missing
        case.log(Event.internal_review, review.actor,
                 f"root cause: {excerpt(review.root_cause, 120)}; process failure: "
                 f"{excerpt(review.process_failure, 120)}; communication failure: "
                 f"{excerpt(review.communication_failure, 120)}"
                 + (f"; checklist incomplete: {', '.join(missing)}" if missing else
                    "; checklist complete"),
                 outcome="incomplete" if missing else "complete")
        self.effects.changed()

    def submit_action_plan(self, plan: ActionPlan) -> None:
        case = self.case
        s = case.state
        self.escalation.acted(plan.actor)
        s.action_plan, s.customer_agreed, s.fix = list(plan.steps), None, FixStatus.none
        s.phase = Phase.resolution
        if s.status == Status.awaiting_customer:
            self.customer.resume_update_clock()
        s.status = Status.under_investigation
        steps = "; ".join(f"{st.kind.value}: {excerpt(st.description, 80)}"
                          + (f" ({st.amount})" if st.amount is not None else "")
                          for st in plan.steps)
        money = [st.amount for st in plan.steps if st.kind in MONEY_STEPS and st.amount]
        order = case.context.order
        case.log(Event.action_plan, plan.actor, steps,
                 amount=sum(money) if money else None,
                 currency=order.currency if money and order else None)
        self.effects.changed()

    def propose_solution(self, proposal: SolutionProposal) -> None:
        member = self._staff_acted(proposal.actor)
        self.case.state.status = Status.awaiting_customer
        self.customer.message("solution_proposal", proposal.message, member)
        self.customer.pause_update_clock()  # the customer's turn; our 24-hour clock waits
        self.case.log(Event.solution_proposed, proposal.actor, excerpt(proposal.message))
        self.effects.changed()

    def record_customer_response(self, reply: CustomerResponse) -> None:
        case = self.case
        s = case.state
        self.escalation.acted(reply.actor)
        if s.status == Status.awaiting_customer:
            self.customer.resume_update_clock()
            s.status = Status.under_investigation
        if reply.agrees is True:
            s.customer_agreed = True
            case.log(Event.customer_agreed, reply.actor, excerpt(reply.message),
                     outcome="agreed")
            fix = next((st for st in s.action_plan if st.kind == StepKind.technical_fix), None)
            if fix is not None:
                self._open_rnd_task(fix.description)
            if any(st.kind in MONEY_STEPS for st in s.action_plan):
                self.money.request_refund()
        elif reply.agrees is False:
            s.customer_agreed, s.action_plan = False, []
            case.log(Event.customer_disagreed, reply.actor,
                     "back to planning: " + excerpt(reply.message), outcome="disagreed")
        else:
            case.log(Event.customer_replied, reply.actor, excerpt(reply.message))
            self.customer.tell_owner_of_reply(reply)
        if reply.agrees is True:
            self.customer.ask_for_sign_off()  # a plan with nothing left to carry out
        self.effects.changed()

    def _open_rnd_task(self, description: str) -> None:
        case = self.case
        s = case.state
        s.fix, s.status = FixStatus.open, Status.fix_in_progress
        rnd = case.staff_emails(Role.rnd)
        case.log(Event.rnd_task_opened, SYSTEM, f"high P2: {excerpt(description)}")
        if rnd:
            self.effects.email("rnd_task", rnd, "rnd_task", {
                **case.mail_context(), "description": description,
                "owner_name": case.name(s.owner)})

    def record_fix_deployed(self, deployed: FixDeployed) -> None:
        s = self.case.state
        self.escalation.acted(deployed.actor)
        s.fix = FixStatus.deployed
        if s.status == Status.fix_in_progress:
            s.status = Status.under_investigation
        self.case.log(Event.fix_deployed, deployed.actor, deployed.reference)
        self.customer.ask_for_sign_off()
        self.effects.changed()

    def send_customer_update(self, update: CustomerUpdate) -> None:
        member = self._staff_acted(update.actor)
        self.customer.message("customer_update", update.message, member)
        self.case.log(Event.customer_update, update.actor, excerpt(update.message))
        self.effects.changed()

    def confirm_resolution(self, confirmation: ResolutionConfirmation) -> None:
        case = self.case
        s = case.state
        member = self.escalation.acted(confirmation.actor)
        s.status, s.phase, s.resolved_at = Status.resolved, Phase.post_mortem, workflow.now()
        self.deadlines.mark_met(RESOLUTION, confirmation.actor, "customer confirmed in writing")
        self.customer.stop_update_clock()
        # Resolved: what was still open (an unanswered escalation, a call never made) no
        # longer applies and must not escalate a resolved complaint.
        self.deadlines.supersede_all("no longer applies once resolved")
        case.log(Event.resolved, confirmation.actor, excerpt(confirmation.confirmation_text))
        to = case.customer_email()
        if to:
            self.effects.email("resolution_notice", [to], "resolution_notice",
                               {**case.mail_context(),
                                "owner_name": member.name if member else case.name(s.owner)})
        self.effects.changed()
