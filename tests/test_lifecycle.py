"""A complaint's whole life, end to end: intake to archive, every deadline and clock.

Time-skipping Temporal server, real PostgreSQL, real SMTP delivery to the sink.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.conftest import ComplaintStack
from tests.scenarios import owner_of, plan_agreed, to_owner
from workers.worker import WORKFLOWS, workflow_runner
from workflows import models as m
from workflows.complaint import ComplaintWorkflow
from workflows.models import Phase, Status
from workflows.policy import load_policy

HISTORIES = Path(__file__).parent / "histories"
LONDON = ZoneInfo("Europe/London")


def met(name: str):
    return lambda s: s.deadline(name) is not None and s.deadline(name).met_at is not None


async def test_full_life_from_intake_to_archive(stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack)
        owner = await owner_of(stack, crn)
        assert owner == "sam"  # cust-kite has no CSM; sam is the data_inaccuracy specialist
        await plan_agreed(stack, crn, owner)
        state = await stack.status(crn)
        assert (state.status, state.fix) == (Status.fix_in_progress, "open")
        rnd = await stack.mail_for(crn, "rnd_task")
        assert rnd["To"] == "raj@example.com" and "high-P2" in rnd.get_content()

        await stack.act(crn, "record_fix_deployed", m.FixDeployed(actor="raj", reference="REL-42"))
        state = await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=owner, confirmation_text="Totals are right now. Resolution Confirmed. - Jon"))
        assert (state.status, state.phase) == (Status.resolved, Phase.post_mortem)
        assert state.deadline("resolution").met_at is not None
        await stack.mail_for(crn, "resolution_notice")
        await stack.mail_for(crn, "survey")
        await stack.act(crn, "record_csat", m.CsatResponse(actor="ana", score=5, comment="Great"))
        await stack.act(crn, "submit_rca", m.RootCauseAnalysis(
            actor=owner, root_cause="Rounding in export used floats",
            process_failures=["No regression test for exports"],
            corrective_actions=["Decimal arithmetic", "Export regression suite"],
            kb_article_needed=True))
        rca = await stack.mail_for(crn, "rca")
        assert rca["To"] == "helen@example.com" and "Decimal arithmetic" in rca.get_content()
        await stack.mail_for(crn, "kb_task")
        await stack.act(crn, "record_kb_article", m.KbArticleDone(actor="quinn",
                                                                  reference="KB-1001"))
        state = await stack.until(crn, lambda s: s.status == Status.closed)
        closed_at = state.closed_at
        assert state.phase == Phase.closed

        # Archived after the policy's retention period (30 days), then the run ends.
        await stack.sleep(timedelta(days=30, seconds=1))
        # The run's result is a receipt; the whole state stays readable by query once it ended.
        ended = await stack.client.get_workflow_handle_for(ComplaintWorkflow.run, crn).result()
        assert (ended.crn, ended.status, ended.phase) == (crn, Status.archived, Phase.closed)
        assert ended.next_deadline is None
        final = await stack.status(crn)
        assert final.status == Status.archived and ended.last_event_seq == final.timeline[-1].seq
        assert final.archived_at >= closed_at + timedelta(days=30)
        if os.environ.get("RECORD_HISTORIES"):
            history = await stack.client.get_workflow_handle(crn).fetch_history()
            (HISTORIES / "full_life.json").write_text(history.to_json())

    events = [e.event for e in final.timeline]
    for expected in ["received", "triaged", "handling_agent_assigned", "acknowledged_personally",
                     "owner_assigned", "phone_contact", "internal_review", "action_plan",
                     "solution_proposed", "update_clock_paused", "update_clock_resumed",
                     "customer_agreed", "rnd_task_opened", "fix_deployed", "resolved", "csat",
                     "rca", "kb_task_opened", "kb_article_done", "closed", "archived"]:
        assert expected in events, f"{expected} missing from {events}"
    # The order the procedure prescribes.
    order = [events.index(e) for e in ["received", "acknowledged_personally", "owner_assigned",
                                       "action_plan", "customer_agreed", "fix_deployed",
                                       "resolved", "rca", "closed", "archived"]]
    assert order == sorted(order)
    kinds = {str(msg["X-Complaint-Message-Kind"]) for msg in stack.mails(crn)}
    assert {"acknowledgement", "personal_acknowledgement", "owner_assigned",
            "solution_proposal:1", "rnd_task", "resolution_notice", "survey", "rca",
            "kb_task"} <= kinds
    assert not any(k.startswith("escalation") for k in kinds)  # every deadline was met
    # Every email went out once.
    assert len(stack.mails(crn)) == len(kinds)
    # PostgreSQL: the row, the whole resolution log, the archive.
    row = (await stack.rows("SELECT * FROM complaints WHERE crn = $1", crn))[0]
    assert (row["status"], row["csat_score"], row["owner"]) == ("archived", 5, "sam")
    logged = await stack.rows("SELECT seq, event FROM complaint_events WHERE crn = $1 ORDER BY seq", crn)
    assert [r["event"] for r in logged] == events
    assert await stack.rows("SELECT crn FROM complaint_archive WHERE crn = $1", crn)


def _next_weekday_at(after: datetime, weekday: int, hour: int) -> datetime:
    """The first local `weekday` (0 = Monday) at `hour` London time after `after`."""
    local = after.astimezone(LONDON)
    day = local.date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=LONDON).astimezone(UTC)


async def test_resolution_target_in_business_hours_across_a_weekend_and_a_holiday(
        stack: ComplaintStack):
    # Received on a Friday at 16:00 London, with the next Monday a company holiday: the
    # Sev 1 target (8 business hours, 09:00-17:00) counts 1 h on Friday, skips the weekend
    # and the holiday, and falls on Tuesday at 16:00; the 75% warning (6 h) at 14:00.
    friday = _next_weekday_at(await stack.env.get_current_time(), 4, 16)
    monday = (friday.astimezone(LONDON) + timedelta(days=3)).date()
    default = load_policy()
    # Only this holiday: the shared test clock may have moved to any week of the year.
    stack.policy = default.model_copy(update={"calendar": default.calendar.model_copy(
        update={"holidays_country": None, "extra_holidays": [monday]})})
    await stack.sleep(friday - await stack.env.get_current_time())
    tuesday = datetime.combine(monday + timedelta(days=1), datetime.min.time(), LONDON)
    due, warn = (tuesday.replace(hour=16).astimezone(UTC), tuesday.replace(hour=14).astimezone(UTC))

    async with stack.worker():
        crn = await to_owner(stack, impact="many_users", category="technical_bug")
        state = await stack.status(crn)
        assert state.severity == 1 and abs(state.received_at - friday) < timedelta(seconds=5)
        target = state.deadline("resolution")
        received = state.received_at
        # From the exact intake instant: Friday 16:00 + 8 business hours.
        assert target.due_at == due + (received - friday)

        await stack.sleep(warn + (received - friday) - await stack.env.get_current_time()
                          - timedelta(seconds=1))
        assert (await stack.status(crn)).deadline("resolution").warned_at is None
        await stack.sleep(timedelta(seconds=2))
        warned = await stack.until(crn, lambda s: s.deadline("resolution").warned_at is not None)
        assert warn + (received - friday) <= warned.deadline("resolution").warned_at \
            < warn + (received - friday) + timedelta(seconds=1)
        warning = await stack.mail_for(crn, "warning:resolution")
        assert warning["To"] == f"{warned.owner}@example.com"

        await stack.sleep(target.due_at - await stack.env.get_current_time() - timedelta(seconds=1))
        assert not (await stack.status(crn)).deadline("resolution").breached
        await stack.sleep(timedelta(seconds=2))
        state = await stack.until(crn, lambda s: s.deadline("resolution").breached)
        assert state.deadline("resolution").breached_at == target.due_at
        breach = [e for e in state.timeline if e.event == "deadline_breached"
                  and e.detail.startswith("resolution")]
        assert len(breach) == 1 and target.due_at <= breach[0].at < target.due_at + timedelta(seconds=1)
        assert state.sla_breached and state.escalation_level >= 1


async def test_customer_update_clock_warns_pauses_and_resumes(stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack)
        owner = await owner_of(stack, crn)
        await stack.act(crn, "send_customer_update", m.CustomerUpdate(
            actor=owner, message="We reproduced it; next update tomorrow 10:00."))
        sent = await stack.status(crn)
        first = sent.deadline("customer_update")
        assert first.met_at is not None and not first.breached
        clock = sent.deadline("customer_update_2")
        update_at = first.met_at
        assert clock.due_at == update_at + timedelta(hours=24)

        # Warning to the owner at 75% of the interval (18 h), not before.
        await stack.sleep(update_at + timedelta(hours=18) - await stack.env.get_current_time()
                          - timedelta(seconds=1))
        assert (await stack.status(crn)).deadline("customer_update_2").warned_at is None
        await stack.sleep(timedelta(seconds=2))
        await stack.mail_for(crn, "warning:customer_update_2")

        # A proposal is a substantive message (clock met) and the customer's turn: paused.
        await stack.act(crn, "record_phone_contact", m.PhoneContact(
            actor=owner, reached=True, summary="Called", expectations="Proposal tonight"))
        await stack.act(crn, "submit_internal_review", m.InternalReview(
            actor=owner, root_cause="a", process_failure="b", communication_failure="c",
            checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                               order_checked=True)))
        await stack.act(crn, "submit_action_plan", m.ActionPlan(actor=owner, steps=[
            m.PlanStep(kind="process_change", description="Correct the export")]))
        proposed = await stack.act(crn, "propose_solution", m.SolutionProposal(
            actor=owner, message="We propose to correct the export. Agreed?"))
        assert proposed.status == Status.awaiting_customer
        assert proposed.deadline("customer_update_2").met_at is not None

        # Three silent days from the customer: our clock does not run while it is their turn.
        await stack.sleep(timedelta(days=3))
        quiet = await stack.status(crn)
        assert quiet.deadline("customer_update_3") is None
        assert not any(d.name.startswith("customer_update") and d.breached for d in quiet.deadlines)

        # The customer replies: the clock resumes with the 24 h it had left.
        replied = await stack.act(crn, "record_customer_response", m.CustomerResponse(
            actor="ana", agrees=None, message="Can you tell me more?"))
        resumed_at = next(e.at for e in reversed(replied.timeline)
                          if e.event == "update_clock_resumed")
        state = await stack.until(crn, lambda s: s.deadline("customer_update_3") is not None)
        resumed = state.deadline("customer_update_3")
        assert resumed.due_at == resumed_at + timedelta(hours=24)
        assert replied.status == Status.under_investigation

        await stack.sleep(resumed.due_at - await stack.env.get_current_time() + timedelta(seconds=1))
        state = await stack.until(crn, lambda s: s.deadline("customer_update_3").breached)
        assert state.deadline("customer_update_3").breached_at == resumed.due_at
        escalations = [e for e in state.timeline if e.event == "escalated"
                       and "customer update" in e.detail]
        assert len(escalations) == 1
        assert resumed.due_at <= escalations[0].at < resumed.due_at + timedelta(seconds=1)


async def test_escalation_chain_reaches_the_head_of_customer_success(stack: ComplaintStack):
    policy = stack.policy
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        received = (await stack.status(crn)).received_at
        breach = received + policy.acknowledgement.personal_within
        level2 = breach + policy.escalation.team_lead_acts_within

        await stack.sleep(breach - await stack.env.get_current_time() + timedelta(seconds=1))
        state = await stack.until(crn, lambda s: s.escalation_level == 1)
        act = state.deadline("escalation_level_1")
        assert abs(act.due_at - level2) < timedelta(seconds=1)  # the team lead has 2 h to act
        await stack.mail.wait_for(lambda msg: msg["X-Complaint-Reference"] == crn
                                  and msg["To"] == "tom@example.com")

        # Nobody acts: one level up when the team lead's time is out.
        await stack.sleep(act.due_at - await stack.env.get_current_time() - timedelta(seconds=1))
        assert (await stack.status(crn)).escalation_level == 1
        await stack.sleep(timedelta(seconds=2))
        state = await stack.until(crn, lambda s: s.escalation_level == 2)
        up = [e for e in state.timeline if e.event == "escalated"][-1]
        assert act.due_at <= up.at < act.due_at + timedelta(seconds=1)
        assert abs(up.at - level2) < timedelta(seconds=1)
        assert "nobody acted on the level 1 escalation" in up.detail
        head = await stack.mail.wait_for(lambda msg: msg["X-Complaint-Reference"] == crn
                                         and msg["To"] == "helen@example.com")
        assert "level 2" in head["Subject"]
        attrs = (await stack.client.get_workflow_handle(crn).describe()).typed_search_attributes
        from workflows import search_attributes as sa
        assert attrs.get(sa.ESCALATION_LEVEL) == 2

        # The head of customer success acting answers the level-2 deadline.
        await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
            actor="helen", message="Dear Jon, I am the head of customer success; I apologise."))
        state = await stack.status(crn)
        assert state.deadline("escalation_level_2").met_at is not None


async def test_sixty_days_of_daily_updates_keep_the_history_small(stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack)
        owner = await owner_of(stack, crn)
        for day in range(60):
            await stack.act(crn, "send_customer_update", m.CustomerUpdate(
                actor=owner, message=f"Day {day + 1}: still working on it."))
            await stack.sleep(timedelta(hours=23))
        history = await stack.client.get_workflow_handle(crn).fetch_history()
        length, size = len(history.events), sum(e.ByteSize() for e in history.events)
        state = await stack.status(crn)
    print(f"\n60 days, 60 updates: {length} history events, {size} bytes")
    assert not any(d.breached for d in state.deadlines if d.name.startswith("customer_update"))
    # Temporal warns at 10,240 events and 10 MB, and stops a run at 51,200 / 50 MB.
    assert length < 5_000 and size < 5_000_000


async def test_recorded_histories_replay_with_the_current_code():
    """Every recorded history in tests/histories replays without non-determinism."""
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "no recorded histories (RECORD_HISTORIES=1 make test records them)"
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner(),
                        data_converter=pydantic_data_converter)
    for path in files:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
    assert ComplaintWorkflow in WORKFLOWS


async def test_survey_reminder_once_then_csat_recorded(stack: ComplaintStack):
    reminder_after = stack.policy.lifecycle.survey_reminder_after
    async with stack.worker():
        crn = await to_owner(stack)
        owner = await owner_of(stack, crn)
        await plan_agreed(stack, crn, owner, fix=False)
        resolved = await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=owner, confirmation_text="resolution confirmed, thanks"))
        await stack.mail_for(crn, "survey")
        due = resolved.resolved_at + reminder_after

        await stack.sleep(due - await stack.env.get_current_time() - timedelta(seconds=1))
        assert stack.mails(crn, "survey_reminder") == []
        await stack.sleep(timedelta(seconds=2))
        reminder = await stack.mail_for(crn, "survey_reminder")
        assert "Reminder" in reminder["Subject"]
        await stack.sleep(reminder_after * 2)
        assert len(stack.mails(crn, "survey")) == 2  # the survey and one reminder, no more

        state = await stack.act(crn, "record_csat", m.CsatResponse(actor="ana", score=2,
                                                                    comment="Took too long"))
        assert state.csat_score == 2
        row = await stack.until_row(crn, lambda r: r["csat_score"] == 2)
    assert row["status"] == "resolved"  # no RCA yet: post-mortem still open
