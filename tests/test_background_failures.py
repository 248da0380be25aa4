"""A background task that raises fails the workflow task: Temporal retries it, the engineer
sees it in the UI, and nothing is dropped. Once the fault is fixed (a worker with the
real code), the deadline is decided at the instant it fell due.

Before the redesign, an exception in a deadline's watcher ended that asyncio task and the
run never noticed: the deadline was silently gone.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from tests.conftest import ComplaintStack, skip_time
from tests.faulty_workflow import BreachHandlerThatRaises
from workers.worker import activities_for, workflow_runner
from workflows.complaint import PERSONAL_ACK
from workflows.events import Event


async def workflow_task_failures(stack: ComplaintStack, crn: str) -> list[str]:
    history = await stack.client.get_workflow_handle(crn).fetch_history()
    return [e.workflow_task_failed_event_attributes.failure.message for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]


async def test_a_failing_deadline_watcher_fails_the_workflow_task_and_is_retried(
        stack: ComplaintStack):
    activities = activities_for(stack.settings, stack.pool, stack.policy)
    async with Worker(stack.client, task_queue=stack.settings.task_queue,
                      workflows=[BreachHandlerThatRaises], activities=activities,
                      workflow_runner=workflow_runner(), max_cached_workflows=0):
        crn = (await stack.submit()).crn
        received = (await stack.until(crn, lambda s: s.deadline(PERSONAL_ACK) is not None)
                    ).received_at
        await stack.settle()
        # Past the personal acknowledgement's deadline. The skip cannot finish while the
        # complaint's workflow task keeps failing: the server holds time for it.
        skipping = asyncio.create_task(skip_time(stack.env, timedelta(hours=1, minutes=1)))
        failures: list[str] = []
        for _ in range(200):
            failures = await workflow_task_failures(stack, crn)
            if failures:
                break
            await asyncio.sleep(0.05)
        # Seen as a workflow task failure naming the task and the cause, not a lost deadline.
        assert failures, "the injected fault did not surface as a workflow task failure"
        assert "the personal_acknowledgement deadline failed" in failures[0]
        assert "injected fault while handling the personal_acknowledgement breach" in failures[0]
        description = await stack.client.get_workflow_handle(crn).describe()
        assert description.status is not None and description.status.name == "RUNNING"

    # The fix deployed: the retried task decides the breach at its instant.
    async with stack.worker():
        await skipping
        state = await stack.until(crn, lambda s: s.deadline(PERSONAL_ACK).breached)
    ack = state.deadline(PERSONAL_ACK)
    assert ack.breached_at == ack.due_at == received + timedelta(hours=1)
    breaches = [e for e in state.timeline if e.event == Event.deadline_breached]
    assert [(e.deadline, e.outcome) for e in breaches] == [(PERSONAL_ACK, "breached")]
    assert state.escalation_level == 1 and state.sla_breached
    await stack.terminate_all()
