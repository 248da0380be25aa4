"""Phase 1, end to end: intake, registration, triage and the acknowledgements.

Real time-skipping Temporal server, real PostgreSQL, real SMTP delivery to the sink.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from starter.operations import ActionRefused, act
from tests.conftest import REPO_ROOT, ComplaintStack, load_json, text_of
from workflows import search_attributes as sa
from workflows.calendar import business_deadline
from workflows.complaint import AUTOMATIC_ACK, PERSONAL_ACK, PHONE_CONTACT
from workflows.events import Event
from workflows.models import ComplaintReceipt, PersonalAcknowledgement, Phase, Status
from workflows.policy import snapshot_policy


def met(name: str):
    """A status check: the deadline `name` exists and was met."""
    return lambda s: s.deadline(name) is not None and s.deadline(name).met_at is not None


def ack(actor: str = "ana", message: str | None = None) -> PersonalAcknowledgement:
    return PersonalAcknowledgement(
        actor=actor,
        message=message or "Dear Jon, I am sorry the export let you down. I am looking into "
        "it myself and a manager will call you today. Ana",
    )


@pytest.mark.parametrize("channel", ["email", "web", "phone", "api"])
async def test_each_channel_is_registered_and_acknowledged(stack: ComplaintStack, channel: str):
    payload = load_json(REPO_ROOT / "examples" / f"{channel}.json")
    async with stack.worker():
        result = await stack.submit(payload)
        assert result.created and result.crn.startswith("CRN-")
        state = await stack.until(result.crn, met(AUTOMATIC_ACK))
        message = await stack.mail_for(result.crn, "acknowledgement")

    # The acknowledgement names the ticket, the handling agent and the estimated resolution.
    body = text_of(message)
    assert result.crn in message["Subject"] and result.crn in body
    agent = {r["id"]: r["name"] for r in await stack.rows("SELECT id, name FROM staff")}[
        state.handling_agent]
    assert f"Handled by:               {agent}" in body
    policy = snapshot_policy(stack.policy, state.received_at)
    due = business_deadline(policy.calendar, state.received_at, policy.resolution.target(state.severity))
    assert state.estimated_resolution_at == due
    assert due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/London")).strftime(
        "%a %d %b %Y, %H:%M") in body
    # Sent well within the hour: the automatic acknowledgement deadline is met.
    auto = state.deadline(AUTOMATIC_ACK)
    assert auto.due_at == state.received_at + timedelta(hours=1)
    assert auto.met_at < auto.due_at and not auto.breached
    # Phone intakes carry no email: the customer's profile address is used.
    expected_to = {"phone": "ops@acme.example"}.get(channel, payload["customer"].get("email"))
    assert message["To"] == expected_to

    # Registered in PostgreSQL with the resolution log.
    row = (await stack.rows("SELECT * FROM complaints WHERE crn = $1", result.crn))[0]
    assert (row["source"], row["external_ref"]) == (channel, payload["external_ref"])
    assert (row["status"], row["phase"]) == ("new", "triage")
    assert row["severity"] == state.severity
    events = [r["event"] for r in await stack.rows(
        "SELECT event FROM complaint_events WHERE crn = $1 ORDER BY seq", result.crn)]
    assert events[:2] == ["received", "triaged"] and "email_sent" in events

    # The Temporal UI can filter on it.
    attrs = (await stack.client.get_workflow_handle(result.crn).describe()).typed_search_attributes
    assert attrs.get(sa.COMPLAINT_STATUS) == "new"
    assert attrs.get(sa.CUSTOMER_ID) == payload["customer"]["id"]
    assert attrs.get(sa.COMPLAINT_SEVERITY) == state.severity
    assert attrs.get(sa.SLA_BREACHED) is False


async def test_personal_acknowledgement_within_the_hour(stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        await stack.sleep(timedelta(minutes=30))
        state = await stack.act(crn, "acknowledge_personally", ack())
        personal = await stack.mail_for(crn, "personal_acknowledgement")

    d = state.deadline(PERSONAL_ACK)
    assert d.met_at is not None and d.met_at <= d.due_at and not d.breached
    assert (state.status, state.phase) == (Status.acknowledged, Phase.ownership)
    assert state.escalation_level == 0 and not state.sla_breached
    assert "I am looking into it myself" in text_of(personal)
    assert personal["To"] == "kite@kite.example"
    assert stack.mails(crn, "escalation") == []


async def test_missed_personal_acknowledgement_escalates_at_exactly_one_hour(stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        received_at = (await stack.status(crn)).received_at
        due = received_at + timedelta(hours=1)

        # One second before the hour: nothing has happened yet.
        await stack.sleep(due - await stack.env.get_current_time() - timedelta(seconds=1))
        before = await stack.status(crn)
        assert not before.deadline(PERSONAL_ACK).breached and before.escalation_level == 0
        assert stack.mails(crn, "escalation") == []

        await stack.sleep(timedelta(seconds=2))
        escalation = await stack.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith("escalation"))
        state = await stack.until(crn, lambda s: s.escalation_level == 1)

        d = state.deadline(PERSONAL_ACK)
        assert d.breached and d.breached_at == due
        assert state.sla_breached
        assert escalation["To"] == "tom@example.com"  # the team lead
        assert "personal acknowledgement" in escalation["Subject"]
        escalated = next(e for e in state.timeline if e.event == "escalated")
        assert due <= escalated.at < due + timedelta(seconds=1)
        assert escalated.detail.startswith("level 1 (team lead)")
        attrs = (await stack.client.get_workflow_handle(crn).describe()).typed_search_attributes
        assert attrs.get(sa.ESCALATION_LEVEL) == 1 and attrs.get(sa.SLA_BREACHED) is True

        # Late, but still accepted, and recorded as late.
        late = await stack.act(crn, "acknowledge_personally", ack())
        d = late.deadline(PERSONAL_ACK)
        assert d.met_at > d.due_at and d.breached
        assert late.status == Status.acknowledged and late.phase == Phase.ownership
        assert next(e for e in late.timeline
                    if e.event == "acknowledged_personally").detail.startswith("late")
        # Phase 1 is over: the complaint moved on to its owner.
        row = await stack.until_row(crn, lambda r: r["acknowledged_at"] is not None)
    assert (row["sla_breached"], row["escalation_level"]) == (True, 1)
    assert row["acknowledged_at"] == d.met_at


async def test_refused_acknowledgements_change_nothing(stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        automatic = await stack.mail_for(crn, "acknowledgement")
        await stack.until(crn, met(AUTOMATIC_ACK))
        before = await stack.status(crn)

        refusals = {
            "sam": ack(actor="sam"),  # a specialist, not an L1 agent
            "nobody": ack(actor="nobody"),  # not on the roster
            "automatic": ack(message=text_of(automatic)),  # the template again
        }
        reasons = {}
        for name, payload in refusals.items():
            with pytest.raises(ActionRefused) as err:
                await stack.act(crn, "acknowledge_personally", payload)
            reasons[name] = str(err.value)
        # An empty message never gets past the payload model (raw JSON bypasses the client model).
        with pytest.raises(ActionRefused):
            await stack.act(crn, "acknowledge_personally", {"actor": "ana", "message": "   "})

        assert "is a specialist" in reasons["sam"]
        assert "not on the roster" in reasons["nobody"]
        assert "not the automatic acknowledgement" in reasons["automatic"]
        after = await stack.status(crn)
        assert after == before

        await stack.act(crn, "acknowledge_personally", ack())
        with pytest.raises(ActionRefused, match="already acknowledged"):
            await stack.act(crn, "acknowledge_personally", ack(actor="ben"))


async def test_an_update_answers_with_a_small_receipt_and_the_state_stays_on_the_query(
        stack: ComplaintStack):
    """Every update's answer stays in the complaint's history for its whole life, so it is
    a receipt (where the complaint stands), not the state with its timeline."""
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        # The mail lands before the workflow records the automatic acknowledgement as met.
        await stack.until(crn, lambda s: s.deadline(AUTOMATIC_ACK).met_at is not None)
        done = await act(stack.client, crn, "acknowledge_personally", ack())
        state = await stack.status(crn)
        history = await stack.client.get_workflow_handle(crn).fetch_history()

    assert isinstance(done, ComplaintReceipt)
    assert (done.crn, done.status, done.phase) == (crn, Status.acknowledged, Phase.ownership)
    acknowledged = next(e for e in state.timeline if e.seq == done.last_event_seq)
    assert acknowledged.event == Event.acknowledged_personally
    # The next deadline: one still open, and no open deadline falls due before it, but for
    # the owner's phone call (4 h), which starts once the owner is assigned, after the answer.
    assert done.next_deadline is not None
    due = state.deadline(done.next_deadline.name)
    assert due.due_at == done.next_deadline.due_at and due.met_at is None and not due.breached
    assert state.deadline(PERSONAL_ACK).met_at is not None  # met by the update: not next
    open_ = [d for d in state.deadlines if d.met_at is None and not d.superseded
             and not d.breached and not d.name.startswith(PHONE_CONTACT)]
    assert min(d.due_at for d in open_) == done.next_deadline.due_at
    # In history: the update's answer is the receipt, a few hundred bytes at most.
    completed = [e.workflow_execution_update_completed_event_attributes.outcome.success
                 for e in history.events if e.event_type
                 == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
    assert len(completed) == 1
    assert completed[0].ByteSize() < 400, completed[0].ByteSize()
    assert b"timeline" not in completed[0].payloads[0].data
    assert len(state.timeline) >= 4  # the whole state is the query's
