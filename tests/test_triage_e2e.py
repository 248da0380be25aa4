"""Phase 1 triage end to end: Retention Risk, severity and escalation at intake.

Each rule goes through the real worker: the state the `status` query returns, the
search attributes the Temporal UI filters on, the complaint's row in PostgreSQL and
the email the team lead receives. Time-skipping server, demo seed (tom is the team lead,
cust-acme the key account).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ComplaintStack
from workflows import search_attributes as sa
from workflows.complaint import AUTOMATIC_ACK
from workflows.models import ComplaintState

TEAM_LEAD = "tom@example.com"
ACME = {"id": "cust-acme", "name": "Dana Acme", "email": "ops@acme.example"}
BLOOM = {"id": "cust-bloom", "name": "Mia Bloom", "email": "hello@bloom.example"}


def registered(s: ComplaintState) -> bool:
    """Triage is done and the automatic acknowledgement went out (it is queued after the
    escalation decision, so by then that decision is in the state)."""
    d = s.deadline(AUTOMATIC_ACK)
    return s.handling_agent is not None and d is not None and d.met_at is not None


async def triaged(stack: ComplaintStack, **overrides: Any) -> tuple[ComplaintState, Any, Any]:
    """Submit, wait for triage and the acknowledgement; the state, row and search attributes."""
    crn = (await stack.submit(**overrides)).crn
    state = await stack.until(crn, registered)
    await stack.mail_for(crn, "acknowledgement")
    row = await stack.until_row(
        crn, lambda r: r["severity"] == state.severity
        and r["retention_risk"] == state.retention_risk
        and r["escalation_level"] == state.escalation_level)
    attrs = (await stack.client.get_workflow_handle(crn).describe()).typed_search_attributes
    return state, row, attrs


async def earlier_complaint(stack: ComplaintStack, customer_id: str, received_at: datetime,
                            category: str = "data_inaccuracy") -> str:
    """An earlier complaint of the customer, as an earlier workflow would have written it."""
    crn = f"CRN-EARLIER{received_at:%m%d}"
    await stack.rows(
        """INSERT INTO complaints (crn, source, external_ref, customer_id, subject, description,
               category, severity, severity_score, status, phase, policy_name, received_at)
           VALUES ($1, 'email', $2, $3, 'Earlier problem', 'It went wrong before.', $4,
                   3, 40, 'closed', 'closed', 'default', $5)""",
        crn, f"earlier-{crn}", customer_id, category, received_at,
    )
    return crn


# --- Retention Risk (CRR-001 Phase 1.2) ---------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"flags": {"threatens_termination": True}}, "threatens termination"),
        ({"customer": ACME}, "key account"),
        ({"flags": {"requests_manager": True}}, "requests a manager"),
    ],
    ids=["threatens_termination", "key_account", "requests_manager"],
)
async def test_each_retention_risk_signal_tags_the_complaint(
        stack: ComplaintStack, overrides: dict, reason: str):
    async with stack.worker():
        state, row, attrs = await triaged(stack, **overrides)

    assert state.retention_risk is True
    assert state.retention_risk_reasons == [reason]
    assert attrs.get(sa.RETENTION_RISK) is True
    assert row["retention_risk"] is True
    triage_event = next(e for e in state.timeline if e.event == "triaged")
    assert f"Retention Risk: {reason}" in triage_event.detail


async def test_a_repeat_complaint_within_90_days_is_a_retention_risk(stack: ComplaintStack):
    now = await stack.env.get_current_time()
    earlier = await earlier_complaint(stack, "cust-kite", now - timedelta(days=30))
    async with stack.worker():
        # Same customer, same category as the earlier one: tagged, and recorded as recurrent.
        state, row, attrs = await triaged(stack, category="data_inaccuracy")

    assert state.retention_risk is True
    assert state.retention_risk_reasons == [f"repeat complaint within 90 days (earlier: {earlier})"]
    assert state.recurrent_of == earlier
    assert attrs.get(sa.RETENTION_RISK) is True
    assert row["retention_risk"] is True and row["recurrent_of"] == earlier


async def test_an_earlier_complaint_of_another_category_is_still_a_repeat(stack: ComplaintStack):
    now = await stack.env.get_current_time()
    earlier = await earlier_complaint(stack, "cust-kite", now - timedelta(days=30),
                                      category="billing_dispute")
    async with stack.worker():
        state, row, _ = await triaged(stack, category="data_inaccuracy")
    assert state.retention_risk_reasons == [f"repeat complaint within 90 days (earlier: {earlier})"]
    assert state.recurrent_of is None  # recurrence is the same problem again
    assert row["recurrent_of"] is None


async def test_a_second_submitted_complaint_is_a_repeat_of_the_first(stack: ComplaintStack):
    """The same, with the earlier complaint written by the product itself."""
    async with stack.worker():
        first, _, _ = await triaged(stack)
        assert first.retention_risk is False
        second, row, attrs = await triaged(
            stack, received_at=(first.received_at + timedelta(minutes=5)).isoformat())
    assert second.retention_risk_reasons == [
        f"repeat complaint within 90 days (earlier: {first.crn})"]
    assert second.recurrent_of == first.crn
    assert attrs.get(sa.RETENTION_RISK) is True and row["retention_risk"] is True


async def test_a_complaint_more_than_90_days_after_the_last_is_not_a_repeat(stack: ComplaintStack):
    now = await stack.env.get_current_time()
    await earlier_complaint(stack, "cust-kite", now - timedelta(days=91))
    await earlier_complaint(stack, "cust-bloom", now - timedelta(days=10))  # another customer
    async with stack.worker():
        state, row, attrs = await triaged(stack)
    assert state.retention_risk is False and state.retention_risk_reasons == []
    assert state.recurrent_of is None
    assert attrs.get(sa.RETENTION_RISK) is False and row["retention_risk"] is False


async def test_no_signal_no_retention_risk(stack: ComplaintStack):
    async with stack.worker():
        # Legal implications escalate (below) but are not a Retention Risk signal by default.
        plain, row, attrs = await triaged(stack)
        legal, legal_row, legal_attrs = await triaged(  # another customer: not a repeat
            stack, customer=BLOOM, flags={"legal_or_compliance": True})

    for state, r, a in ((plain, row, attrs), (legal, legal_row, legal_attrs)):
        assert state.retention_risk is False
        assert state.retention_risk_reasons == []
        assert a.get(sa.RETENTION_RISK) is False
        assert r["retention_risk"] is False
        assert "Retention Risk" not in next(e for e in state.timeline if e.event == "triaged").detail


async def test_every_signal_at_once_lists_every_reason(stack: ComplaintStack):
    now = await stack.env.get_current_time()
    earlier = await earlier_complaint(stack, "cust-acme", now - timedelta(days=1))
    async with stack.worker():
        state, _, _ = await triaged(stack, customer=ACME, flags={
            "threatens_termination": True, "requests_manager": True})
    assert state.retention_risk_reasons == [
        "threatens termination", "key account", "requests a manager",
        f"repeat complaint within 90 days (earlier: {earlier})",
    ]


# --- severity (SOP step 2) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "severity"),
    [
        ({"impact": "many_users"}, 1),
        ({"impact": "single_client"}, 2),
        ({"impact": "partial"}, 3),
        ({"impact": "minor"}, 4),
        # impact wins over category
        ({"impact": "minor", "category": "technical_bug"}, 4),
        # no impact: by category
        ({"impact": None, "category": "technical_bug"}, 3),
        ({"impact": None, "category": "billing_dispute"}, 3),
        ({"impact": None, "category": "data_inaccuracy"}, 3),
        ({"impact": None, "category": "service_deficiency"}, 3),
        ({"impact": None, "category": "feature_request"}, 4),
        # neither: the policy's `unknown`
        ({"impact": None, "category": None}, 3),
    ],
    ids=lambda v: v if isinstance(v, int) else "-".join(f"{k}={x}" for k, x in v.items()),
)
async def test_severity_by_the_sop_definitions(stack: ComplaintStack, overrides: dict,
                                               severity: int):
    async with stack.worker():
        state, row, attrs = await triaged(stack, **overrides)
    assert state.severity == severity
    assert attrs.get(sa.COMPLAINT_SEVERITY) == severity
    assert row["severity"] == severity
    assert row["impact"] == overrides["impact"]
    assert attrs.get(sa.COMPLAINT_CATEGORY) == (
        overrides.get("category", "data_inaccuracy") or "uncategorised")


# --- escalation to the team lead at intake (SOP 4) ----------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"impact": "many_users"}, "Severity 1 at intake"),
        ({"impact": "single_client"}, "Severity 2 at intake"),
        ({"customer": ACME}, "key account"),
        ({"flags": {"legal_or_compliance": True}}, "legal or compliance implications"),
        ({"flags": {"requests_manager": True}}, "customer asked for a manager"),
    ],
    ids=["sev1", "sev2", "key_account", "legal", "requests_manager"],
)
async def test_escalated_to_the_team_lead_at_intake(stack: ComplaintStack, overrides: dict,
                                                    reason: str):
    async with stack.worker():
        state, row, attrs = await triaged(stack, **overrides)
        crn = state.crn
        mail = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))
        await asyncio.sleep(0.5)  # anything sent twice would have arrived by now

    assert state.escalation_level == 1
    assert attrs.get(sa.ESCALATION_LEVEL) == 1
    assert row["escalation_level"] == 1
    escalated = [e for e in state.timeline if e.event == "escalated"]
    assert len(escalated) == 1
    assert escalated[0].detail == f"level 1 (team lead): {reason}"
    assert escalated[0].at <= state.deadline(AUTOMATIC_ACK).met_at  # at intake, not later
    assert mail["To"] == TEAM_LEAD
    assert reason in mail["Subject"] and crn in mail["Subject"]
    assert len(stack.mails(crn, "escalation:")) == 1
    # Escalating is not an SLA breach.
    assert state.sla_breached is False and attrs.get(sa.SLA_BREACHED) is False


async def test_several_intake_triggers_are_one_escalation(stack: ComplaintStack):
    async with stack.worker():
        state, _, _ = await triaged(stack, customer=ACME, impact="many_users",
                                    flags={"requests_manager": True, "legal_or_compliance": True})
        await stack.mail.wait_for(lambda m: m["X-Complaint-Reference"] == state.crn
                                  and str(m["X-Complaint-Message-Kind"]).startswith("escalation:"))
        await asyncio.sleep(0.5)
    escalated = [e for e in state.timeline if e.event == "escalated"]
    assert [e.detail for e in escalated] == [
        "level 1 (team lead): Severity 1 at intake; key account; "
        "legal or compliance implications; customer asked for a manager"
    ]
    assert len(stack.mails(state.crn, "escalation:")) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"impact": "partial"},  # Sev 3
        {"impact": "minor"},  # Sev 4
        {"impact": "partial", "flags": {"threatens_termination": True}},  # at risk, not a trigger
    ],
    ids=["sev3", "sev4", "sev3-threatens-termination"],
)
async def test_a_plain_complaint_is_not_escalated_at_intake(stack: ComplaintStack,
                                                            overrides: dict):
    async with stack.worker():
        state, row, attrs = await triaged(stack, **overrides)
        await asyncio.sleep(0.5)  # an escalation email would have been queued before the ack

    assert state.escalation_level == 0
    assert attrs.get(sa.ESCALATION_LEVEL) == 0 and row["escalation_level"] == 0
    assert not any(e.event == "escalated" for e in state.timeline)
    assert stack.mails(state.crn, "escalation") == []
    assert stack.mails(state.crn, "acknowledgement") != []
