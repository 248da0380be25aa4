"""InboundMessageWorkflow: one inbound email, from the row the mail gateway stored to what
it became (README.md, "Complaints by email").

Its workflow id derives from the Message-ID (`inbound_workflow_id`), so the same message
delivered twice, or started again by the gateway's sweep, is processed once. It reads and
threads the message (an activity), then starts the complaint (a child workflow, the CRN
derived from the Message-ID like any intake) or acts on one as the customer (an activity
with the Temporal client), and records the outcome on the message's row.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.activity_types import EmailActivities, InboundActivities
    from workflows.complaint import ComplaintWorkflow
    from workflows.complaint.presentation import start_metadata
    from workflows.messages import ComplaintStart, EmailRequest, InboundDecision, InboundOutcome

# PostgreSQL or Temporal away: retried with backoff until they are back; nothing is lost.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1))
TIMEOUT = timedelta(seconds=60)


def inbound_workflow_id(message_id: str) -> str:
    return "inbound-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


@workflow.defn(name="InboundMessageWorkflow")
class InboundMessageWorkflow:
    @workflow.run
    async def run(self, message_id: str) -> InboundOutcome:
        try:
            outcome = await self._process(message_id)
        except ActivityError as err:
            # Only an error no retry can mend gets here (the rest retry until PostgreSQL or
            # Temporal are back): the message ends `failed` with its reason.
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.non_retryable):
                raise
            outcome = InboundOutcome(message_id=message_id, outcome="failed",
                                     detail=cause.message[:1000])
        await workflow.execute_activity_method(
            InboundActivities.record_inbound_outcome, outcome, start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY, summary=f"{outcome.outcome}: {message_id}")
        return outcome

    async def _process(self, message_id: str) -> InboundOutcome:
        decision = await workflow.execute_activity_method(
            InboundActivities.read_inbound, message_id, start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY, summary=f"Read and thread {message_id}")
        if decision.kind == "new_complaint":
            return await self._start_complaint(decision)
        if decision.kind == "reply":
            outcome = await workflow.execute_activity_method(
                InboundActivities.deliver_reply, decision, start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY, summary=f"The customer's reply to {decision.crn}")
            if outcome.outcome == "sign_off_link" and outcome.confirm_to:
                await self._send_confirmation_link(outcome)
            return outcome
        return InboundOutcome(message_id=message_id, outcome=decision.kind,
                              detail=decision.detail)

    async def _send_confirmation_link(self, outcome: InboundOutcome) -> None:
        """An emailed sign-off nothing authenticated: its customer's own address gets a
        one-use link to the sign-off page (the outbox kind names this message: one each)."""
        assert outcome.crn is not None and outcome.confirm_to is not None
        kind = "sign_off_confirm:" + inbound_workflow_id(outcome.message_id)[8:20]
        await workflow.execute_activity_method(
            EmailActivities.send_email, EmailRequest(
                crn=outcome.crn, kind=kind, to=[outcome.confirm_to],
                template="sign_off_confirm", with_body=False,
                context={"crn": outcome.crn, "customer_name": outcome.customer_name or ""},
                language=outcome.language),
            start_to_close_timeout=TIMEOUT, retry_policy=RETRY,
            summary=f"Email {kind} to the customer")

    async def _start_complaint(self, decision: InboundDecision) -> InboundOutcome:
        assert decision.intake is not None and decision.crn is not None
        crn, detail = decision.crn, "started"
        try:
            await workflow.start_child_workflow(
                ComplaintWorkflow.run, ComplaintStart(intake=decision.intake), id=crn,
                task_queue=workflow.info().task_queue,
                # The complaint lives on by itself, for weeks; this workflow ends here.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                **start_metadata(crn, decision.intake))
        except WorkflowAlreadyStartedError:
            detail = "already started"  # the same complaint submitted another way first
        return InboundOutcome(message_id=decision.message_id, outcome="new_complaint", crn=crn,
                              detail=detail)
