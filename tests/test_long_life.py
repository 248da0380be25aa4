"""A complaint that lives for more than a year, with a customer update every day, keeps a
bounded history: each run continues as new before HISTORY_EVENTS_BOUND events, carrying
the whole state, every clock's remaining time and the policy snapshot. Every deadline is
still decided at its instant, across the runs. (Time-skipping: 402 days in about a minute.)
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from starter.operations import act
from tests.conftest import ComplaintStack
from tests.scenarios import call, drive
from workers.worker import WORKFLOWS, workflow_runner
from workflows.complaint import CUSTOMER_UPDATE, case, procedure
from workflows.complaint.procedure import HISTORY_EVENTS_BOUND
from workflows.events import Event, deadline_type
from workflows.models import CustomerUpdate, Phase

DAYS = 420  # an update every 23 hours: 402 days
EVERY = timedelta(hours=23)
# What can land between the bound being crossed and the quiet moment the run hands over.
SLACK = 100


async def runs_of(stack: ComplaintStack, crn: str) -> list[int]:
    """The history length of each run of the complaint, first run first."""
    lengths, run_id = [], None
    while True:
        history = await stack.client.get_workflow_handle(crn, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return lengths[::-1]


async def test_a_complaint_living_400_days_continues_as_new_and_keeps_every_deadline(
        stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "review")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_phone_contact", call(owner))
        sent_at = []
        for day in range(DAYS):
            await stack.sleep(EVERY)
            done = await act(stack.client, crn, "send_customer_update", CustomerUpdate(
                actor=owner, message=f"Day {day + 1}: still on it, here is where we are."))
            # The receipt names the update's event; the status has it (and maybe later ones).
            sent = next(e for e in (await stack.status(crn)).timeline
                        if e.seq == done.last_event_seq)
            assert sent.event == Event.customer_update
            sent_at.append(sent.at)
        # Then silence: the last update's clock must breach at its exact instant.
        await stack.sleep(timedelta(hours=25))
        final = await stack.until(crn, lambda s: s.deadline(
            [d.name for d in s.deadlines if deadline_type(d.name) == CUSTOMER_UPDATE][-1]
        ).breached)
        await stack.settle()
        logged = await stack.rows(
            "SELECT seq, event FROM complaint_events WHERE crn = $1 ORDER BY seq", crn)
        first_run = await stack.client.get_workflow_handle(crn).fetch_history()
        carried_input = len(first_run.events[0].workflow_execution_started_event_attributes
                            .input.payloads[0].data)
        lengths = await runs_of(stack, crn)

    assert final.received_at + timedelta(days=400) < sent_at[-1]
    assert final.phase == Phase.ownership
    # Bounded: several runs, none past the bound by more than the hand-over's slack.
    assert len(lengths) >= 3, lengths
    assert max(lengths) < HISTORY_EVENTS_BOUND + SLACK, lengths
    continued = [r for r in logged if r["event"] == Event.continued]
    assert len(continued) == len(lengths) - 1
    # What a run carries stays small however old the complaint: the recent timeline only
    # (and what was not persisted yet, such as the hand-over itself). Counted up to the last
    # hand-over: how far the last run got depends on where the run boundaries fell.
    carried = [e for e in final.timeline if e.seq <= continued[-1]["seq"]]
    assert len(carried) <= case.CARRIED_TIMELINE + 5, len(carried)
    assert carried_input < 200_000, carried_input
    # Every update met its period, each period due 24 hours after the message before it.
    periods = [d for d in final.deadlines if deadline_type(d.name) == CUSTOMER_UPDATE]
    assert len(periods) == DAYS + 1
    assert [d.met_at for d in periods[:-1]] == sent_at
    assert [d.due_at for d in periods[1:]] == [at + timedelta(hours=24) for at in sent_at]
    assert not any(d.breached for d in periods[:-1])
    # The silence at the end: breached at the due instant, in the last run.
    last = periods[-1]
    assert last.breached and last.breached_at == last.due_at == sent_at[-1] + timedelta(hours=24)
    assert [e.deadline for e in final.timeline if e.event == Event.deadline_breached][-1] == last.name
    # The resolution log in PostgreSQL has every event once, across the runs, and the
    # carried timeline is its tail.
    assert [r["seq"] for r in logged] == list(range(1, len(logged) + 1))
    assert [(e.seq, e.event) for e in final.timeline] == [
        (r["seq"], r["event"]) for r in logged[-len(final.timeline):]]
    await stack.terminate_all()


async def test_the_first_run_is_unchanged_when_its_history_stays_short(stack: ComplaintStack):
    async with stack.worker():
        crn, _ = await drive(stack, "review")
        lengths = await runs_of(stack, crn)
        history = await stack.client.get_workflow_handle(crn).fetch_history()
    assert len(lengths) == 1 and lengths[0] < HISTORY_EVENTS_BOUND
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
               and "continue-as-new" in str(e.marker_recorded_event_attributes.details)]
    assert markers == []  # the patch marker appears only when a run is about to continue
    await stack.terminate_all()


async def test_a_complaint_that_grew_long_before_the_change_replays_as_it_ran(
        stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch):
    """Continue-as-new is behind `workflow.patched`: a complaint whose history passed the
    bound under the code before it (emulated here by a bound it never reaches) has no
    marker, so replaying it with the current code keeps waiting instead of continuing as
    new. Without the guard the same history no longer replays."""
    monkeypatch.setattr(procedure, "HISTORY_EVENTS_BOUND", 10**9)
    async with stack.worker():
        crn, state = await drive(stack, "review")
        handle = stack.client.get_workflow_handle(crn)
        while len((await handle.fetch_history()).events) < HISTORY_EVENTS_BOUND + 50:
            for _ in range(10):
                await stack.sleep(EVERY)
                await stack.act(crn, "send_customer_update", CustomerUpdate(
                    actor=state.owner, message="still on it"))
        await stack.settle()
        history = await handle.fetch_history()
    await stack.terminate_all()
    monkeypatch.undo()
    assert procedure.HISTORY_EVENTS_BOUND < len(history.events)

    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner(),
                        data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    patched = workflow.patched
    monkeypatch.setattr(workflow, "patched",
                        lambda patch_id: patch_id == procedure.CONTINUE_AS_NEW or patched(patch_id))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower(), result.replay_failure
