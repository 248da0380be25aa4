"""The Temporal UI as the engineer's window: what a complaint shows there.

On the Temporal dev server (the one `make dev` runs, with its UI): the static summary and
details set at intake, the current details the workflow keeps up to date, and a one-line
summary on every timer and activity in the history.
"""

from __future__ import annotations

import re

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata

from tests.conftest import ComplaintStack
from tests.scenarios import to_owner
from workflows import models as m

BLOOM = {"id": "cust-bloom", "name": "Mia Bloom", "email": "hello@bloom.example"}
SLA_TIMER = re.compile(r"^SLA: [a-z0-9 ()-]+ due \d{4}-\d\d-\d\d \d\d:\d\d UTC$")


async def current_details(stack: ComplaintStack, crn: str) -> str:
    handle = stack.client.get_workflow_handle(crn)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_a_complaint_reads_well_in_the_temporal_ui(local_stack: ComplaintStack):
    stack = local_stack
    async with stack.worker():
        crn = await to_owner(stack, customer=BLOOM, subject="Invoice shows the wrong VAT")
        state = await stack.status(crn)
        owner = state.owner
        assert owner is not None

        description = await stack.client.get_workflow_handle(crn).describe()
        assert await description.static_summary() == (
            f"{crn} · Mia Bloom · Invoice shows the wrong VAT")
        details = await description.static_details()
        assert details is not None and crn in details and "cust-bloom" in details

        # The current details follow the complaint: phase, owner, next deadline, waiting for.
        shown = await current_details(stack, crn)
        assert f"**{crn}** · {state.status.value} · phase {state.phase.value}" in shown
        assert f"Owner: {owner}" in shown
        phone = next(d for d in state.deadlines if d.name.startswith("phone_contact"))
        assert f"Next deadline: phone contact due {phone.due_at:%Y-%m-%d %H:%M} UTC" in shown
        assert "Waiting for: phone call to the customer" in shown
        await stack.act(crn, "record_phone_contact", m.PhoneContact(
            actor=owner, reached=True, summary="Apologised", expectations="A fix this week"))
        shown = await current_details(stack, crn)
        assert "phone call to the customer" not in shown
        assert "Waiting for: the 3 Whys and the investigation checklist" in shown

        history = await stack.client.get_workflow_handle(crn).fetch_history()
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    activities = [e for e in history.events
                  if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert timers and activities

    def summary(event) -> str:
        return stack.client.data_converter.payload_converter.from_payload(
            event.user_metadata.summary, str)

    assert all(summary(e) for e in timers + activities), "an event without a summary"
    sla = [summary(e) for e in timers if summary(e).startswith("SLA: ")]
    assert {"SLA: personal acknowledgement", "SLA: phone contact"} <= {
        s.split(" due ")[0] for s in sla}, sla
    assert all(SLA_TIMER.match(s) for s in sla), sla
    assert f"SLA: phone contact due {phone.due_at:%Y-%m-%d %H:%M} UTC" in sla
    assert all(len(summary(e).splitlines()) == 1 for e in timers + activities)
