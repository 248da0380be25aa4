"""ComplaintWorkflow: one customer complaint, from intake to archive (CRR-001).

Reading guide (the package `workflows/complaint/`):
- here: `run` and the public contract (DESIGN.md): every update with its validator, the
  refund signal, the `status` query. Handlers change state without awaiting (they stay
  `async def` because recorded histories ran them as tasks) and return a reply;
  validators call the pure rules in `rules.py`, so a refused action never reaches history.
- `procedure.py`: the phases the complaint goes through by itself, and continue-as-new.
- `money.py`, `escalation.py`: the refund path and the escalation chain.
- `core.py`: state, the resolution log, deadlines, background tasks, the single writer.
- `clocks.py`: the SLA clocks; `presentation.py`: how the complaint reads to people.
- `withdrawal.py`: withdrawn at the customer's request, in any open phase; the run ends.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import presentation as ui
    from workflows.complaint import rules
    from workflows.complaint.core import REPLY_NOTIFIES_OWNER, SYSTEM
    from workflows.complaint.money import MONEY_STEPS, refund_decision_problem
    from workflows.complaint.rules import Complaint
    from workflows.complaint.withdrawal import WithdrawalPath
    from workflows.events import PERSONAL_ACK, PHONE_CONTACT, RESOLUTION, Event
    from workflows.messages import ComplaintStart
    from workflows.models import (
        ActionPlan,
        ComplaintReceipt,
        ComplaintState,
        CsatResponse,
        CustomerResponse,
        CustomerUpdate,
        EscalationRequest,
        FixDeployed,
        InternalReview,
        KbArticleDone,
        PersonalAcknowledgement,
        Phase,
        PhoneContact,
        Reassignment,
        RefundDecision,
        ResolutionConfirmation,
        Role,
        RootCauseAnalysis,
        SolutionProposal,
        Status,
        StepKind,
        Withdrawal,
    )
    from workflows.permissions import is_customer_actor

excerpt = ui.excerpt


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow(WithdrawalPath):
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintReceipt:
        # The procedure runs as a task so that a background task's failure (a deadline's
        # watcher, an email, a notice) ends this wait and fails the workflow task.
        procedure = asyncio.create_task(self._procedure(start))
        await workflow.wait_condition(lambda: procedure.done() or self._failure is not None
                                      or self.withdrawn)
        self._raise_background_failure()
        if not procedure.done():  # withdrawn at the customer's request (withdrawal.py)
            await self._end_withdrawn(procedure)
        else:
            procedure.result()
        return self._receipt()  # ended; the whole state stays readable through `status`

    async def _procedure(self, start: ComplaintStart) -> None:
        writer = self._writer = self._spawn(self._write_progress(), "the progress writer",
                                            track=False)
        if start.carried is None:
            await self._register()
            # Phase 1 ends with the personal acknowledgement (on time or late).
            await workflow.wait_condition(lambda: self.personal_ack is not None)
            await self._take_ownership()
        else:
            self._resume()
        # Phases 2 and 3 move on the owner's and the customer's actions (the updates).
        await self._until_resolved()
        await self._post_mortem()
        await self._archive()
        await self._finish(writer)

    def _facts(self) -> Complaint:
        """The complaint as the update rules read it."""
        return Complaint(
            state=self.state, roster=self.roster, registered=self.registered,
            personal_ack_by=self.personal_ack.actor if self.personal_ack else None,
            automatic_ack_body=self.automatic_ack_body, customer_email=self._customer_email(),
            order=self.context.order, refunded=self.refunded_total)

    # --- Phase 1 ----------------------------------------------------------------------

    @workflow.update
    async def acknowledge_personally(self, ack: PersonalAcknowledgement) -> ComplaintReceipt:
        s = self.state
        self.personal_ack = ack
        member = self._acted(ack.actor)
        deadline = s.deadline(PERSONAL_ACK)
        late = deadline is not None and deadline.breached
        self._mark_met(PERSONAL_ACK, ack.actor, "late" if late else "on time")
        s.status, s.phase = Status.acknowledged, Phase.ownership
        to = self._customer_email()
        if to:
            self._email("personal_acknowledgement", [to], "personal_acknowledgement",
                        {**self._mail_context(), "message": ack.message, "agent_name": member.name})
        self._log(Event.acknowledged_personally, ack.actor,
                  ("late: " if late else "") + excerpt(ack.message),
                  outcome="late" if late else "on_time")
        self._changed()
        return self._receipt()

    @acknowledge_personally.validator
    def _check_personal_ack(self, ack: PersonalAcknowledgement) -> None:
        rules.acknowledge_personally(self._facts(), ack)

    # --- Phase 2: ownership -------------------------------------------------------------

    @workflow.update
    async def record_phone_contact(self, call: PhoneContact) -> ComplaintReceipt:
        self._acted(call.actor)
        if call.reached:
            self.state.phone_contact_made = True
            self._mark_met(ui.latest(self.state, PHONE_CONTACT), call.actor, "customer reached")
            self._log(Event.phone_contact, call.actor,
                      f"reached: {excerpt(call.summary)}; expectations: {excerpt(call.expectations)}",
                      outcome="reached")
        else:  # logged, but an unanswered call does not meet the deadline
            self._log(Event.phone_attempt, call.actor, f"not reached: {excerpt(call.summary)}",
                      outcome="not_reached")
        self._changed()
        return self._receipt()

    @record_phone_contact.validator
    def _check_phone_contact(self, call: PhoneContact) -> None:
        rules.record_phone_contact(self._facts(), call)

    @workflow.update
    async def submit_internal_review(self, review: InternalReview) -> ComplaintReceipt:
        s = self.state
        self._acted(review.actor)
        missing = [name.replace("_", " ") for name, done in review.checklist.model_dump().items()
                   if not done]
        s.internal_review_complete = not missing
        self._log(Event.internal_review, review.actor,
                  f"root cause: {excerpt(review.root_cause, 120)}; process failure: "
                  f"{excerpt(review.process_failure, 120)}; communication failure: "
                  f"{excerpt(review.communication_failure, 120)}"
                  + (f"; checklist incomplete: {', '.join(missing)}" if missing else
                     "; checklist complete"),
                  outcome="incomplete" if missing else "complete")
        self._changed()
        return self._receipt()

    @submit_internal_review.validator
    def _check_internal_review(self, review: InternalReview) -> None:
        rules.submit_internal_review(self._facts(), review)

    # --- Phase 3: resolution ------------------------------------------------------------

    @workflow.update
    async def submit_action_plan(self, plan: ActionPlan) -> ComplaintReceipt:
        s = self.state
        self._acted(plan.actor)
        s.action_plan, s.customer_agreed, s.fix = list(plan.steps), None, "none"
        s.phase = Phase.resolution
        if s.status == Status.awaiting_customer:
            self._resume_update_clock()
        s.status = Status.under_investigation
        steps = "; ".join(f"{st.kind.value}: {excerpt(st.description, 80)}"
                          + (f" ({st.amount})" if st.amount is not None else "") for st in plan.steps)
        money = [st.amount for st in plan.steps if st.kind in MONEY_STEPS and st.amount]
        self._log(Event.action_plan, plan.actor, steps,
                  amount=sum(money) if money else None,
                  currency=self.context.order.currency if money and self.context.order else None)
        self._changed()
        return self._receipt()

    @submit_action_plan.validator
    def _check_action_plan(self, plan: ActionPlan) -> None:
        rules.submit_action_plan(self._facts(), plan)

    @workflow.update
    async def propose_solution(self, proposal: SolutionProposal) -> ComplaintReceipt:
        member = self._acted(proposal.actor)
        self.state.status = Status.awaiting_customer
        self._customer_message("solution_proposal", proposal.message, member)
        self._pause_update_clock()  # SOP: the customer's turn; our 24-hour clock waits
        self._log(Event.solution_proposed, proposal.actor, excerpt(proposal.message))
        self._changed()
        return self._receipt()

    @propose_solution.validator
    def _check_proposal(self, proposal: SolutionProposal) -> None:
        rules.propose_solution(self._facts(), proposal)

    @workflow.update
    async def record_customer_response(self, reply: CustomerResponse) -> ComplaintReceipt:
        s = self.state
        self._acted(reply.actor)
        if s.status == Status.awaiting_customer:
            self._resume_update_clock()
            s.status = Status.under_investigation
        if reply.agrees is True:
            s.customer_agreed = True
            self._log(Event.customer_agreed, reply.actor, excerpt(reply.message), outcome="agreed")
            fix = next((st for st in s.action_plan if st.kind == StepKind.technical_fix), None)
            if fix is not None:
                self._open_rnd_task(fix.description)
            if any(st.kind in MONEY_STEPS for st in s.action_plan):
                self._request_refund()
        elif reply.agrees is False:
            s.customer_agreed, s.action_plan = False, []
            self._log(Event.customer_disagreed, reply.actor,
                      "back to planning: " + excerpt(reply.message), outcome="disagreed")
        else:
            self._log(Event.customer_replied, reply.actor, excerpt(reply.message), outcome="unauthenticated" if reply.authenticated is False else None)
            self._notify_owner_of_reply(reply)
        if reply.agrees is True:
            self._ask_for_sign_off()  # a plan with nothing left to carry out
        self._changed()
        return self._receipt()

    @record_customer_response.validator
    def _check_customer_response(self, reply: CustomerResponse) -> None:
        rules.record_customer_response(self._facts(), reply)

    def _notify_owner_of_reply(self, reply: CustomerResponse) -> None:
        """The owner hears of the customer's reply at once (it came by email or a page)."""
        owner = self.roster.get(self.state.owner or "")
        if owner is None or not workflow.patched(REPLY_NOTIFIES_OWNER):
            return
        n = len([e for e in self.state.timeline if e.event == Event.customer_replied])
        self._email(f"customer_reply:{n}", [owner.email], "customer_reply", {
            **self._mail_context(), "owner_name": owner.name, "message": reply.message,
            "by_customer": is_customer_actor(reply.actor)})

    def _open_rnd_task(self, description: str) -> None:
        s = self.state
        s.fix, s.status = "open", Status.fix_in_progress
        rnd = self._staff_emails(Role.rnd)
        self._log(Event.rnd_task_opened, SYSTEM, f"high P2: {excerpt(description)}")
        if rnd:
            self._email("rnd_task", rnd, "rnd_task", {
                **self._mail_context(), "description": description,
                "owner_name": self._name(s.owner)})

    @workflow.update
    async def record_fix_deployed(self, deployed: FixDeployed) -> ComplaintReceipt:
        s = self.state
        self._acted(deployed.actor)
        s.fix = "deployed"
        if s.status == Status.fix_in_progress:
            s.status = Status.under_investigation
        self._log(Event.fix_deployed, deployed.actor, deployed.reference)
        self._ask_for_sign_off()
        self._changed()
        return self._receipt()

    @record_fix_deployed.validator
    def _check_fix_deployed(self, deployed: FixDeployed) -> None:
        rules.record_fix_deployed(self._facts(), deployed)

    @workflow.update
    async def send_customer_update(self, update: CustomerUpdate) -> ComplaintReceipt:
        member = self._acted(update.actor)
        self._customer_message("customer_update", update.message, member)
        self._log(Event.customer_update, update.actor, excerpt(update.message))
        self._changed()
        return self._receipt()

    @send_customer_update.validator
    def _check_customer_update(self, update: CustomerUpdate) -> None:
        rules.send_customer_update(self._facts(), update)

    @workflow.update
    async def confirm_resolution(self, confirmation: ResolutionConfirmation) -> ComplaintReceipt:
        s = self.state
        member = self._acted(confirmation.actor)
        s.status, s.phase, s.resolved_at = Status.resolved, Phase.post_mortem, workflow.now()
        self._mark_met(RESOLUTION, confirmation.actor, "customer confirmed in writing")
        assert self.update_clock is not None
        self.update_clock.stop()
        # Resolved: what was still open (an unanswered escalation, a call never made) no
        # longer applies and must not escalate a resolved complaint.
        for d in s.deadlines:
            self._supersede(d, "no longer applies once resolved")
        self._log(Event.resolved, confirmation.actor, excerpt(confirmation.confirmation_text))
        to = self._customer_email()
        if to:
            self._email("resolution_notice", [to], "resolution_notice",
                        {**self._mail_context(),
                         "owner_name": member.name if member else self._name(s.owner)})
        self._changed()
        return self._receipt()

    @confirm_resolution.validator
    def _check_confirmation(self, confirmation: ResolutionConfirmation) -> None:
        rules.confirm_resolution(self._facts(), confirmation)

    # --- Phase 4: post-mortem -----------------------------------------------------------

    @workflow.update
    async def submit_rca(self, rca: RootCauseAnalysis) -> ComplaintReceipt:
        s = self.state
        self._acted(rca.actor)
        s.rca_submitted = True
        self._log(Event.rca, rca.actor, f"{excerpt(rca.root_cause, 150)}; {len(rca.corrective_actions)} "
                  f"corrective action(s); KB article {'needed' if rca.kb_article_needed else 'not needed'}")
        context = {**self._mail_context(), "owner_name": self._name(s.owner),
                   **rca.model_dump(mode="json", exclude={"actor"})}
        heads = self._staff_emails(Role.head_of_cs)
        if heads:
            self._email("rca", heads, "rca", context)
        if rca.kb_article_needed:
            s.kb_article = "open"
            owner = self.roster.get(s.owner or "")
            to = ([owner.email] if owner else []) + self._staff_emails(Role.qa)
            self._log(Event.kb_task_opened, SYSTEM, "knowledge base article or training to write")
            if to:
                self._email("kb_task", to, "kb_task", context)
        self._changed()
        return self._receipt()

    @submit_rca.validator
    def _check_rca(self, rca: RootCauseAnalysis) -> None:
        rules.submit_rca(self._facts(), rca)

    @workflow.update
    async def record_kb_article(self, done: KbArticleDone) -> ComplaintReceipt:
        self._acted(done.actor)
        self.state.kb_article = "done"
        self._log(Event.kb_article_done, done.actor, done.reference)
        self._changed()
        return self._receipt()

    @record_kb_article.validator
    def _check_kb_article(self, done: KbArticleDone) -> None:
        rules.record_kb_article(self._facts(), done)

    @workflow.update
    async def record_csat(self, csat: CsatResponse) -> ComplaintReceipt:
        s = self.state
        self._acted(csat.actor)
        s.csat_score = csat.score
        self._log(Event.csat, csat.actor,
                  f"{csat.score}/5" + (f": {excerpt(csat.comment)}" if csat.comment else ""),
                  outcome=str(csat.score))
        self._changed()
        return self._receipt()

    @record_csat.validator
    def _check_csat(self, csat: CsatResponse) -> None:
        rules.record_csat(self._facts(), csat)

    # --- any phase: escalate, reassign ----------------------------------------------------

    @workflow.update
    async def escalate(self, request: EscalationRequest) -> ComplaintReceipt:
        self._acted(request.actor)
        self._escalate(self.state.escalation_level + 1, request.reason, request.actor)
        return self._receipt()

    @escalate.validator
    def _check_escalate(self, request: EscalationRequest) -> None:
        rules.escalate(self._facts(), request)

    @workflow.update
    async def reassign(self, request: Reassignment) -> ComplaintReceipt:
        assert self.policy is not None
        s = self.state
        actor = self._acted(request.actor)
        old, new = self.roster.get(s.owner or ""), self.roster[request.owner]
        s.owner = new.id
        phone_by = None
        if (s.phase in ui.ACTIVE_PHASES and not s.phone_contact_made
                and self.policy.ownership.reassignment_restarts_phone_contact):
            current = s.deadline(ui.latest(s, PHONE_CONTACT))
            if current is not None and current.met_at is None:
                current.superseded = True  # the new owner gets a fresh clock
            phone_by = self._local(self._start_phone_clock())
        self._log(Event.reassigned, request.actor,
                  f"from {old.id if old else 'nobody'} to {new.id}"
                  + (f"; phone contact due {phone_by}" if phone_by else ""))
        context = {**self._mail_context(), "actor_name": actor.name,
                   "old_owner_name": old.name if old else "nobody", "new_owner_name": new.name,
                   "phone_by": phone_by}
        self.reassignments += 1
        n = self.reassignments
        self._email(f"reassigned:{n}:new", [new.email], "reassigned",
                    {**context, "to_new": True, "recipient_name": new.name})
        if old is not None:
            self._email(f"reassigned:{n}:old", [old.email], "reassigned",
                        {**context, "to_new": False, "recipient_name": old.name})
        self._changed()
        return self._receipt()

    @reassign.validator
    def _check_reassign(self, request: Reassignment) -> None:
        rules.reassign(self._facts(), request)

    # --- any open phase: withdrawn at the customer's request ---------------------------------

    @workflow.update
    def withdraw(self, withdrawal: Withdrawal) -> ComplaintReceipt:
        """Closed as withdrawn: every clock cancelled, nothing more emailed; the run ends."""
        self._withdraw(withdrawal)
        return self._receipt()

    @withdraw.validator
    def _check_withdraw(self, withdrawal: Withdrawal) -> None:
        rules.withdraw(self._facts(), withdrawal)

    # --- the Finance Manager's decision ------------------------------------------------------

    @workflow.signal
    def refund_decision(self, decision: RefundDecision) -> None:
        """The Finance Manager's answer. A signal (approval systems fire and forget), so a
        decision that may not count is recorded in the timeline and changes nothing else."""
        problem = refund_decision_problem(self.state.refund, self.roster.get(decision.actor),
                                          decision)
        if problem is not None:
            self._log(Event.refund_decision_rejected, decision.actor, problem, reason=problem)
            self._changed()
            return
        self._decide_refund(decision)

    @workflow.update
    async def decide_refund(self, decision: RefundDecision) -> ComplaintReceipt:
        """The same decision as the signal, for callers that want the answer: a decision
        that may not count is refused by the validator and leaves no trace in history."""
        self._decide_refund(decision)
        return self._receipt()

    @decide_refund.validator
    def _check_decide_refund(self, decision: RefundDecision) -> None:
        rules.decide_refund(self._facts(), decision)

    # --- query ------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> ComplaintState:
        return self.state
