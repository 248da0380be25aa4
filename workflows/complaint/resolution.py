"""Finding and agreeing the resolution (CRR-001 phases 2 and 3): the owner's 3 Whys, the
action plan, the proposal the customer agrees to (or not), the R&D fix, the updates that
keep the customer informed, and the customer's written "Resolution Confirmed".

Silence has limits (the policy's [waiting]): a proposal waits `agreement_wait` for the
customer's answer (a reminder at half, then the owner is told and it escalates), the
sign-off request `sign_off_wait` (a reminder at half, then the complaint is resolved,
unconfirmed). `resolve` is the one way a complaint becomes resolved, whatever its outcome.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import SlaClock
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.complaint.money import MONEY_STEPS, Money
    from workflows.events import (
        CUSTOMER_AGREEMENT,
        CUSTOMER_SIGN_OFF,
        REGULATORY_FINAL_RESPONSE,
        RESOLUTION,
        Event,
    )
    from workflows.models import (
        ActionPlan,
        ComplaintOutcome,
        CustomerResponse,
        CustomerUpdate,
        FixDeployed,
        FixStatus,
        InternalReview,
        Phase,
        ResolutionConfirmation,
        Role,
        SolutionProposal,
        Status,
        StepKind,
    )
    from workflows.records import StaffMember

excerpt = ui.excerpt
# Patches for the silence limits: complaints that proposed or asked for the sign-off before
# them replay without the new clocks.
AGREEMENT_WAIT = "agreement-wait"
DEADLOCK = "deadlock-asks-for-final-response"


class Resolution:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation, customer: CustomerContact, money: Money) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation
        self.customer = customer
        self.money = money
        # Set by the workflow's wiring: deadlock asks the owner for a final response.
        self.on_deadlock: Callable[[], None] = lambda: None
        deadlines.on(CUSTOMER_AGREEMENT, warning=self._remind_agreement,
                     breach=self._agreement_lapsed)
        deadlines.on(CUSTOMER_SIGN_OFF, warning=self._remind_sign_off,
                     breach=self._sign_off_lapsed)

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
            self._end_agreement_wait(plan.actor, None)
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
        if workflow.patched(AGREEMENT_WAIT):
            self._start_agreement_wait()
        self.effects.changed()

    # --- the customer's answer to a proposal, and its limit --------------------------------

    def _start_agreement_wait(self) -> None:
        case = self.case
        cal, waiting = case.policy_now.calendar, case.policy_now.waiting
        now = workflow.now()
        self.deadlines.start(
            ui.next_name(case.state, CUSTOMER_AGREEMENT),
            calendar.business_deadline(cal, now, waiting.agreement_wait),
            warn_at=calendar.business_deadline(cal, now, waiting.agreement_wait,
                                               waiting.reminder_at))

    def _end_agreement_wait(self, actor: str, how: str | None) -> None:
        """The proposal is answered (`how`), or replaced by a new plan (None)."""
        latest = self.case.state.deadline(ui.latest(self.case.state, CUSTOMER_AGREEMENT))
        if latest is None:
            return
        if how is None:
            self.deadlines.supersede(latest, "a new action plan replaced the proposal")
        else:
            self.deadlines.mark_met(latest.name, actor, how)

    def _proposals_made(self) -> int:
        return sum(1 for e in self.case.state.timeline if e.event == Event.solution_proposed)

    def _remind_agreement(self, clock: SlaClock) -> None:
        """Half the wait gone: one reminder, with the agreement link again."""
        case = self.case
        to = case.customer_email()
        if to is not None:
            self.effects.email(f"agreement_reminder:{self._proposals_made()}", [to],
                               "agreement_reminder", {
                                   **case.mail_context(), "owner_name": case.name(case.state.owner),
                                   **case.when("due", clock.deadline.due_at)})

    def _agreement_lapsed(self, clock: SlaClock) -> None:
        """No answer in `agreement_wait`: the owner is told, it escalates like any breach,
        and the customer-update clock runs again (silence is ours to fill now)."""
        case = self.case
        case.state.sla_breached = True
        owner = case.roster.get(case.state.owner or "")
        if owner is not None:
            self.effects.email(f"agreement_lapsed:{self._proposals_made()}", [owner.email],
                               "agreement_lapsed", {
                                   **case.mail_context(), "owner_name": owner.name,
                                   "waited": case.policy_now.waiting.agreement_wait})
        self.escalation.sla_breached(clock)
        self.customer.resume_update_clock()

    # --- the sign-off's limit ----------------------------------------------------------------

    def _remind_sign_off(self, clock: SlaClock) -> None:
        case = self.case
        to = case.customer_email()
        if to is not None:
            asked = sum(1 for e in case.state.timeline if e.event == Event.sign_off_requested)
            self.effects.email(f"sign_off_reminder:{asked}", [to], "sign_off_request", {
                **case.mail_context(), "owner_name": case.name(case.state.owner),
                "reminder": True, **case.when("due", clock.deadline.due_at)})

    def _sign_off_lapsed(self, clock: SlaClock) -> None:
        """No sign-off in `sign_off_wait`: resolved, not confirmed by the customer."""
        case = self.case
        waited = case.policy_now.waiting.sign_off_wait
        self.resolve(ComplaintOutcome.unconfirmed, SYSTEM,
                     f"no written sign-off within {waited} (business time) of the request",
                     meets=(RESOLUTION,), how="resolved, not confirmed by the customer",
                     notice="resolution_unconfirmed")

    def record_customer_response(self, reply: CustomerResponse) -> None:
        case = self.case
        s = case.state
        self.escalation.acted(reply.actor)
        if s.status == Status.awaiting_customer:
            self.customer.resume_update_clock()
            s.status = Status.under_investigation
            self._end_agreement_wait(reply.actor, "agreed" if reply.agrees is True
                                     else "disagreed" if reply.agrees is False else "replied")
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
            s.proposals_refused += 1
            case.log(Event.customer_disagreed, reply.actor,
                     "back to planning: " + excerpt(reply.message), outcome="disagreed")
            if (s.proposals_refused == case.policy_now.final_response.max_proposals
                    and workflow.patched(DEADLOCK)):
                self.on_deadlock()
        else:
            # Email proves nothing by itself: a reply from an unverified sender says so.
            case.log(Event.customer_replied, reply.actor, excerpt(reply.message),
                     outcome="unauthenticated" if reply.authenticated is False else None)
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
        member = self.escalation.acted(confirmation.actor)
        self.resolve(ComplaintOutcome.confirmed, confirmation.actor,
                     excerpt(confirmation.confirmation_text),
                     meets=(RESOLUTION, CUSTOMER_SIGN_OFF, REGULATORY_FINAL_RESPONSE),
                     how="customer confirmed in writing", notice="resolution_notice",
                     signed_by=member)

    def resolve(self, outcome: ComplaintOutcome, actor: str, detail: str, *,
                meets: tuple[str, ...], how: str, notice: str | None,
                signed_by: StaffMember | None = None) -> None:
        """Resolved, with `outcome`: the deadlines it `meets` are met, the update clock stops,
        what is still open no longer applies, and the customer gets the `notice` (within a
        regulator's summary-resolution period: the summary resolution letter instead)."""
        case = self.case
        s = case.state
        s.status, s.phase, s.resolved_at = Status.resolved, Phase.post_mortem, workflow.now()
        s.outcome = outcome
        for base in meets:
            self.deadlines.mark_met(ui.latest(s, base), actor, how)
        self.customer.stop_update_clock()
        # Resolved: what was still open (an unanswered escalation, a call never made) no
        # longer applies and must not escalate a resolved complaint.
        self.deadlines.supersede_all("no longer applies once resolved")
        case.log(Event.resolved, actor, detail, outcome=outcome.value)
        to = case.customer_email()
        if to and notice is not None:
            template = (self._summary_or(notice) if outcome == ComplaintOutcome.confirmed
                        else notice)
            self.effects.email(template, [to], template, {
                                   **case.mail_context(), **self.referral(),
                                   "owner_name": signed_by.name if signed_by
                                   else case.name(s.owner)})
        self.effects.changed()

    def _summary_or(self, notice: str) -> str:
        """A regulator's summary resolution communication, for a complaint resolved within
        its period from receipt."""
        regulatory = self.case.policy_now.regulatory
        if regulatory is None or regulatory.summary_resolution_within is None:
            return notice
        s = self.case.state
        within = calendar.period_deadline(self.case.policy_now.calendar, s.received_at,
                                          regulatory.summary_resolution_within)
        return "summary_resolution" if workflow.now() <= within else notice

    def referral(self) -> dict[str, str]:
        """What a letter that ends the complaint says of the customer's next step."""
        policy = self.case.policy_now
        if policy.regulatory is not None:
            return {"referral_text": policy.regulatory.referral_text,
                    "regulator": policy.regulatory.regulator}
        return {"referral_text": policy.final_response.closing_text}
