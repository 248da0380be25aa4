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
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.activity_types import InboundActivities
    from workflows.complaint import ComplaintWorkflow
    from workflows.complaint.presentation import start_metadata
    from workflows.messages import ComplaintStart, InboundDecision, InboundOutcome

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
        decision = await workflow.execute_activity_method(
            InboundActivities.read_inbound, message_id, start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY, summary=f"Read and thread {message_id}")
        if decision.kind == "new_complaint":
            outcome = await self._start_complaint(decision)
        elif decision.kind == "reply":
            outcome = await workflow.execute_activity_method(
                InboundActivities.deliver_reply, decision, start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY, summary=f"The customer's reply to {decision.crn}")
        else:
            outcome = InboundOutcome(message_id=message_id, outcome=decision.kind,
                                     detail=decision.detail)
        await workflow.execute_activity_method(
            InboundActivities.record_inbound_outcome, outcome, start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY, summary=f"{outcome.outcome}: {message_id}")
        return outcome

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
