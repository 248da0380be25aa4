"""What a person reads: `complaints status CRN` (starter/cli/views.py) on a complaint with a
late phone call, an escalation and a refund waiting for approval; `complaints list` with the
same filters as the API.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from starter import cli
from starter.cli.views import LEVELS, render_state, to_text
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.scenarios import owner_of, to_owner
from workflows import models as m
from workflows.models import Status

BLOOM = {"id": "cust-bloom", "name": "Mia Bloom", "email": "hello@bloom.example"}


def lines_with(text: str, word: str) -> list[str]:
    return [line for line in text.splitlines() if word in line]


def section(text: str, title: str) -> str:
    """The text under `title:` up to the next section."""
    body = text.split(f"\n{title}:\n", 1)[1]
    return body.split("\n\n", 1)[0] if title != "Timeline" else body


async def test_the_status_view_shows_deadlines_waiting_escalation_refund_and_timeline(
        stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack, customer=BLOOM, category="billing_dispute",
                             order_id="ord-2001", flags={"threatens_termination": True})
        silent = (await stack.submit()).crn  # nobody ever acknowledges this one
        owner = await owner_of(stack, crn)
        assert owner is not None
        await stack.sleep(timedelta(hours=5))  # the 4-hour phone deadline falls
        await stack.act(crn, "record_phone_contact", m.PhoneContact(
            actor=owner, reached=True, summary="Apologised", expectations="Refund this week"))
        await stack.act(crn, "submit_internal_review", m.InternalReview(
            actor=owner, root_cause="Duplicate charge job", process_failure="No idempotency",
            communication_failure="Tickets closed unanswered",
            checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                               order_checked=True)))
        await stack.act(crn, "submit_action_plan", m.ActionPlan(actor=owner, steps=[
            m.PlanStep(kind="refund", description="Refund the duplicate charge",
                       amount="600.00")]))
        await stack.act(crn, "propose_solution", m.SolutionProposal(
            actor=owner, message="We will refund 600.00 GBP. Agreed?"))
        await stack.act(crn, "record_customer_response", m.CustomerResponse(
            actor="ana", agrees=True, message="Yes"))
        state = await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        quiet = await stack.status(silent)
        now = await stack.env.get_current_time()

    text = to_text(render_state(state, now))
    assert text.startswith(f"{crn}  {state.subject}\n")
    assert lines_with(text, "Status")[0].split() == ["Status", "awaiting_approval", "(phase",
                                                     "resolution)"]
    assert LEVELS[state.escalation_level] in lines_with(text, "Escalation")[0]
    assert "threatens termination" in lines_with(text, "Retention Risk")[0].lower()
    assert "breached" in lines_with(text, "SLA")[0]
    # Each deadline: its due time, how much time is left or how late, met or breached.
    deadlines = section(text, "Deadlines")
    phone = lines_with(deadlines, "phone contact")[0]
    call = state.deadline("phone_contact")
    assert call is not None and call.breached and call.met_at is not None
    assert f"{call.due_at:%Y-%m-%d %H:%M} UTC" in phone
    assert "met late" in phone and " late" in phone
    resolution = lines_with(deadlines, "resolution ")[0]
    assert "open" in resolution and " left" in resolution
    assert "open" in lines_with(deadlines, "refund approval")[0]
    assert "met " in lines_with(deadlines, "personal acknowledgement")[0]
    # What it waits for, and from whom.
    waiting = section(text, "Waiting for")
    assert "the Finance Manager's decision on the refund of 600.00 GBP" in waiting
    # The refund.
    refund = section(text, "Refund")
    assert "pending_approval: waiting for the Finance Manager's decision" in refund
    assert "600.00 GBP" in refund and "at most" in refund and "768.00" in refund
    # The timeline: who did what, when.
    timeline = section(text, "Timeline")
    assert lines_with(timeline, "deadline breached") and lines_with(timeline, "refund approval")
    assert any(owner in line and "phone contact" in line for line in timeline.splitlines())

    # A complaint nobody acknowledged: the deadline breached, and by how much.
    quiet_text = to_text(render_state(quiet, now))
    ack = lines_with(section(quiet_text, "Deadlines"), "personal acknowledgement")[0]
    assert "BREACHED" in ack and "overdue by 4h" in ack
    assert "personal acknowledgement from" in section(quiet_text, "Waiting for")


@pytest.fixture
def cli_env(local_stack: ComplaintStack, monkeypatch: Any) -> ComplaintStack:
    settings = local_stack.settings
    for var, value in {
            "TEMPORAL_ADDRESS": local_stack.client.service_client.config.target_host,
            "DATABASE_URL": settings.database_url, "TASK_QUEUE": settings.task_queue}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("TEMPORAL_NAMESPACE", raising=False)
    return local_stack


async def test_complaints_list_filters_like_the_api_and_status_reads_well(
        cli_env: ComplaintStack, capsys: Any):
    stack, run = cli_env, Cli(capsys)
    customer = f"cust-{uuid.uuid4().hex[:8]}"
    async with stack.worker():
        first = (await stack.submit(customer={"id": customer, "email": "c@x.example"},
                                    category="technical_bug", impact="many_users")).crn
        second = (await stack.submit(customer={"id": customer, "email": "c@x.example"})).crn
        for crn in (first, second):
            await stack.mail_for(crn, "acknowledgement")
        await stack.act(first, "acknowledge_personally", m.PersonalAcknowledgement(
            actor="ana", message="Dear customer, a manager will call you within hours."))
        await stack.until(first, lambda s: s.status == Status.under_investigation)

        async def listed(*flags: str) -> list[dict[str, Any]]:
            for _ in range(100):  # visibility follows by a moment
                code, out, err = await run("list", "--customer", customer, "--json", *flags)
                assert (code, err) == (0, "")
                items = json.loads(out)
                if len(items) == expected:
                    return items
                await asyncio.sleep(0.2)
            raise AssertionError(f"list {flags}: {items}")

        expected = 2
        both = await listed()
        assert {i["crn"] for i in both} == {first, second}
        expected = 1
        assert [i["crn"] for i in await listed("--status", "new")] == [second]
        assert [i["crn"] for i in await listed("--phase", "ownership")] == [first]
        assert [i["crn"] for i in await listed("--no-breached", "--limit", "1")] == [second]
        expected = 0
        assert await listed("--breached") == []

        code, out, err = await run("list", "--customer", customer)
        assert code == 0 and first in out and second in out
        assert out.split()[:4] == ["CRN", "STATUS", "PHASE", "SEV"]
        code, out, err = await run("list", "--status", "bogus")
        assert code == 2 and "invalid choice" in err

        code, out, err = await run("status", first)
        assert code == 0 and out.startswith(f"{first}  ")
        for section in ("Waiting for:", "Deadlines:", "Refund:", "Timeline:"):
            assert section in out
        assert "phone call to the customer from" in out
        code, out, err = await run("status", first, "--json")
        assert json.loads(out)["crn"] == first
        assert cli.format_state(await stack.status(first)).startswith(f"{first}  ")
