"""ComplaintWorkflow: one customer complaint, from intake to archive (CRR-001).

The class keeps `run` and the public contract (docs/design.md): every update with its
validator, the refund signal, the `status` query. The work is done by parts it holds and
wires in `__init__`, each given what it needs; a handler reads `self.<part>.<verb>(...)`,
so the call names the file:

- `case.py`: everything the run owns (continue-as-new carries it whole), the resolution log;
- `effects.py`: background tasks, activities, emails, search attributes, the single writer;
- `deadlines.py`: the SLA clocks, and what each kind's warning and breach do (`clocks.py`);
- `escalation.py`: owner -> team lead -> head of customer success;
- `customer.py`: the customer-update clock, messages to the customer, the sign-off request;
- `ownership.py`: the personal acknowledgement, the owner, the phone call, reassignment;
- `resolution.py`: the 3 Whys, the plan, the proposal, the fix, the customer's sign-off;
- `money.py`: refunds and credits, the Finance Manager's decision;
- `post_mortem.py`: survey, RCA, KB article, the close;
- `procedure.py`: the phases the complaint goes through by itself, and continue-as-new;
- `withdrawal.py`: withdrawn at the customer's request, in any phase; the run ends;
- `notes.py`: internal notes for colleagues (bodies in PostgreSQL), mentions emailed;
- `rules.py`: who may do what when (the validators); `presentation.py`: how it reads.

Handlers change state without awaiting (they stay `async def` because recorded histories
ran them as tasks) and answer with a receipt; validators call the pure rules, so a refused
action never reaches history.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import rules
    from workflows.complaint.case import Case
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.complaint.final_response import FinalResponses
    from workflows.complaint.money import Money, refund_decision_problem
    from workflows.complaint.notes import Notes
    from workflows.complaint.ownership import Ownership
    from workflows.complaint.post_mortem import PostMortem
    from workflows.complaint.procedure import Procedure
    from workflows.complaint.resolution import Resolution
    from workflows.complaint.rules import ActionFacts
    from workflows.complaint.withdrawal import Withdrawals
    from workflows.events import Event
    from workflows.messages import ComplaintStart
    from workflows.models import (
        ActionPlan,
        ComplaintReceipt,
        ComplaintState,
        CsatResponse,
        CustomerResponse,
        CustomerUpdate,
        Dismissal,
        EscalationRequest,
        FinalResponse,
        FixDeployed,
        InternalReview,
        KbArticleDone,
        Note,
        PersonalAcknowledgement,
        PhoneContact,
        Reassignment,
        RefundDecision,
        Rekey,
        ResolutionConfirmation,
        RootCauseAnalysis,
        SolutionProposal,
        Withdrawal,
    )


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        self.case = case = Case.begin(start)
        self.effects = effects = Effects(case)
        self.deadlines = deadlines = Deadlines(case, effects)
        self.escalation = escalation = Escalation(case, effects, deadlines)
        self.customer = customer = CustomerContact(case, effects, deadlines)
        self.money = money = Money(case, effects, deadlines, escalation,
                                         ask_for_sign_off=customer.ask_for_sign_off)
        self.ownership = ownership = Ownership(case, effects, deadlines, escalation)
        self.resolution = resolution = Resolution(case, effects, deadlines, escalation,
                                                  customer, money)
        self.final_responses = final_responses = FinalResponses(
            case, effects, deadlines, escalation, money, resolution)
        resolution.on_deadlock = final_responses.ask_owner
        self.post_mortem = post_mortem = PostMortem(case, effects, escalation)
        self.procedure = Procedure(case, effects, deadlines, escalation, customer, ownership,
                                   post_mortem, final_responses)
        self.withdrawals = Withdrawals(case, effects, deadlines, customer, money)
        self.notes = Notes(case, effects)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintReceipt:
        # The procedure runs as a task so that a background task's failure (a deadline's
        # watcher, an email, a notice) ends this wait and fails the workflow task.
        procedure = asyncio.create_task(self.procedure.run(first_run=start.carried is None))
        await workflow.wait_condition(lambda: procedure.done() or self.effects.failure is not None
                                      or self.case.ended_early)
        self.effects.raise_background_failure()
        if not procedure.done():  # withdrawn at the customer's request, or dismissed
            await self.withdrawals.end(procedure)
        else:
            procedure.result()
        return self.effects.receipt()  # ended; the whole state stays readable through `status`

    def _facts(self) -> ActionFacts:
        """The complaint as the update rules read it."""
        case = self.case
        return ActionFacts(
            state=case.state, roster=case.roster, registered=case.registered,
            personal_ack_by=case.personal_ack.actor if case.personal_ack else None,
            automatic_ack_body=case.automatic_ack_body, customer_email=case.customer_email(),
            order=case.context.order, refunded=case.refunded_total, policy=case.policy)

    # --- Phase 1 ----------------------------------------------------------------------

    @workflow.update
    async def acknowledge_personally(self, ack: PersonalAcknowledgement) -> ComplaintReceipt:
        self.ownership.acknowledge_personally(ack)
        return self.effects.receipt()

    @acknowledge_personally.validator
    def _check_personal_ack(self, ack: PersonalAcknowledgement) -> None:
        rules.acknowledge_personally(self._facts(), ack)

    # --- Phase 2: ownership -------------------------------------------------------------

    @workflow.update
    async def record_phone_contact(self, call: PhoneContact) -> ComplaintReceipt:
        self.ownership.record_phone_contact(call)
        return self.effects.receipt()

    @record_phone_contact.validator
    def _check_phone_contact(self, call: PhoneContact) -> None:
        rules.record_phone_contact(self._facts(), call)

    @workflow.update
    async def submit_internal_review(self, review: InternalReview) -> ComplaintReceipt:
        self.resolution.submit_internal_review(review)
        return self.effects.receipt()

    @submit_internal_review.validator
    def _check_internal_review(self, review: InternalReview) -> None:
        rules.submit_internal_review(self._facts(), review)

    # --- Phase 3: resolution ------------------------------------------------------------

    @workflow.update
    async def submit_action_plan(self, plan: ActionPlan) -> ComplaintReceipt:
        self.resolution.submit_action_plan(plan)
        return self.effects.receipt()

    @submit_action_plan.validator
    def _check_action_plan(self, plan: ActionPlan) -> None:
        rules.submit_action_plan(self._facts(), plan)

    @workflow.update
    async def propose_solution(self, proposal: SolutionProposal) -> ComplaintReceipt:
        self.resolution.propose_solution(proposal)
        return self.effects.receipt()

    @propose_solution.validator
    def _check_proposal(self, proposal: SolutionProposal) -> None:
        rules.propose_solution(self._facts(), proposal)

    @workflow.update
    async def record_customer_response(self, reply: CustomerResponse) -> ComplaintReceipt:
        self.resolution.record_customer_response(reply)
        return self.effects.receipt()

    @record_customer_response.validator
    def _check_customer_response(self, reply: CustomerResponse) -> None:
        rules.record_customer_response(self._facts(), reply)

    @workflow.update
    async def record_fix_deployed(self, deployed: FixDeployed) -> ComplaintReceipt:
        self.resolution.record_fix_deployed(deployed)
        return self.effects.receipt()

    @record_fix_deployed.validator
    def _check_fix_deployed(self, deployed: FixDeployed) -> None:
        rules.record_fix_deployed(self._facts(), deployed)

    @workflow.update
    async def send_customer_update(self, update: CustomerUpdate) -> ComplaintReceipt:
        self.resolution.send_customer_update(update)
        if update.holding:
            self.final_responses.holding(update)
        return self.effects.receipt()

    @send_customer_update.validator
    def _check_customer_update(self, update: CustomerUpdate) -> None:
        rules.send_customer_update(self._facts(), update)

    @workflow.update
    async def confirm_resolution(self, confirmation: ResolutionConfirmation) -> ComplaintReceipt:
        self.resolution.confirm_resolution(confirmation)
        return self.effects.receipt()

    @confirm_resolution.validator
    def _check_confirmation(self, confirmation: ResolutionConfirmation) -> None:
        rules.confirm_resolution(self._facts(), confirmation)

    @workflow.update
    def issue_final_response(self, final: FinalResponse) -> ComplaintReceipt:
        """The firm's final answer: the letter, the outcome, every clock ended."""
        self.final_responses.issue(final)
        return self.effects.receipt()

    @issue_final_response.validator
    def _check_final_response(self, final: FinalResponse) -> None:
        rules.issue_final_response(self._facts(), final)

    # --- Phase 4: post-mortem -----------------------------------------------------------

    @workflow.update
    async def submit_rca(self, rca: RootCauseAnalysis) -> ComplaintReceipt:
        self.post_mortem.submit_rca(rca)
        return self.effects.receipt()

    @submit_rca.validator
    def _check_rca(self, rca: RootCauseAnalysis) -> None:
        rules.submit_rca(self._facts(), rca)

    @workflow.update
    async def record_kb_article(self, done: KbArticleDone) -> ComplaintReceipt:
        self.post_mortem.record_kb_article(done)
        return self.effects.receipt()

    @record_kb_article.validator
    def _check_kb_article(self, done: KbArticleDone) -> None:
        rules.record_kb_article(self._facts(), done)

    @workflow.update
    async def record_csat(self, csat: CsatResponse) -> ComplaintReceipt:
        self.post_mortem.record_csat(csat)
        return self.effects.receipt()

    @record_csat.validator
    def _check_csat(self, csat: CsatResponse) -> None:
        rules.record_csat(self._facts(), csat)

    # --- any phase: escalate, reassign ----------------------------------------------------

    @workflow.update
    async def escalate(self, request: EscalationRequest) -> ComplaintReceipt:
        self.escalation.acted(request.actor)
        self.escalation.escalate(self.case.state.escalation_level + 1, request.reason,
                                 request.actor)
        return self.effects.receipt()

    @escalate.validator
    def _check_escalate(self, request: EscalationRequest) -> None:
        rules.escalate(self._facts(), request)

    @workflow.update
    async def reassign(self, request: Reassignment) -> ComplaintReceipt:
        self.ownership.reassign(request)
        return self.effects.receipt()

    @reassign.validator
    def _check_reassign(self, request: Reassignment) -> None:
        rules.reassign(self._facts(), request)

    # --- any phase: an internal note -----------------------------------------------------

    @workflow.update
    async def add_note(self, note: Note) -> ComplaintReceipt:
        """A note for colleagues (its body in PostgreSQL); whoever it mentions is emailed."""
        await self.notes.add(note)
        return self.effects.receipt()

    @add_note.validator
    def _check_note(self, note: Note) -> None:
        rules.add_note(self._facts(), note)

    # --- any open phase: withdrawn at the customer's request ---------------------------------

    @workflow.update
    def withdraw(self, withdrawal: Withdrawal) -> ComplaintReceipt:
        """Closed as withdrawn: every clock cancelled, nothing more emailed; the run ends."""
        self.withdrawals.withdraw(withdrawal)
        return self.effects.receipt()

    @withdraw.validator
    def _check_withdraw(self, withdrawal: Withdrawal) -> None:
        rules.withdraw(self._facts(), withdrawal)

    @workflow.update
    def dismiss(self, dismissal: Dismissal) -> ComplaintReceipt:
        """Not a complaint (spam, misrouted, a duplicate): closed at once; the run ends."""
        self.withdrawals.dismiss(dismissal)
        return self.effects.receipt()

    @dismiss.validator
    def _check_dismiss(self, dismissal: Dismissal) -> None:
        rules.dismiss(self._facts(), dismissal)

    # --- the Finance Manager's decision ------------------------------------------------------

    @workflow.signal
    def refund_decision(self, decision: RefundDecision) -> None:
        """The Finance Manager's answer. A signal (approval systems fire and forget), so a
        decision that may not count is recorded in the timeline and changes nothing else."""
        case = self.case
        problem = refund_decision_problem(case.state.refund, case.roster.get(decision.actor),
                                          decision)
        if problem is not None:
            case.log(Event.refund_decision_rejected, decision.actor, problem, reason=problem)
            self.effects.changed()
            return
        self.money.decide(decision)

    @workflow.update
    async def decide_refund(self, decision: RefundDecision) -> ComplaintReceipt:
        """The same decision as the signal, for callers that want the answer: a decision
        that may not count is refused by the validator and leaves no trace in history."""
        self.money.decide(decision)
        return self.effects.receipt()

    @decide_refund.validator
    def _check_decide_refund(self, decision: RefundDecision) -> None:
        rules.decide_refund(self._facts(), decision)

    # --- Operations: a new encryption key ----------------------------------------------

    @workflow.update
    def rekey(self, request: Rekey) -> ComplaintReceipt:
        self.procedure.rekey_requested = True
        return self.effects.receipt()

    @rekey.validator
    def _check_rekey(self, request: Rekey) -> None:
        rules.rekey(self._facts(), request)

    # --- query ------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> ComplaintState:
        return self.case.state
