"""Intake (starter/intake.py): idempotent starts and refused payloads.

The CRN is derived from (source, external_ref) and is the workflow id, so the same
complaint submitted twice, or by twenty racing gateways, is one workflow and one row.
A bad payload is refused naming the field, and nothing is started.

Runs on the Temporal dev server (`local_stack`) so visibility can count workflows.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from starter import cli
from starter.intake import IntakeError
from starter.operations import ComplaintNotFound, act, get_status
from tests.conftest import ComplaintStack, intake
from workflows.complaint import AUTOMATIC_ACK
from workflows.models import MAX_TEXT_BYTES, PersonalAcknowledgement, Source, complaint_reference


async def workflow_count(stack: ComplaintStack, query: str, expect: int,
                         timeout: float = 10.0) -> int:
    """Visibility is eventually consistent: poll until the count is `expect` (or time runs
    out), then return what visibility says."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        count = (await stack.client.count_workflows(query)).count
        if count == expect or loop.time() > deadline:
            return count
        await asyncio.sleep(0.1)


async def assert_not_started(stack: ComplaintStack, crn: str) -> None:
    with pytest.raises(RPCError) as err:
        await stack.client.get_workflow_handle(crn).describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND
    assert await stack.rows("SELECT crn FROM complaints WHERE crn = $1", crn) == []


# --- idempotent starts ----------------------------------------------------------


async def test_same_intake_twice_is_one_complaint(local_stack: ComplaintStack):
    stack = local_stack
    payload = intake()
    async with stack.worker():
        first = await stack.submit(payload)
        second = await stack.submit(payload)
        assert first.created is True
        assert second.created is False
        assert second.crn == first.crn == complaint_reference("web", payload["external_ref"])

        await stack.until(first.crn, lambda s: s.handling_agent is not None)
        await stack.until_row(first.crn, lambda r: r["handling_agent"] is not None)
        # A third time, after the complaint is registered: still the same one.
        third = await stack.submit(payload)
        assert (third.crn, third.created) == (first.crn, False)

    assert await workflow_count(stack, f"WorkflowId = '{first.crn}'", 1) == 1
    executions = [e async for e in stack.client.list_workflows(f"WorkflowId = '{first.crn}'")]
    assert len(executions) == 1 and executions[0].task_queue == stack.settings.task_queue
    rows = await stack.rows("SELECT crn FROM complaints WHERE source = 'web' AND external_ref = $1",
                            payload["external_ref"])
    assert [r["crn"] for r in rows] == [first.crn]
    # The customer got one automatic acknowledgement, not one per submission.
    await stack.mail_for(first.crn, "acknowledgement")
    await asyncio.sleep(0.5)
    assert len(stack.mails(first.crn, "acknowledgement")) == 1


async def test_resubmitting_after_the_complaint_ended_starts_nothing(local_stack: ComplaintStack):
    """REJECT_DUPLICATE: even a closed complaint's (source, external_ref) never starts a second run."""
    stack = local_stack
    payload = intake()
    async with stack.worker():
        first = await stack.submit(payload)
        await stack.until(first.crn, lambda s: s.handling_agent is not None)
    await stack.client.get_workflow_handle(first.crn).terminate("test: complaint ended")

    again = await stack.submit(payload)
    assert (again.crn, again.created) == (first.crn, False)
    assert await workflow_count(stack, f"WorkflowId = '{first.crn}'", 1) == 1


async def test_twenty_concurrent_submissions_are_one_complaint(local_stack: ComplaintStack):
    stack = local_stack
    payload = intake()
    async with stack.worker():
        results = await asyncio.gather(*(stack.submit(payload) for _ in range(20)))
        crns = {r.crn for r in results}
        assert len(crns) == 1
        crn = crns.pop()
        assert sum(r.created for r in results) == 1
        await stack.until_row(crn, lambda r: r["handling_agent"] is not None)
        await stack.mail_for(crn, "acknowledgement")

    assert await workflow_count(stack, f"WorkflowId = '{crn}'", 1) == 1
    assert await workflow_count(
        stack, f"TaskQueue = '{stack.settings.task_queue}'", 1) == 1
    rows = await stack.rows("SELECT crn FROM complaints WHERE external_ref = $1",
                            payload["external_ref"])
    assert len(rows) == 1
    await asyncio.sleep(0.5)
    assert len(stack.mails(crn, "acknowledgement")) == 1


async def test_different_external_ref_is_a_different_complaint(local_stack: ComplaintStack):
    stack = local_stack
    async with stack.worker():
        a = await stack.submit(intake(external_ref="gw-1-" + uuid.uuid4().hex))
        b = await stack.submit(intake(external_ref="gw-2-" + uuid.uuid4().hex))
        assert a.created and b.created and a.crn != b.crn
        # The same reference from another channel is another complaint too.
        ref = "shared-" + uuid.uuid4().hex
        c = await stack.submit(intake(source="email", external_ref=ref))
        d = await stack.submit(intake(source="phone", external_ref=ref))
        assert c.created and d.created and c.crn != d.crn
        for crn in (a.crn, b.crn, c.crn, d.crn):
            await stack.until_row(crn, lambda r: r["handling_agent"] is not None)

    assert await workflow_count(
        stack, f"TaskQueue = '{stack.settings.task_queue}'", 4) == 4
    assert (await stack.rows("SELECT count(*) AS n FROM complaints"))[0]["n"] == 4


# --- bad payloads: refused naming the field, nothing started ------------------------


def _without_customer() -> dict[str, Any]:
    p = intake()
    del p["customer"]
    return p


BAD_PAYLOADS = {
    "missing customer": (_without_customer, "customer"),
    "unknown category": (lambda: intake(category="pricing"), "category"),
    "unknown source": (lambda: intake(source="fax"), "source"),
    "empty description": (lambda: intake(description="   "), "description"),
    "description over 64 KiB": (lambda: intake(description="x" * (MAX_TEXT_BYTES + 1)),
                                "description"),
    "malformed customer email": (
        lambda: intake(customer={"id": "cust-kite", "email": "kite-at-example"}),
        "customer.email"),
}


def _crns_it_could_have(payload: dict[str, Any]) -> list[str]:
    """Every CRN the payload could have started under (an unknown source has none of its own)."""
    return [complaint_reference(s, payload["external_ref"]) for s in Source]


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
async def test_bad_payload_is_refused_and_starts_nothing(local_stack: ComplaintStack, case: str):
    stack = local_stack
    make, field = BAD_PAYLOADS[case]
    payload = make()
    async with stack.worker():  # a worker, so anything wrongly started would write its row
        with pytest.raises(IntakeError) as err:
            await stack.submit(payload)
        await asyncio.sleep(0.5)

    assert any(e.startswith(f"{field}:") for e in err.value.errors), err.value.errors
    assert field in str(err.value)
    for crn in _crns_it_could_have(payload):
        await assert_not_started(stack, crn)
    assert await workflow_count(stack, f"TaskQueue = '{stack.settings.task_queue}'", 0,
                                timeout=1.0) == 0
    assert (await stack.rows("SELECT count(*) AS n FROM complaints"))[0]["n"] == 0


def test_description_at_exactly_64_kib_is_accepted():
    """The boundary of the case above: 64 KiB is allowed, one byte more is not."""
    from starter.intake import parse_intake

    assert len(parse_intake(intake(description="x" * MAX_TEXT_BYTES)).description) == MAX_TEXT_BYTES
    with pytest.raises(IntakeError, match="description"):
        parse_intake(intake(description="é" * (MAX_TEXT_BYTES // 2) + "x"))  # bytes, not chars


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
async def test_cli_submit_refuses_a_bad_file(local_stack: ComplaintStack, case: str,
                                             tmp_path: Path, monkeypatch, capsys):
    stack = local_stack
    make, field = BAD_PAYLOADS[case]
    payload = make()
    path = tmp_path / "intake.json"
    path.write_text(json.dumps(payload))
    monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
    monkeypatch.setenv("TASK_QUEUE", stack.settings.task_queue)
    monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)

    # main() calls asyncio.run: run it on a thread, off this test's running loop.
    with pytest.raises(SystemExit) as exit_:
        await asyncio.to_thread(cli.main, ["submit", str(path)])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("complaints submit: not a valid complaint:")
    assert f"{field}:" in err and "nothing was started" in err
    for crn in _crns_it_could_have(payload):
        await assert_not_started(stack, crn)


async def test_cli_submit_a_file_that_is_not_json(local_stack: ComplaintStack, tmp_path: Path,
                                                  monkeypatch, capsys):
    path = tmp_path / "intake.json"
    path.write_text("{not json")
    monkeypatch.setenv("TEMPORAL_ADDRESS", local_stack.env.client.service_client.config.target_host)
    with pytest.raises(SystemExit) as exit_:
        await asyncio.to_thread(cli.main, ["submit", str(path)])
    assert exit_.value.code == 2
    assert "not a valid complaint" in capsys.readouterr().err


# --- unknown CRN ---------------------------------------------------------------------


async def test_unknown_crn_is_complaint_not_found(local_stack: ComplaintStack):
    crn = complaint_reference("web", "never-submitted-" + uuid.uuid4().hex)
    client = local_stack.client
    with pytest.raises(ComplaintNotFound) as err:
        await get_status(client, crn)
    assert err.value.crn == crn and str(err.value) == f"no complaint {crn}"
    with pytest.raises(ComplaintNotFound):
        await act(client, crn, "acknowledge_personally",
                  PersonalAcknowledgement(actor="ana", message="Hello, I am on it."))


async def test_unknown_crn_on_the_time_skipping_server(stack: ComplaintStack):
    """The same errors from the test server, which the time-skipping tests act against."""
    crn = complaint_reference("web", "never-submitted-" + uuid.uuid4().hex)
    with pytest.raises(ComplaintNotFound):
        await get_status(stack.client, crn)
    with pytest.raises(ComplaintNotFound):
        await act(stack.client, crn, "acknowledge_personally",
                  PersonalAcknowledgement(actor="ana", message="Hello, I am on it."))


async def test_submitted_complaint_is_found(local_stack: ComplaintStack):
    """The positive of the case above, so a get_status that always raised would fail here."""
    stack = local_stack
    async with stack.worker():
        crn = (await stack.submit()).crn
        state = await stack.until(crn, lambda s: s.deadline(AUTOMATIC_ACK) is not None)
    assert state.crn == crn
