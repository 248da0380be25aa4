"""Withdrawn at the customer's request (the `withdraw` update), end to end: in each
phase the complaint closes, every timer is cancelled, nothing more is emailed, the run
completes at once, the row says so and the reports count it as withdrawn, not resolved.

Time-skipping Temporal server (time skipped past every deadline after the withdrawal), real
PostgreSQL (demo seed), real SMTP delivery to the sink; the CLI in-process.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from reporting.figures import compute_metrics
from starter.operations import (
    ActionNotPermitted,
    ActionRefused,
    ComplaintNotFound,
    act,
    still_running,
)
from tests.api_stack import api_on
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.console_stack import console_on, signed_in, token
from tests.scenarios import (
    AS_OF,
    SUPERVISORS,
    agree_to_refund,
    at,
    balance,
    ev,
    owner_of,
    plan_agreed,
    refused,
    to_owner,
)
from workflows import models as m
from workflows import records
from workflows.complaint import rules
from workflows.events import Event
from workflows.models import ComplaintOutcome, Phase, Status
from workflows.report import period_containing

REASON = "The customer sorted it out with their bank and asked us to close it"
PAST_EVERY_DEADLINE = timedelta(days=45)  # beyond resolution, survey, archive (30 days)...


async def ended(stack: ComplaintStack, crn: str, timeout: float = 10.0) -> None:
    """The workflow run has completed (real time; no time is skipped meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await still_running(stack.client, [crn]):
        assert asyncio.get_running_loop().time() < deadline, f"{crn} still runs"
        await asyncio.sleep(0.05)


async def history_after_withdrawal(stack: ComplaintStack, crn: str) -> tuple[list, list]:
    """The history's events before and after the withdraw update was accepted."""
    history = await stack.client.get_workflow_handle(crn).fetch_history()
    events = list(history.events)
    accepted = [i for i, e in enumerate(events)
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
                and e.workflow_execution_update_accepted_event_attributes
                .accepted_request.input.name == "withdraw"]
    assert len(accepted) == 1
    return events[:accepted[0]], events[accepted[0]:]


async def withdraw_and_check(stack: ComplaintStack, crn: str, actor: str) -> m.ComplaintState:
    """Withdraw once the complaint is idle, then: closed and withdrawn, every timer that was
    running cancelled, the run completed within the same second of server time; time
    skipped past every deadline brings no breach, no escalation and no email."""
    await stack.settle()
    mails_before = len(stack.mails(crn))
    outbox_before = len(await stack.rows("SELECT 1 FROM email_outbox WHERE crn = $1", crn))
    before = await stack.status(crn)
    open_deadlines = [d.name for d in before.deadlines
                      if d.met_at is None and not d.superseded and not d.breached]

    state = await stack.act(crn, "withdraw", m.Withdrawal(actor=actor, reason=REASON))
    assert (state.status, state.phase, state.outcome) == (
        Status.closed, Phase.closed, ComplaintOutcome.withdrawn)
    assert state.closed_at is not None and state.waiting_for == []
    event = state.timeline[[e.event for e in state.timeline].index(Event.withdrawn)]
    assert (event.actor, event.reason, event.outcome) == (actor, REASON, "withdrawn")
    assert f"({before.phase.value} phase, {before.status.value})" in event.detail
    closed = {e.deadline for e in state.timeline
              if e.event == Event.deadline_closed and e.seq > event.seq}
    assert set(open_deadlines) <= closed
    await ended(stack, crn)

    ended_with = await stack.client.get_workflow_handle(crn).result()  # the run's receipt
    assert ended_with["outcome"] == "withdrawn" and ended_with["status"] == "closed"
    assert ended_with.get("next_deadline") is None
    final = await stack.status(crn)  # read by query once the run has ended
    assert all(d.met_at or d.superseded or d.breached for d in final.deadlines)

    earlier, later = await history_after_withdrawal(stack, crn)
    started = {e.timer_started_event_attributes.timer_id for e in earlier
               if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED}
    ended_before = {e.timer_fired_event_attributes.timer_id or e.timer_canceled_event_attributes.timer_id
                    for e in earlier if e.event_type in (EventType.EVENT_TYPE_TIMER_FIRED,
                                                         EventType.EVENT_TYPE_TIMER_CANCELED)}
    running = started - ended_before
    assert running, "timers were running at the withdrawal"
    cancelled = {e.timer_canceled_event_attributes.timer_id for e in later
                 if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED}
    assert running <= cancelled
    assert not [e for e in later if e.event_type in (EventType.EVENT_TYPE_TIMER_FIRED,
                                                     EventType.EVENT_TYPE_TIMER_STARTED)]
    completed = later[-1]
    assert completed.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    took = completed.event_time.ToDatetime() - later[0].event_time.ToDatetime()
    assert took < timedelta(seconds=5), f"the run took {took} of server time to end"

    row = await stack.until_row(crn, lambda r: r["outcome"] == "withdrawn")
    assert (row["status"], row["phase"]) == ("closed", "closed")
    assert row["closed_at"] == state.closed_at

    await stack.sleep(PAST_EVERY_DEADLINE)
    await stack.settle()
    assert len(stack.mails(crn)) == mails_before, "an email went out after the withdrawal"
    assert len(await stack.rows("SELECT 1 FROM email_outbox WHERE crn = $1", crn)) \
        == outbox_before
    logged = await stack.rows("SELECT event, actor FROM complaint_events WHERE crn = $1 "
                              "AND seq >= $2 ORDER BY seq", crn, event.seq)
    assert logged[0]["event"] == Event.withdrawn
    assert {r["event"] for r in logged} <= {Event.withdrawn, Event.deadline_closed}
    return state


async def test_withdrawn_in_triage_by_the_customer(stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        await stack.until(crn, lambda s: s.handling_agent is not None)
        state = await withdraw_and_check(stack, crn, "customer:cust-kite")
        assert state.resolved_at is None and state.owner is None


async def test_withdrawn_in_ownership_by_the_head_of_customer_success(stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack)
        before = await stack.status(crn)
        assert before.phase == Phase.ownership and not before.deadline("phone_contact").met_at
        await withdraw_and_check(stack, crn, "helen")


async def test_withdrawn_while_a_refund_awaits_the_finance_manager(stack: ComplaintStack):
    async with stack.worker():
        crn, _ = await agree_to_refund(stack, "600.00")
        await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        money_before = await balance(stack)
        state = await withdraw_and_check(stack, crn, "tom")
        assert state.refund.status == "withdrawn"
        assert stack.mails(crn, "refund_approval:reminder") == []
        assert await balance(stack) == money_before
        assert await stack.rows("SELECT 1 FROM refunds WHERE crn = $1", crn) == []


async def resolved_awaiting_survey(stack: ComplaintStack) -> tuple[str, str]:
    """Signed off by the customer, the survey sent and not answered: (CRN, owner)."""
    crn = await to_owner(stack)
    owner = await owner_of(stack, crn)
    await plan_agreed(stack, crn, owner, fix=False)
    await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
        actor=owner, confirmation_text="Resolution Confirmed"))
    await stack.mail_for(crn, "survey")
    return crn, owner


async def test_withdrawn_in_post_mortem_sends_no_survey_reminder(stack: ComplaintStack):
    async with stack.worker():
        crn, _ = await resolved_awaiting_survey(stack)
        state = await withdraw_and_check(stack, crn, "customer:cust-kite")
        assert state.resolved_at is not None  # resolved, then withdrawn before its RCA
        assert stack.mails(crn, "survey_reminder") == []


async def test_who_may_withdraw_and_only_once(stack: ComplaintStack, capsys: Any,
                                              monkeypatch: pytest.MonkeyPatch):
    async with stack.worker():
        crn = await to_owner(stack)
        owner = await owner_of(stack, crn)
        assert owner == "sam"
        for actor, reason in [("ana", "needs one of: head_of_cs, team_lead"),
                              (owner, "needs one of: head_of_cs, team_lead"),
                              ("fiona", "is a finance_manager"),
                              ("customer:cust-bloom", "is not this complaint's customer"),
                              ("nobody", "is not on the roster")]:
            text = await refused(stack, crn, "withdraw", m.Withdrawal(actor=actor, reason=REASON),
                                 reason)
            assert text
        with pytest.raises(ActionNotPermitted):
            await stack.act(crn, "withdraw", m.Withdrawal(actor="ana", reason=REASON))
        assert await still_running(stack.client, [crn]) == [crn]

        # The CLI subcommand built from the payload model, as a team lead.
        monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        code, out, err = await Cli(capsys)("withdraw", crn, "--actor", "tom", "--reason", REASON)
        assert code == 0, err
        assert f"{crn}: closed, phase closed" in out
        await ended(stack, crn)
        state = await stack.status(crn)
        assert state.outcome == ComplaintOutcome.withdrawn
        assert [e.actor for e in state.timeline if e.event == Event.withdrawn] == ["tom"]

        # Twice: the workflow has ended, so the action is refused and changes nothing (the
        # time-skipping server answers "not found" for an update to a completed workflow, the
        # dev server "already completed"); the validator's own answer on the withdrawn state
        # names when and by whom.
        with pytest.raises((ActionRefused, ComplaintNotFound)):
            await stack.act(crn, "withdraw", m.Withdrawal(actor="helen", reason=REASON))
        code, out, err = await Cli(capsys)("withdraw", crn, "--actor", "helen", "--reason", REASON)
        assert code != 0 and crn in err
        roster = {s.id: s for s in [records.StaffMember(id="helen", name="Helen", role="head_of_cs",
                                                  email="helen@example.com")]}
        with pytest.raises(ValueError, match="already withdrawn on .* by tom"):
            rules.withdraw(rules.ActionFacts(state=state, roster=roster),
                           m.Withdrawal(actor="helen", reason=REASON))
        assert [e.actor for e in (await stack.status(crn)).timeline
                if e.event == Event.withdrawn] == ["tom"]


async def test_reports_count_a_withdrawn_complaint_as_withdrawn_not_resolved(
        stack: ComplaintStack):
    async with stack.worker():
        still_open = (await stack.submit()).crn
        await stack.until(still_open, lambda s: s.handling_agent is not None)
        crn = await to_owner(stack)
        state = await withdraw_and_check(stack, crn, "tom")
    period = period_containing("monthly", state.received_at.date(),
                               stack.policy.calendar.timezone)
    async with stack.pool.acquire() as conn:
        metrics = await compute_metrics(conn, period, stack.policy,
                                        as_of=state.received_at + timedelta(days=40))
    # The one left alone is open at the period's end; the withdrawn one is not, and is
    # neither resolved nor a first contact resolution.
    assert (metrics.received, metrics.resolved, metrics.withdrawn) == (2, 0, 1)
    assert metrics.open_at_end == 1 and metrics.first_contact_resolutions == 0
    assert metrics.average_resolution_days is None


async def test_the_api_route_and_the_console_form(stack: ComplaintStack):
    """POST /complaints/{crn}/actions/withdraw with the key's owner as the actor; the
    console offers a team lead the Withdraw form and an agent nothing of the kind."""
    async with api_on(stack) as api:
        crn = await api.submit()
        await stack.until(crn, lambda s: s.handling_agent is not None)
        forbidden = await api.act(crn, "withdraw", "ana", reason=REASON)
        assert forbidden.status_code == 403 and "team_lead" in forbidden.json()["message"]
        bad = await api.act(crn, "withdraw", "tom", reason=REASON, actor="helen")
        assert bad.status_code == 422  # the key says who acts, never the body
        assert await still_running(stack.client, [crn]) == [crn]
        done = await api.act(crn, "withdraw", "tom", reason=REASON)
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["phase"], body["outcome"]) == ("closed", "closed",
                                                                    "withdrawn")
        await ended(stack, crn)
        again = await api.act(crn, "withdraw", "helen", reason=REASON)
        assert again.status_code in (404, 409)  # ended (the test server says "not found")

    async with console_on(stack) as console:
        crn = (await stack.submit()).crn
        await stack.until(crn, lambda s: s.handling_agent is not None)
        async with signed_in(console, "ana") as ana:
            page = await ana.get(f"/console/complaints/{crn}")
            assert page.status_code == 200 and "Withdraw</button>" not in page.text
            refused_post = await ana.post(f"/console/complaints/{crn}/actions/withdraw", data={
                "csrf_token": token(page.text), "reason": REASON})
            assert refused_post.status_code == 403
        assert await still_running(stack.client, [crn]) == [crn]
        async with signed_in(console, "tom") as tom:
            page = await tom.get(f"/console/complaints/{crn}")
            assert "Withdraw</button>" in page.text
            posted = await tom.post(f"/console/complaints/{crn}/actions/withdraw", data={
                "csrf_token": token(page.text), "reason": REASON})
            assert posted.status_code == 303
            await ended(stack, crn)
            shown = await tom.get(f"/console/complaints/{crn}")
            assert "withdrawn at the customer&#39;s request" in shown.text
            assert "Withdraw</button>" not in shown.text


def test_the_policy_what_if_stops_a_withdrawn_complaints_clocks_at_its_withdrawal():
    """The what-if replays a past complaint's deadlines up to its resolution or, for one
    withdrawn, its withdrawal: what fell due afterwards was never missed."""
    from workflows.policy import load_policy, snapshot_policy
    from workflows.whatif import PastComplaint, simulate

    received = at(6, 16)  # Friday 16:00; the personal acknowledgement is due within the hour
    left = (ev(received, "received"),)
    gone = (*left, ev(at(6, 16, 30), "withdrawn", "customer:cust-kite", reason=REASON))
    policy = snapshot_policy(load_policy(), at(1, 0, month=1))
    outcome = simulate(policy, [
        PastComplaint("CRN-LEFT", received, m.Impact.minor, None, None, left),
        PastComplaint("CRN-GONE", received, m.Impact.minor, None, None, gone)],
        SUPERVISORS, AS_OF)
    assert "personal_acknowledgement" in [n for _, n in outcome.replays["CRN-LEFT"].breaches]
    assert outcome.replays["CRN-GONE"].breaches == []
    assert outcome.replays["CRN-GONE"].escalations == []


async def test_withdrawn_once_closed_is_archived_at_once_and_stays_resolved(
        stack: ComplaintStack):
    """Closed (resolved, RCA done) but still waiting out its survey reminder and its archive
    delay: a withdrawal ends that wait, so the run ends (and an erasure may follow), and the
    complaint keeps its resolution."""
    async with stack.worker():
        crn, owner = await resolved_awaiting_survey(stack)  # its reminder is pending
        await stack.act(crn, "submit_rca", m.RootCauseAnalysis(
            actor=owner, root_cause="Found", process_failures=["A gap"],
            corrective_actions=["A fix"], kb_article_needed=False))
        closed = await stack.until(crn, lambda s: s.status == Status.closed)
        await stack.settle()
        mails_before = len(stack.mails(crn))

        done = await act(stack.client, crn, "withdraw",
                         m.Withdrawal(actor="customer:cust-kite", reason=REASON))
        assert (done.status, done.phase, done.outcome) == (
            Status.closed, Phase.closed, ComplaintOutcome.confirmed)
        await ended(stack, crn)
        final = await stack.status(crn)
        events = [e.event for e in final.timeline]
        assert events[-2:] == [Event.archive_requested, Event.archived]
        assert Event.withdrawn not in events
        assert (final.status, final.outcome) == (Status.archived, ComplaintOutcome.confirmed)
        assert final.closed_at == closed.closed_at and final.resolved_at == closed.resolved_at
        # Archived within seconds of server time, not after the policy's 30 days.
        assert final.archived_at - final.timeline[-2].at < timedelta(seconds=5)
        assert await stack.rows("SELECT 1 FROM complaint_archive WHERE crn = $1", crn)
        # Its run has ended (the time-skipping server answers that it has no such run).
        with pytest.raises((ActionRefused, ComplaintNotFound)):
            await act(stack.client, crn, "withdraw", m.Withdrawal(actor="tom", reason=REASON))

        await stack.sleep(PAST_EVERY_DEADLINE)
        await stack.settle()
        assert stack.mails(crn, "survey_reminder") == []
        assert len(stack.mails(crn)) == mails_before
