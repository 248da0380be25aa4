"""Phases 2 and 3 end to end: who owns a complaint, the phone clock, what the updates refuse,
planning again after a "no", reassignment, a replaced worker, and manual escalation.

Real time-skipping Temporal server, real PostgreSQL (demo seed), real SMTP delivery to the sink.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ComplaintStack
from tests.scenarios import call, confirm, drive, logged_seqs, plan, propose, refused, reply, review
from workflows import search_attributes as sa
from workflows.complaint import PHONE_CONTACT
from workflows.models import (
    ComplaintState,
    CsatResponse,
    CustomerUpdate,
    EscalationRequest,
    FixDeployed,
    Phase,
    Reassignment,
    RootCauseAnalysis,
    Status,
)

PHONE_WITHIN = timedelta(hours=4)  # the default policy: CRR-001 2.3

# --- payloads ------------------------------------------------------------------------


# --- driving a complaint -------------------------------------------------------------


async def attr(stack: ComplaintStack, crn: str, key: Any) -> Any:
    desc = await stack.client.get_workflow_handle(crn).describe()
    return desc.typed_search_attributes.get(key)


async def insert_complaint(stack: ComplaintStack, crn: str, *, customer: str, owner: str | None,
                           status: str, received_at: datetime, category: str = "data_inaccuracy"
                           ) -> None:
    """A complaint row as an earlier complaint (or another owner's workload) would leave it."""
    phase = {"resolved": "post_mortem", "closed": "closed"}.get(status, "resolution")
    await stack.rows(
        """INSERT INTO complaints (crn, source, external_ref, customer_id, subject, description,
               category, severity, severity_score, status, phase, owner, policy_name, received_at)
           VALUES ($1, 'email', $1, $2, 'Earlier problem', 'Something went wrong before', $3,
                   3, 40, $4, $5, $6, 'default', $7)""",
        crn, customer, category, status, phase, owner, received_at)


# A worker that another one replaces later in the test keeps no workflow cache, so no sticky
# task queue. A real server sends a stopped worker's sticky tasks and queries back to the shared
# queue after the sticky schedule-to-start timeout (and at once when the SDK reports the
# shutdown); the time-skipping test server does neither (ResetStickyTaskQueue is unimplemented
# there), so the next worker would never see those complaints. The next worker caches as usual
# and still has to rebuild every complaint from its history.
FIRST_OF_TWO_WORKERS = {"max_cached_workflows": 0}


def owner_event(state: ComplaintState):
    return next(e for e in state.timeline if e.event == "owner_assigned")


# --- 1. assignment -------------------------------------------------------------------


async def test_key_account_goes_to_its_csm_who_is_told_everything(stack: ComplaintStack):
    now = await stack.env.get_current_time()
    await insert_complaint(stack, "CRN-EARLIER-01", customer="cust-acme", owner="carla",
                           status="closed", received_at=now - timedelta(days=10),
                           category="billing_dispute")
    async with stack.worker():
        crn, state = await drive(
            stack, "owner", source="email",
            customer={"id": "cust-acme", "name": "Dana Acme", "email": "dana@acme.example"},
            category="technical_bug", order_id="ord-1001")
        mail = await stack.mail_for(crn, "owner_assigned")
        assert await attr(stack, crn, sa.COMPLAINT_OWNER) == "carla"
        row = await stack.until_row(crn, lambda r: r["owner"] is not None)

    assert state.owner == "carla"
    assert (state.status, state.phase) == (Status.under_investigation, Phase.ownership)
    assert "the customer's CSM" in owner_event(state).detail
    assert row["owner"] == "carla"
    assert mail["To"] == "carla@example.com"
    assert crn in mail["Subject"]
    body = mail.get_content()
    # The customer profile ...
    assert "Acme Logistics (cust-acme)" in body and "KEY ACCOUNT" in body
    assert "platinum" in body and "250000" in body
    # ... the order with its credit note ...
    assert "ord-1001: 12000.00 GBP net" in body and "cn-1001-a" in body
    # ... and the earlier complaints.
    earlier = body.split("Earlier complaints", 1)[1]
    assert "CRN-EARLIER-01" in earlier and "billing_dispute" in earlier
    assert "(none)" not in earlier
    # The phone deadline is in the email.
    assert "Call the customer by" in body


async def test_unavailable_csm_falls_back_to_a_skilled_specialist(stack: ComplaintStack):
    await stack.rows("UPDATE staff SET available = false WHERE id = 'carla'")
    async with stack.worker():
        crn, state = await drive(stack, "owner", customer={"id": "cust-acme"},
                                 category="billing_dispute")
        mail = await stack.mail_for(crn, "owner_assigned")
        assert await attr(stack, crn, sa.COMPLAINT_OWNER) == "priya"
        row = await stack.until_row(crn, lambda r: r["owner"] is not None)
    assert state.owner == "priya" and row["owner"] == "priya"
    assert "specialist" in owner_event(state).detail
    assert mail["To"] == "priya@example.com"
    assert stack.mails(crn, "owner_assigned")[0]["To"] != "carla@example.com"


@pytest.mark.parametrize(("customer", "category", "owner"), [
    ("cust-kite", "data_inaccuracy", "sam"),
    ("cust-bloom", "billing_dispute", "priya"),
    ("cust-bloom", "technical_bug", "sam"),
    ("cust-kite", "service_deficiency", "priya"),
])
async def test_without_csm_the_specialist_with_the_skill_owns_it(
        stack: ComplaintStack, customer: str, category: str, owner: str):
    async with stack.worker():
        crn, state = await drive(stack, "owner", customer={"id": customer}, category=category)
        mail = await stack.mail_for(crn, "owner_assigned")
        assert await attr(stack, crn, sa.COMPLAINT_OWNER) == owner
        row = await stack.until_row(crn, lambda r: r["owner"] is not None)
    assert state.owner == owner and row["owner"] == owner
    assert mail["To"] == f"{owner}@example.com"
    assert state.escalation_level == 0 and stack.mails(crn, "escalation") == []


async def test_lightest_workload_wins_and_ties_go_by_id(stack: ComplaintStack):
    await stack.rows("""INSERT INTO staff (id, name, email, role, skills, available)
                        VALUES ('zoe', 'Zoe Lin', 'zoe@example.com', 'specialist',
                                '{data_inaccuracy}', true)""")
    now = await stack.env.get_current_time()
    # A resolved complaint is not workload.
    await insert_complaint(stack, "CRN-DONE-SAM", customer="cust-bloom", owner="sam",
                           status="resolved", received_at=now - timedelta(days=200))
    async with stack.worker():
        # 0 open each: the tie goes by id, sam before zoe.
        first, s1 = await drive(stack, "owner", customer={"id": "cust-kite"})
        await stack.until_row(first, lambda r: r["owner"] == "sam")
        # sam has one open complaint, zoe none.
        second, s2 = await drive(stack, "owner", customer={"id": "cust-bloom"})
        await stack.until_row(second, lambda r: r["owner"] == "zoe")
        # 1 open each: the tie goes by id again.
        third, s3 = await drive(stack, "owner", customer={"id": "cust-kite"})
        await stack.until_row(third, lambda r: r["owner"] == "sam")
        assert await attr(stack, second, sa.COMPLAINT_OWNER) == "zoe"
        zoe_mail = await stack.mail_for(second, "owner_assigned")

        # Resolved work no longer counts: once both of sam's are resolved, sam 0 and zoe 1.
        await drive(stack, "resolved", crn=first, after="owner")
        await drive(stack, "resolved", crn=third, after="owner")
        await stack.until_row(first, lambda r: r["status"] == "resolved")
        await stack.until_row(third, lambda r: r["status"] == "resolved")
        _, s4 = await drive(stack, "owner", customer={"id": "cust-kite"})
    assert (s1.owner, s2.owner, s3.owner, s4.owner) == ("sam", "zoe", "sam", "sam")
    assert zoe_mail["To"] == "zoe@example.com"


async def test_nobody_available_the_team_lead_owns_it_and_it_escalates(stack: ComplaintStack):
    await stack.rows("UPDATE staff SET available = false WHERE role IN ('specialist', 'csm')")
    async with stack.worker():
        crn = (await stack.submit(customer={"id": "cust-kite"})).crn
        assert (await stack.until(crn, lambda s: s.handling_agent is not None)).owner is None
        assert await attr(stack, crn, sa.COMPLAINT_OWNER) == "unassigned"
        crn, _ = await drive(stack, "owner", crn=crn)
        state = await stack.until(crn, lambda s: s.escalation_level == 1)
        escalation = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))
        owned = await stack.mail_for(crn, "owner_assigned")
        assert await attr(stack, crn, sa.COMPLAINT_OWNER) == "tom"
        assert await attr(stack, crn, sa.ESCALATION_LEVEL) == 1
        row = await stack.until_row(crn, lambda r: r["escalation_level"] == 1)

    assert state.owner == "tom" and row["owner"] == "tom"
    assert "nobody available: team lead" in owner_event(state).detail
    assert owned["To"] == "tom@example.com"
    assert escalation["To"] == "tom@example.com"
    assert "no CSM or specialist available" in escalation["Subject"]
    escalated = [e for e in state.timeline if e.event == "escalated"]
    assert len(escalated) == 1 and escalated[0].detail.startswith("level 1 (team lead)")
    # Not an SLA breach: nothing fell due.
    assert not state.sla_breached
    assert len(stack.mails(crn, "escalation:")) == 1


# --- 2. the 4-hour phone contact -------------------------------------------------------


async def test_unanswered_call_is_logged_but_only_a_reached_call_meets_the_deadline(
        stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        d = state.deadline(PHONE_CONTACT)
        assert d is not None and d.due_at == owner_event(state).at + PHONE_WITHIN
        await stack.sleep(timedelta(hours=1))

        tried = await stack.act(crn, "record_phone_contact", call("sam", reached=False))
        attempt = tried.timeline[-1]
        assert (attempt.event, attempt.actor) == ("phone_attempt", "sam")
        assert "not reached" in attempt.detail
        d = tried.deadline(PHONE_CONTACT)
        assert d.met_at is None and not d.breached and not tried.phone_contact_made
        assert any("phone call" in w for w in tried.waiting_for)

        await stack.sleep(timedelta(hours=1))
        reached = await stack.act(crn, "record_phone_contact", call("sam"))
        d = reached.deadline(PHONE_CONTACT)
        assert d.met_at is not None and d.met_at < d.due_at and not d.breached
        assert reached.phone_contact_made
        assert not any("phone call" in w for w in reached.waiting_for)
        assert [e.event for e in reached.timeline if e.event.startswith("phone_")] == [
            "phone_attempt", "phone_contact"]

        # Past the original due time nothing fires.
        await stack.sleep(timedelta(hours=3))
        after = await stack.status(crn)
        assert not after.deadline(PHONE_CONTACT).breached and not after.sla_breached
        assert after.escalation_level == 0 and stack.mails(crn, "escalation") == []
        events = [r["event"] for r in await stack.rows(
            "SELECT event FROM complaint_events WHERE crn = $1 ORDER BY seq", crn)]
    assert "phone_attempt" in events and "phone_contact" in events


async def test_no_call_within_four_hours_of_ownership_escalates(stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        due = owner_event(state).at + PHONE_WITHIN
        assert state.deadline(PHONE_CONTACT).due_at == due

        await stack.sleep(due - await stack.env.get_current_time() - timedelta(seconds=1))
        before = await stack.status(crn)
        assert not before.deadline(PHONE_CONTACT).breached and not before.sla_breached
        assert before.escalation_level == 0 and stack.mails(crn, "escalation") == []
        assert await attr(stack, crn, sa.SLA_BREACHED) is False

        await stack.sleep(timedelta(seconds=2))
        state = await stack.until(crn, lambda s: s.deadline(PHONE_CONTACT).breached)
        escalation = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))
        assert await attr(stack, crn, sa.SLA_BREACHED) is True
        assert await attr(stack, crn, sa.ESCALATION_LEVEL) == 1
        row = await stack.until_row(crn, lambda r: r["sla_breached"])

    d = state.deadline(PHONE_CONTACT)
    assert d.breached and d.breached_at == due and d.met_at is None
    assert state.sla_breached and state.escalation_level == 1
    assert escalation["To"] == "tom@example.com"
    assert "phone contact" in escalation["Subject"]
    assert row["escalation_level"] == 1
    breach = next(e for e in state.timeline if e.event == "deadline_breached")
    assert breach.detail.startswith(PHONE_CONTACT) and due <= breach.at < due + timedelta(seconds=1)


# --- 3. refusals ---------------------------------------------------------------------


async def test_refused_actions_change_nothing(stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        assert state.owner == "sam"
        await stack.mail_for(crn, "owner_assigned")
        await stack.mail_for(crn, "personal_acknowledgement")

        # Wrong people.
        await refused(stack, crn, "record_phone_contact", call("ben"),
                      "only the owner (sam) or a team lead may record phone contact")
        await refused(stack, crn, "submit_action_plan", plan("ben"),
                      "only the owner (sam) or a team lead")
        await refused(stack, crn, "send_customer_update",
                      CustomerUpdate(actor="priya", message="An update from someone else"),
                      "only the owner (sam)")
        await refused(stack, crn, "reassign", Reassignment(actor="ana", owner="priya"),
                      "'ana' is a agent", "reassign needs one of: head_of_cs, team_lead")
        await refused(stack, crn, "escalate",
                      EscalationRequest(actor="mallory", reason="I want a manager"),
                      "'mallory' is not on the roster")
        await refused(stack, crn, "record_phone_contact", call("mallory"), "not on the roster")

        # Out of order.
        await refused(stack, crn, "submit_action_plan", plan("sam"), "3 Whys", "checklist")
        await refused(stack, crn, "propose_solution", propose("sam"),
                      "propose solution is for the resolution phase", "in ownership")
        await refused(stack, crn, "confirm_resolution", confirm("sam"),
                      "confirm resolution is for the resolution phase")
        await refused(stack, crn, "record_csat", CsatResponse(actor="ana", score=5),
                      "record csat is for the post_mortem or closed phase")
        await refused(stack, crn, "submit_rca", RootCauseAnalysis(
            actor="sam", root_cause="x", process_failures=["y"], corrective_actions=["z"],
            kb_article_needed=False), "submit rca is for the post_mortem phase")
        await refused(stack, crn, "record_customer_response", reply(True),
                      "no solution is waiting for the customer's agreement")
        await refused(stack, crn, "record_customer_response", reply(False),
                      "no solution is waiting")
        await refused(stack, crn, "record_fix_deployed",
                      FixDeployed(actor="raj", reference="deploy-1"),
                      "no technical fix is in progress")

        # A review with an incomplete checklist is recorded, but does not open planning.
        partial = await stack.act(crn, "submit_internal_review", review("sam", complete=False))
        assert not partial.internal_review_complete
        assert "checklist incomplete: issue verified, order checked" in partial.timeline[-1].detail
        await refused(stack, crn, "submit_action_plan", plan("sam"), "3 Whys")
        complete = await stack.act(crn, "submit_internal_review", review("sam"))
        assert complete.internal_review_complete
        planned = await stack.act(crn, "submit_action_plan", plan("sam", fix=True))
        assert (planned.phase, planned.status) == (Phase.resolution, Status.under_investigation)
        assert [s.kind for s in planned.action_plan] == ["technical_fix", "process_change"]

        # In resolution, before the customer agreed.
        await refused(stack, crn, "confirm_resolution", confirm("sam"),
                      "the customer has not agreed to a solution yet")
        await refused(stack, crn, "submit_rca", RootCauseAnalysis(
            actor="sam", root_cause="x", process_failures=["y"], corrective_actions=["z"],
            kb_article_needed=False),
            "submit rca is for the post_mortem phase; this complaint is in resolution")
        await refused(stack, crn, "record_csat", CsatResponse(actor="ana", score=5),
                      "post_mortem or closed phase")
        await refused(stack, crn, "propose_solution", propose("priya"), "only the owner (sam)")

        await stack.act(crn, "propose_solution", propose("sam"))
        agreed = await stack.act(crn, "record_customer_response", reply(True))
        assert agreed.customer_agreed and agreed.fix == "open"
        assert agreed.status == Status.fix_in_progress
        await refused(stack, crn, "confirm_resolution", confirm("sam"),
                      "the technical fix is not deployed yet")
        await refused(stack, crn, "record_fix_deployed",
                      FixDeployed(actor="fiona", reference="deploy-1"), "'fiona' is a finance_manager")
        deployed = await stack.act(crn, "record_fix_deployed",
                                   FixDeployed(actor="raj", reference="deploy-1"))
        assert deployed.fix == "deployed"
        await refused(stack, crn, "record_fix_deployed",
                      FixDeployed(actor="raj", reference="deploy-2"), "no technical fix")

        # The written sign-off must carry the phrase.
        await refused(stack, crn, "confirm_resolution",
                      confirm("sam", "Thanks, all looks good now"),
                      'must contain "Resolution Confirmed"')
        await refused(stack, crn, "confirm_resolution", confirm("sam", "Resolution pending"),
                      "Resolution Confirmed")
        resolved = await stack.act(crn, "confirm_resolution", confirm("sam"))
        assert (resolved.status, resolved.phase) == (Status.resolved, Phase.post_mortem)
        assert resolved.resolved_at is not None
        await refused(stack, crn, "record_phone_contact", call("sam"),
                      "record phone contact is for the ownership or resolution phase")


# --- 4. the customer says no ---------------------------------------------------------


async def test_customer_disagreement_returns_to_planning(stack: ComplaintStack):
    async with stack.worker():
        crn, proposed = await drive(stack, "proposed")
        assert proposed.status == Status.awaiting_customer
        assert any("agreement" in w for w in proposed.waiting_for)

        no = await stack.act(crn, "record_customer_response", reply(False))
        assert no.status == Status.under_investigation and no.phase == Phase.resolution
        assert no.action_plan == [] and no.customer_agreed is False
        assert any(e.event == "customer_disagreed" for e in no.timeline)
        assert any("an action plan from" in w for w in no.waiting_for)
        await refused(stack, crn, "propose_solution", propose("sam"),
                      "submit an action plan before proposing a solution")
        await refused(stack, crn, "confirm_resolution", confirm("sam"),
                      "the customer has not agreed")
        # The review stands: no new 3 Whys needed for a new plan.
        replanned = await stack.act(crn, "submit_action_plan",
                                    plan("sam", note="Refund the month and fix the export"))
        assert replanned.action_plan[0].description == "Refund the month and fix the export"
        assert replanned.customer_agreed is None and replanned.status == Status.under_investigation
        again = await stack.act(crn, "propose_solution", propose("sam"))
        assert again.status == Status.awaiting_customer
        yes = await stack.act(crn, "record_customer_response", reply(True))
        assert yes.customer_agreed is True
        done = await stack.act(crn, "confirm_resolution", confirm("sam"))
        assert done.status == Status.resolved
        await stack.mail_for(crn, "resolution_notice")
        proposals = stack.mails(crn, "solution_proposal")
        row = await stack.until_row(crn, lambda r: r["status"] == "resolved")
        timeline = (await stack.status(crn)).timeline  # a reply holds only the last 20 events

    assert len(proposals) == 2
    assert all(m["To"] == "kite@kite.example" for m in proposals)
    events = [e.event for e in timeline]
    i = events.index("customer_disagreed")
    assert events.count("action_plan") == 2 and events.count("solution_proposed") == 2
    assert events.index("customer_agreed") > i
    assert row["resolved_at"] is not None


# --- 5. reassignment -----------------------------------------------------------------


async def test_team_lead_reassigns_and_the_phone_clock_restarts(stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        assert state.owner == "sam"
        old_due = state.deadline(PHONE_CONTACT).due_at
        await stack.sleep(timedelta(hours=1))

        # Refused: not an owner's role, the current owner, not on the roster.
        await refused(stack, crn, "reassign", Reassignment(actor="tom", owner="ana"),
                      "'ana' is a agent; an owner is a specialist, CSM or team lead")
        await refused(stack, crn, "reassign", Reassignment(actor="tom", owner="fiona"),
                      "'fiona' is a finance_manager")
        await refused(stack, crn, "reassign", Reassignment(actor="tom", owner="sam"),
                      "'sam' already owns this complaint")
        await refused(stack, crn, "reassign", Reassignment(actor="tom", owner="ghost"),
                      "'ghost' is not on the roster")
        await refused(stack, crn, "reassign", Reassignment(actor="sam", owner="priya"),
                      "reassign needs one of: head_of_cs, team_lead")

        moved = await stack.act(crn, "reassign", Reassignment(actor="tom", owner="priya"))
        at = moved.timeline[-1].at
        assert moved.timeline[-1].event == "reassigned"
        assert moved.timeline[-1].detail.startswith("from sam to priya")
        assert moved.owner == "priya"
        old = moved.deadline(PHONE_CONTACT)
        new = moved.deadline(f"{PHONE_CONTACT}_2")
        assert old.superseded and old.met_at is None and not old.breached
        assert new is not None and new.due_at == at + PHONE_WITHIN and new.met_at is None
        assert new.due_at > old_due

        await stack.until_row(crn, lambda r: r["owner"] == "priya")
        assert await attr(stack, crn, sa.COMPLAINT_OWNER) == "priya"
        to_new = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("reassigned:")
            and m["To"] == "priya@example.com")
        to_old = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("reassigned:")
            and m["To"] == "sam@example.com")
        assert "Reassigned to you" in to_new["Subject"]
        assert "Call the customer by" in to_new.get_content()
        assert "You no longer own it" in to_old.get_content()
        assert len(stack.mails(crn, "reassigned:")) == 2

        # The old owner is out; the new one is in.
        await refused(stack, crn, "record_phone_contact", call("sam"), "only the owner (priya)")
        await refused(stack, crn, "reassign", Reassignment(actor="tom", owner="priya"),
                      "already owns")

        # The old due time passes without a breach (superseded) ...
        await stack.sleep(old_due - await stack.env.get_current_time() + timedelta(minutes=1))
        quiet = await stack.status(crn)
        assert not quiet.sla_breached and not quiet.deadline(PHONE_CONTACT).breached
        assert stack.mails(crn, "escalation") == []
        # ... the new one falls due 4 hours after the reassignment.
        await stack.sleep(new.due_at - await stack.env.get_current_time() + timedelta(seconds=1))
        late = await stack.until(crn, lambda s: s.deadline(f"{PHONE_CONTACT}_2").breached)
        escalation = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))
    assert late.sla_breached and late.escalation_level == 1
    assert late.deadline(f"{PHONE_CONTACT}_2").breached_at == new.due_at
    assert escalation["To"] == "tom@example.com"


async def test_reassigning_a_resolved_complaint_starts_no_phone_clock(stack: ComplaintStack):
    async with stack.worker():
        crn, resolved = await drive(stack, "resolved")
        assert resolved.phase == Phase.post_mortem and not resolved.phone_contact_made
        moved = await stack.act(crn, "reassign", Reassignment(actor="tom", owner="priya"))
        assert moved.owner == "priya"  # handing over the RCA is allowed
        await stack.sleep(timedelta(hours=5))
        after = await stack.status(crn)
    assert after.deadline(f"{PHONE_CONTACT}_2") is None
    assert not after.sla_breached and after.escalation_level == 0


# --- 6. a worker replaced mid-complaint ---------------------------------------------


async def test_a_new_worker_carries_on_exactly_where_the_old_one_stopped(stack: ComplaintStack):
    async with stack.worker(**FIRST_OF_TWO_WORKERS):
        crn, _ = await drive(stack, "plan")
        await stack.mail_for(crn, "owner_assigned")
        await stack.settle()
        before = await stack.status(crn)
    assert before.phase == Phase.resolution and before.owner == "sam"

    async with stack.worker():
        # Replayed from history on a worker that never saw it: the same state, exactly.
        assert await stack.status(crn) == before
        # Its timers survived too: the phone deadline falls due under the new worker.
        due = before.deadline(PHONE_CONTACT).due_at
        await stack.sleep(due - await stack.env.get_current_time() + timedelta(seconds=1))
        breached = await stack.until(crn, lambda s: s.deadline(PHONE_CONTACT).breached)
        await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))
        assert breached.owner == "sam"
        await stack.act(crn, "record_phone_contact", call("sam"))
        crn, after = await drive(stack, "resolved", crn=crn, after="plan")
        await stack.mail_for(crn, "resolution_notice")
        await stack.settle()
        after = await stack.status(crn)
        # The resolution log in PostgreSQL catches up with the timeline.
        await logged_seqs(stack, crn, len(after.timeline))
        rows = await stack.rows(
            "SELECT seq, event FROM complaint_events WHERE crn = $1 ORDER BY seq", crn)

    assert after.status == Status.resolved and after.owner == "sam"
    # The deadlines from before the swap are unchanged (the phone one now breached and met late).
    for d in before.deadlines:
        now = after.deadline(d.name)
        assert now is not None and now.due_at == d.due_at
        if d.met_at is not None:
            assert now.met_at == d.met_at
    phone = after.deadline(PHONE_CONTACT)
    assert phone.breached and phone.met_at is not None
    # The timeline continues: what was there is untouched, seq increases without a gap.
    assert after.timeline[:len(before.timeline)] == before.timeline
    seqs = [e.seq for e in after.timeline]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(after.timeline) > len(before.timeline)
    assert all(a.at <= b.at for a, b in zip(after.timeline, after.timeline[1:], strict=False))
    # The resolution log: one row per event, no duplicate seq.
    assert [r["seq"] for r in rows] == seqs
    assert [r["event"] for r in rows] == [e.event for e in after.timeline]
    # Nothing emailed twice by the replay.
    kinds = Counter(str(m["X-Complaint-Message-Kind"]) for m in stack.mails(crn))
    assert kinds and max(kinds.values()) == 1, kinds
    assert kinds["owner_assigned"] == 1 and kinds["acknowledgement"] == 1


# --- 7. manual escalation ------------------------------------------------------------


async def test_manual_escalation_climbs_to_the_head_of_customer_success(stack: ComplaintStack):
    def escalation_to(crn: str, to: str):
        return lambda m: (m["X-Complaint-Reference"] == crn and m["To"] == to
                          and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))

    async with stack.worker():
        crn, state = await drive(stack, "owner")
        assert state.escalation_level == 0

        one = await stack.act(crn, "escalate", EscalationRequest(
            actor="ana", reason="customer asked for a manager on the phone"))
        assert one.escalation_level == 1
        assert one.timeline[-1].event == "escalated" and one.timeline[-1].actor == "ana"
        assert "customer asked for a manager" in one.timeline[-1].detail
        lead = one.deadline("escalation_level_1")
        assert lead is not None and lead.due_at == one.timeline[-1].at + timedelta(hours=2)
        tom_mail = await stack.mail.wait_for(escalation_to(crn, "tom@example.com"))
        assert "level 1" in tom_mail["Subject"]
        assert "customer asked for a manager" in tom_mail["Subject"]
        assert await attr(stack, crn, sa.ESCALATION_LEVEL) == 1

        two = await stack.act(crn, "escalate", EscalationRequest(
            actor="tom", reason="customer threatens to leave; needs the head of CS"))
        assert two.escalation_level == 2
        # Tom acting answers his own escalation.
        assert two.deadline("escalation_level_1").met_at is not None
        assert not two.deadline("escalation_level_1").breached
        head = two.deadline("escalation_level_2")
        assert head is not None and head.due_at == two.timeline[-1].at + timedelta(hours=4)
        helen_mail = await stack.mail.wait_for(escalation_to(crn, "helen@example.com"))
        assert "level 2" in helen_mail["Subject"] and "threatens to leave" in helen_mail["Subject"]
        assert await attr(stack, crn, sa.ESCALATION_LEVEL) == 2
        row = await stack.until_row(crn, lambda r: r["escalation_level"] == 2)

        await refused(stack, crn, "escalate", EscalationRequest(actor="helen", reason="again"),
                      "already escalated to the head of customer success (level 2)")
        await refused(stack, crn, "escalate", EscalationRequest(actor="ana", reason="again"),
                      "already escalated")
    # Manual escalations are not SLA breaches.
    assert not two.sla_breached and not row["sla_breached"]
    assert len(stack.mails(crn, "escalation:")) == 2
