"""Recorded histories of every path a complaint takes, and the patch they guard.

`tests/histories/*.json` are real histories; test_lifecycle's replay test replays each with
the current workflow code, so a change that would make a running complaint replay
differently fails `make test` before it reaches production. The paths:

- full_life.json                               intake to archive (test_lifecycle)
- missed_acknowledgement_escalation_chain.json no acknowledgement: team lead, head of CS,
                                               nobody acts at the top, then the head acts
- refund_with_approval.json                    a refund above the threshold, approved by the
                                               Finance Manager, to archive
- disagreement_and_replan.json                 the customer says no, a new plan, then yes
- customer_by_email.json                       the customer acting themselves (the email
                                               channel): a reply, asked for and giving the
                                               written sign-off, rating the service
- withdrawn_awaiting_approval.json             withdrawn at the customer's request while a
                                               refund awaited the Finance Manager: every
                                               timer cancelled, the run completed
- escalation_unanswered_before_reminder.json   the escalation chain recorded *before* the
                                               `remind-head-of-cs-when-unanswered` patch
- full_life_before_upsert_patch.json           intake to archive recorded *before* the
                                               `upsert-only-changed-search-attributes` patch
- full_life_before_next_deadline_patch.json    intake to archive recorded *before* the
                                               `next-deadline-search-attribute` patch
- disagreement_before_silence_limits.json      the disagreement path and the customer by
  customer_by_email_before_silence_limits.json email, recorded *before* the `agreement-wait`,
                                               `deadlock-asks-for-final-response` and
                                               `sign-off-wait` patches
- final_response_after_deadlock.json           three proposals refused, the owner asked for
                                               a final response, partly upheld, to archive
- resolved_unconfirmed.json                    no sign-off within the wait: resolved,
                                               unconfirmed, to archive
- dismissed_as_spam.json                       dismissed in its first hour: every clock
                                               cancelled, the run completed
- notes_with_a_mention.json                    two internal notes (one mentioning a
                                               colleague, emailed), then dismissed

`RECORD_HISTORIES=1 make test` re-records all but the *before* ones (the recorders below are skipped
otherwise). See docs/reliability.md, "Safe evolution", for how a change is made.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from starter.operations import signal
from tests.conftest import ComplaintStack
from tests.scenarios import (
    agree_to_refund,
    confirm,
    drive,
    plan,
    propose,
    refuse_three_times,
    reply,
)
from workers.worker import WORKFLOWS, workflow_runner
from workflows import models as m
from workflows.complaint import ComplaintWorkflow
from workflows.models import Status

HISTORIES = Path(__file__).parent / "histories"
PATHS = ["full_life", "missed_acknowledgement_escalation_chain", "refund_with_approval",
         "disagreement_and_replan", "customer_by_email", "withdrawn_awaiting_approval",
         "final_response_after_deadlock", "resolved_unconfirmed", "dismissed_as_spam",
         "notes_with_a_mention"]
BEFORE_REMINDER = HISTORIES / "escalation_unanswered_before_reminder.json"
BEFORE_UPSERT_PATCH = HISTORIES / "full_life_before_upsert_patch.json"
BEFORE_NEXT_DEADLINE_PATCH = HISTORIES / "full_life_before_next_deadline_patch.json"
BEFORE_SILENCE_LIMITS = [HISTORIES / "disagreement_before_silence_limits.json",
                         HISTORIES / "customer_by_email_before_silence_limits.json"]
UPSERT_ATTRIBUTES = "upsertWorkflowSearchAttributesEventAttributes"
RECORDING = bool(os.environ.get("RECORD_HISTORIES"))
recorder = pytest.mark.skipif(not RECORDING, reason="RECORD_HISTORIES=1 records histories")


def replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner(),
                    data_converter=pydantic_data_converter)


async def replay(path: Path) -> BaseException | None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


@pytest.mark.skipif(RECORDING, reason="the recorders below are writing them")
def test_every_path_has_a_recorded_history():
    missing = [p for p in PATHS if not (HISTORIES / f"{p}.json").exists()]
    assert not missing, f"record them with RECORD_HISTORIES=1 make test: {missing}"
    assert BEFORE_REMINDER.exists() and BEFORE_UPSERT_PATCH.exists()
    assert BEFORE_NEXT_DEADLINE_PATCH.exists()


async def test_old_complaints_replay_only_because_the_reminder_is_patched(monkeypatch):
    """The safe-evolution example: ComplaintWorkflow._escalation_unanswered now emails the
    head of customer success when nobody acted at the top level, behind
    `workflow.patched("remind-head-of-cs-when-unanswered")`. A complaint that went past that
    point before the change has no email in its history; it replays because `patched` is
    False for it. Without the guard (patched always True) the same history no longer
    replays: the test that proves the guard is needed."""
    assert await replay(BEFORE_REMINDER) is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    failure = await replay(BEFORE_REMINDER)
    assert failure is not None and "nondetermin" in str(failure).lower(), failure


async def test_old_complaints_replay_only_because_the_upsert_change_is_patched(monkeypatch):
    """ComplaintWorkflow._changed() now upserts only the search attributes whose value
    changed, behind `workflow.patched("upsert-only-changed-search-attributes")`. A complaint
    started before that upserted all nine after every change; it replays because `patched`
    is False for it, and would not without the guard."""
    assert await replay(BEFORE_UPSERT_PATCH) is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    failure = await replay(BEFORE_UPSERT_PATCH)
    assert failure is not None and "nondetermin" in str(failure).lower(), failure


async def test_old_complaints_replay_only_because_the_next_deadline_is_patched(monkeypatch):
    """ComplaintWorkflow._changed() now also upserts NextDeadlineAt (the console's queue sorts
    by it), behind `workflow.patched("next-deadline-search-attribute")`. The history was
    recorded before that: it replays because `patched` is False for it, and would not
    without the guard (the new upserts are commands its history lacks)."""
    old = BEFORE_NEXT_DEADLINE_PATCH
    assert "NextDeadlineAt" not in old.read_text()
    assert await replay(old) is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    failure = await replay(old)
    assert failure is not None and "nondetermin" in str(failure).lower(), failure


async def test_old_complaints_replay_only_because_the_email_channel_is_patched(monkeypatch):
    """The email channel asks the customer for the sign-off once the fix is deployed
    (`ask-customer-for-sign-off`) and tells the owner of a reply (`customer-reply-notifies-
    owner`). A complaint whose fix was deployed before sent no such email; it replays
    because `patched` is False for it, and would not without the guard."""
    full_life = HISTORIES / "full_life.json"
    assert await replay(full_life) is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    failure = await replay(full_life)
    assert failure is not None and "nondetermin" in str(failure).lower(), failure


@pytest.mark.parametrize("path", BEFORE_SILENCE_LIMITS, ids=lambda p: p.stem)
async def test_old_complaints_replay_only_because_the_silence_limits_are_patched(
        monkeypatch, path: Path):
    """A proposal now waits `agreement_wait` and a sign-off request `sign_off_wait` (new
    timers), and deadlock asks for a final response: complaints that proposed or asked
    before replay without them, and would not without the guards."""
    assert await replay(path) is None
    monkeypatch.setattr(workflow, "patched", lambda patch_id: True)
    failure = await replay(path)
    assert failure is not None and "nondetermin" in str(failure).lower(), failure


def upserts(path: Path) -> list[dict[str, str]]:
    """The search attributes each upsert in a recorded history set (name -> encoded value;
    None for one unset, as NextDeadlineAt once no deadline is open)."""
    events = json.loads(path.read_text())["events"]
    return [{name: payload.get("data") for name, payload in e[UPSERT_ATTRIBUTES]["searchAttributes"]
             ["indexedFields"].items()}
            for e in events if e["eventType"] == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"]


@pytest.mark.skipif(RECORDING, reason="the recorders below are writing them")
@pytest.mark.parametrize("path", PATHS)
def test_every_upsert_changes_an_attribute(path: str):
    """Each upsert is a history event, a visibility task and a write: a complaint now makes
    one only when an attribute's value changes, and sets only the ones that did."""
    current: dict[str, str] = {}
    changes = upserts(HISTORIES / f"{path}.json")
    assert changes, "a complaint sets its search attributes at least once"
    for number, change in enumerate(changes, 1):
        unchanged = sorted(k for k, v in change.items() if current.get(k) == v)
        assert not unchanged, f"upsert {number} of {path} sets {unchanged} to what they were"
        current.update(change)


@pytest.mark.skipif(RECORDING, reason="the recorders below are writing them")
def test_the_same_life_upserts_less_than_before_the_patch():
    before, now = upserts(BEFORE_UPSERT_PATCH), upserts(HISTORIES / "full_life.json")
    assert len(now) < len(before) and sum(map(len, now)) < sum(map(len, before)) / 3


async def record(stack: ComplaintStack, crn: str, name: str) -> None:
    """Write the complaint's history as tests/histories/<name>.json (it must replay)."""
    await stack.settle()
    history = await stack.client.get_workflow_handle(crn).fetch_history()
    path = HISTORIES / f"{name}.json"
    path.write_text(history.to_json())
    assert await replay(path) is None


# --- the recorders (RECORD_HISTORIES=1) ---------------------------------------------------


async def test_missed_acknowledgement_escalation_chain_ends_with_a_reminder(stack: ComplaintStack):
    """Runs in every `make test` (the patched behaviour itself); records the path with
    RECORD_HISTORIES=1. Nobody acknowledges: team lead, head of CS, nobody acts at the top,
    the head of CS is reminded once, then acts."""
    policy = stack.policy
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        received = (await stack.status(crn)).received_at
        level1 = received + policy.acknowledgement.personal_within
        level2 = level1 + policy.escalation.team_lead_acts_within
        top_unanswered = level2 + policy.escalation.head_of_cs_acts_within
        await stack.sleep(top_unanswered - await stack.env.get_current_time() + timedelta(seconds=1))
        state = await stack.until(crn, lambda s: any(e.event == "escalation_unanswered"
                                                     for e in s.timeline))
        assert state.escalation_level == 2
        unanswered = next(e for e in state.timeline if e.event == "escalation_unanswered")
        assert top_unanswered <= unanswered.at < top_unanswered + timedelta(seconds=1)
        reminder = await stack.mail_for(crn, f"escalation:{unanswered.seq}")
        assert reminder["To"] == "helen@example.com" and "reminder" in reminder["Subject"]
        await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
            actor="helen", message="Dear Jon, I am the head of customer success; I apologise."))
        await stack.until(crn, lambda s: s.owner is not None)
        assert len(stack.mails(crn, f"escalation:{unanswered.seq}")) == 1
        if RECORDING:
            await record(stack, crn, "missed_acknowledgement_escalation_chain")


@recorder
async def test_record_refund_with_approval(stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await agree_to_refund(stack, "600.00")
        await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        await signal(stack.client, crn, "refund_decision", m.RefundDecision(
            actor="fiona", approved=True, amount=Decimal("600.00"), note="Duplicate charge"))
        await stack.until(crn, lambda s: s.refund.status == "applied")
        await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=owner, confirmation_text="Refund received. Resolution Confirmed."))
        await to_archive(stack, crn, owner)
        assert (await stack.status(crn)).refund.status == "applied"
        await record(stack, crn, "refund_with_approval")


@recorder
async def test_record_disagreement_and_replan(stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "proposed")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_customer_response", reply(False))
        await stack.act(crn, "submit_action_plan", plan(owner, note="Refund the month too"))
        await stack.act(crn, "propose_solution", propose(owner))
        await stack.act(crn, "record_customer_response", reply(True))
        await stack.act(crn, "confirm_resolution", confirm(owner))
        await to_archive(stack, crn, owner)
        events = [e.event for e in (await stack.status(crn)).timeline]
        assert events.count("solution_proposed") == 2 and "customer_disagreed" in events
        await record(stack, crn, "disagreement_and_replan")


@recorder
async def test_record_customer_by_email(stack: ComplaintStack):
    customer = "customer:cust-kite"
    async with stack.worker():
        crn, state = await drive(stack, "plan")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_customer_response", m.CustomerResponse(
            actor=customer, message="Does this cover the quarterly export too?"))
        await stack.mail_for(crn, "customer_reply:1")
        await stack.act(crn, "propose_solution", propose(owner))
        await stack.act(crn, "record_customer_response", m.CustomerResponse(
            actor=customer, agrees=True, message="Yes, go ahead"))
        await stack.mail_for(crn, "sign_off_request:1")  # nothing left to do but sign off
        await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=customer, confirmation_text="Resolution Confirmed, thanks"))
        await to_archive(stack, crn, owner, rated_by=customer)
        events = [(e.event, e.actor) for e in (await stack.status(crn)).timeline]
        assert ("resolved", customer) in events and ("csat", customer) in events
        await record(stack, crn, "customer_by_email")


@recorder
async def test_record_withdrawn_awaiting_approval(stack: ComplaintStack):
    async with stack.worker():
        crn, _ = await agree_to_refund(stack, "600.00")
        await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        await stack.settle()
        await stack.act(crn, "withdraw", m.Withdrawal(
            actor="customer:cust-bloom", reason="Sorted out with the bank; please close it"))
        final = await stack.client.get_workflow_handle_for(ComplaintWorkflow.run, crn).result()
        # The run's result is a receipt; the refund it left is the status query's.
        refund = (await stack.status(crn)).refund
        assert (final.status, final.outcome, refund.status) == (
            Status.closed, m.ComplaintOutcome.withdrawn, "withdrawn")
        await record(stack, crn, "withdrawn_awaiting_approval")


async def to_archive(stack: ComplaintStack, crn: str, owner: str, rated_by: str = "ana") -> None:
    """Post-mortem to the end of the run: CSAT, RCA, closed, archived after 30 days."""
    await stack.act(crn, "record_csat", m.CsatResponse(actor=rated_by, score=4))
    await stack.act(crn, "submit_rca", m.RootCauseAnalysis(
        actor=owner, root_cause="Found", process_failures=["A gap"],
        corrective_actions=["A fix"], kb_article_needed=False))
    await stack.until(crn, lambda s: s.status == Status.closed)
    await stack.sleep(timedelta(days=30, seconds=1))
    final = await stack.client.get_workflow_handle_for(ComplaintWorkflow.run, crn).result()
    assert final.status == Status.archived


@recorder
async def test_record_final_response_after_deadlock(stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await refuse_three_times(stack)
        await stack.mail_for(crn, "final_response_due:3")
        done = await stack.act(crn, "issue_final_response", m.FinalResponse(
            actor=owner, outcome="partly_upheld", message="Our final answer on the totals."))
        assert done.outcome == m.ComplaintOutcome.partly_upheld
        await to_archive(stack, crn, owner)
        await record(stack, crn, "final_response_after_deadlock")


@recorder
async def test_record_resolved_unconfirmed(stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "agreed")
        owner = state.owner
        sign_off = state.deadline("customer_sign_off")
        assert owner is not None and sign_off is not None
        await stack.sleep(sign_off.due_at - await stack.env.get_current_time()
                          + timedelta(seconds=1))
        await stack.until(crn, lambda s: s.outcome == m.ComplaintOutcome.unconfirmed)
        await to_archive(stack, crn, owner)
        await record(stack, crn, "resolved_unconfirmed")


@recorder
async def test_record_dismissed_as_spam(stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.until(crn, lambda s: s.handling_agent is not None)
        await stack.act(crn, "dismiss", m.Dismissal(actor="ana", reason="spam"))
        final = await stack.client.get_workflow_handle_for(ComplaintWorkflow.run, crn).result()
        assert (final.status, final.outcome) == (Status.closed, m.ComplaintOutcome.dismissed)
        await record(stack, crn, "dismissed_as_spam")


@recorder
async def test_record_notes_with_a_mention(stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.until(crn, lambda s: s.handling_agent is not None)
        await stack.act(crn, "add_note", m.Note(actor="ana", text="Looks like spam, @tom?"))
        await stack.mail_for(crn, "note_mention:1:tom")
        await stack.act(crn, "add_note", m.Note(actor="tom", text="Agreed."))
        await stack.act(crn, "dismiss", m.Dismissal(actor="tom", reason="spam"))
        final = await stack.client.get_workflow_handle_for(ComplaintWorkflow.run, crn).result()
        assert final.outcome == m.ComplaintOutcome.dismissed
        state = await stack.status(crn)
        assert [e.detail for e in state.timeline if e.event == "note_added"] == [
            "note 1, mentioning tom", "note 2"]
        await record(stack, crn, "notes_with_a_mention")
