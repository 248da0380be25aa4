"""Erasure on request through the real parts: a customer's whole complaint life on
the time-skipping server with the product's worker, PostgreSQL and SMTP; then
`complaints erase` (the CLI, in-process), and a search of every text-like column of the
schema (information_schema) for anything of theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from database.erasure import ERASED_ID_PREFIX, address_derived_id, erased_id
from reporting.figures import compute_metrics
from starter.cli.erase import ERASURE_REASON
from starter.operations import still_running
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.personal_search import where_it_appears
from tests.scenarios import owner_of, plan_agreed, signed_off_and_reviewed, to_owner
from workflows import models as m
from workflows.events import Event
from workflows.report import period_containing

NAME, ADDRESS, PHONE = "Jon Kite", "kite@kite.example", "+44 20 7946 0003"
SUBJECT = "Export shows wrong totals"
DESCRIPTION = "The monthly export shows totals that do not match the dashboard."
PERSONAL = (NAME, ADDRESS, PHONE, "Kite Studio", SUBJECT, DESCRIPTION[:30])
async def report_numbers(conn: asyncpg.Connection, stack: ComplaintStack, at: Any) -> dict:
    period = period_containing("monthly", at.date(), stack.policy.calendar.timezone)
    metrics = await compute_metrics(conn, period, stack.policy, as_of=at + timedelta(days=40))
    return metrics.model_dump(mode="json")


async def closed_complaint(stack: ComplaintStack) -> str:
    """Resolved and reviewed: closed, its run waiting out the archive delay."""
    crn = await to_owner(stack, customer={"id": "cust-kite", "name": NAME, "email": ADDRESS,
                                          "phone": PHONE})
    owner = await owner_of(stack, crn)
    await plan_agreed(stack, crn, owner)
    await stack.act(crn, "escalate", m.EscalationRequest(
        actor="ana", reason=f"{NAME} asked for a manager"))
    await stack.act(crn, "record_fix_deployed", m.FixDeployed(actor="raj", reference="R-1"))
    await signed_off_and_reviewed(stack, crn, owner)
    await stack.until(crn, lambda s: s.phase == m.Phase.closed)
    return crn


async def archived_complaint(stack: ComplaintStack) -> str:
    crn = await closed_complaint(stack)
    await stack.sleep(timedelta(days=31))  # archived after the policy's 30 days; the run ends
    await stack.client.get_workflow_handle(crn).result()
    return crn


@pytest.fixture
def cli_env(stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
    monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)


async def test_erasure_leaves_no_personal_data_and_the_reports_add_up(
        stack: ComplaintStack, capsys: Any, cli_env: None):
    async with stack.worker():
        crn = await archived_complaint(stack)
        other = (await stack.submit(customer={"id": "cust-bloom", "name": "Mia Bloom",
                                              "email": "hello@bloom.example"},
                                    subject="Invoice sent twice",
                                    description="We were invoiced twice for March.")).crn
        await stack.until(other, lambda s: bool(s.timeline))
        received = (await stack.rows("SELECT received_at FROM complaints WHERE crn = $1",
                                     crn))[0]["received_at"]
        async with stack.pool.acquire() as conn:
            before = await report_numbers(conn, stack, received)
            assert before["received"] >= 1 and before["resolved"] == 1
            assert before["csat_responses"] == 1 and before["escalations"]
            assert await where_it_appears(conn, ADDRESS)  # the search finds what is there
            events_before = await conn.fetch(
                "SELECT seq, event, actor, at, outcome, level, amount FROM complaint_events "
                "WHERE crn = $1 ORDER BY seq", crn)

        code, out, err = await Cli(capsys)("erase", "cust-kite", "--yes", "--by", "dpo-helen")
        assert code == 0, err
        assert "erased cust-kite" in out and "1 complaint(s)" in out

        async with stack.pool.acquire() as conn:
            for needle in PERSONAL:
                assert await where_it_appears(conn, needle) == [], needle
            assert await report_numbers(conn, stack, received) == before
            # The resolution log keeps every event, in order, with its numbers.
            assert await conn.fetch(
                "SELECT seq, event, actor, at, outcome, level, amount FROM complaint_events "
                "WHERE crn = $1 ORDER BY seq", crn) == events_before
            record = await conn.fetchrow("SELECT * FROM erasures")
            assert (record["customer_id"], record["erased_by"], record["complaints"]) == (
                "cust-kite", "dpo-helen", [crn])
            # Another customer's complaint is untouched.
            assert await where_it_appears(conn, "hello@bloom.example")
            # Append-only for everything else: outside an erasure no event changes.
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE complaint_events SET detail = 'x' WHERE crn = $1", crn)
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("DELETE FROM complaint_events WHERE crn = $1", crn)


async def test_erasure_refuses_while_a_complaint_is_open_and_changes_nothing(
        stack: ComplaintStack, capsys: Any, cli_env: None):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.until(crn, lambda s: bool(s.timeline))
        code, out, err = await Cli(capsys)("erase", "cust-kite", "--yes")
        assert code == 2 and crn in err and "nothing was erased" in err
        assert "--withdraw-open" in err
        assert await stack.rows("SELECT * FROM erasures") == []
        assert await still_running(stack.client, [crn]) == [crn]
        assert (await stack.status(crn)).outcome is None
        row = (await stack.rows("SELECT customer_email, description FROM complaints "
                                "WHERE crn = $1", crn))[0]
        assert (row["customer_email"], row["description"]) == (ADDRESS, DESCRIPTION)


async def test_erasure_with_withdraw_open_ends_the_open_complaints_then_erases(
        stack: ComplaintStack, capsys: Any, cli_env: None):
    """`--withdraw-open`: each open complaint withdrawn at the customer's request (actor
    `customer:<id>`, the operator recorded), its run waited for, then the erasure as ever."""
    customer = {"id": "cust-kite", "name": NAME, "email": ADDRESS, "phone": PHONE}
    async with stack.worker():
        archived = await archived_complaint(stack)
        closed = await closed_complaint(stack)  # still running: its archive is 30 days off
        in_triage = (await stack.submit(customer=customer, subject=SUBJECT,
                                        description=DESCRIPTION)).crn
        await stack.until(in_triage, lambda s: s.handling_agent is not None)
        owned = await to_owner(stack, customer=customer)
        other = (await stack.submit(customer={"id": "cust-bloom", "name": "Mia Bloom",
                                              "email": "hello@bloom.example"},
                                    subject="Invoice sent twice",
                                    description="We were invoiced twice for March.")).crn
        await stack.until(other, lambda s: s.handling_agent is not None)
        await stack.settle()
        assert sorted(await still_running(stack.client, [archived, closed, in_triage, owned])) \
            == sorted([closed, in_triage, owned])
        mails_before = len(stack.mails(in_triage)) + len(stack.mails(owned))

        code, out, err = await Cli(capsys)("erase", "cust-kite", "--yes", "--by", "dpo-helen",
                                           "--withdraw-open")
        assert code == 0, err
        assert "withdrew 3 running complaint(s)" in out and in_triage in out and owned in out
        assert "erased cust-kite" in out and "4 complaint(s)" in out
        assert await still_running(stack.client, [closed, in_triage, owned, other]) == [other]
        # The closed one kept its resolution and was archived at once.
        state = await stack.status(closed)
        assert (state.status, state.outcome) == (m.Status.archived, m.ComplaintOutcome.confirmed)
        assert state.resolved_at is not None
        assert [e.actor for e in state.timeline if e.event == Event.archive_requested] == [
            "customer:cust-kite"]
        for crn in (in_triage, owned):
            state = await stack.status(crn)  # Temporal's copy: withdrawn, and by whom
            assert (state.status, state.outcome) == (m.Status.closed, m.ComplaintOutcome.withdrawn)
            withdrawn = [e for e in state.timeline if e.event == Event.withdrawn]
            assert [(e.actor, e.reason) for e in withdrawn] == [
                ("customer:cust-kite", ERASURE_REASON)]
            assert "recorded by dpo-helen" in withdrawn[0].detail
        rows = await stack.rows("SELECT crn, status, outcome, closed_at FROM complaints "
                                "WHERE customer_id = 'cust-kite' ORDER BY crn")
        assert {r["crn"]: (r["status"], r["outcome"]) for r in rows} == {
            archived: ("archived", "confirmed"), closed: ("archived", "confirmed"),
            in_triage: ("closed", "withdrawn"),
            owned: ("closed", "withdrawn")}
        logged = await stack.rows("SELECT crn, actor FROM complaint_events WHERE event = $1",
                                  Event.withdrawn.value)
        assert sorted((r["crn"], r["actor"]) for r in logged) == sorted(
            [(in_triage, "customer:cust-kite"), (owned, "customer:cust-kite")])

        async with stack.pool.acquire() as conn:
            for needle in PERSONAL:
                assert await where_it_appears(conn, needle) == [], needle
            record = await conn.fetchrow("SELECT * FROM erasures")
            assert (record["erased_by"], sorted(record["complaints"])) == (
                "dpo-helen", sorted([archived, closed, in_triage, owned]))
            assert await where_it_appears(conn, "hello@bloom.example")

        # Past every deadline the withdrawn complaints had: nothing fires, nothing is sent.
        await stack.sleep(timedelta(days=10))
        assert len(stack.mails(in_triage)) + len(stack.mails(owned)) == mails_before
        async with stack.pool.acquire() as conn:
            for needle in PERSONAL:
                assert await where_it_appears(conn, needle) == [], needle


async def test_erasure_of_an_unknown_customer_is_refused(
        stack: ComplaintStack, capsys: Any, cli_env: None):
    code, out, err = await Cli(capsys)("erase", "cust-nobody", "--yes")
    assert code == 2 and "no customer 'cust-nobody'" in err
    assert await stack.rows("SELECT * FROM erasures") == []


async def test_erasure_without_yes_and_no_terminal_is_refused(
        stack: ComplaintStack, capsys: Any, cli_env: None, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = await Cli(capsys)("erase", "cust-kite")
    assert code == 2 and "--yes" in err
    assert (await stack.rows("SELECT name FROM customers WHERE id = 'cust-kite'"))[0]["name"] \
        == "Kite Studio"


async def test_a_customer_whose_id_came_from_their_address_gets_a_random_one(
        stack: ComplaintStack, capsys: Any, cli_env: None):
    """The email channel's id for an unknown sender is a hash of the address: after erasure
    no row holds it (nor anything else a hash of the address would find), the customer's
    own actions in the log follow the new id, and the new id is random, so two erasures of
    the same address do not agree."""
    sender, name = "new.sender@mail.example", "Nadia Sender"  # unknown to the CRM
    derived = address_derived_id(sender)
    async with stack.pool.acquire() as conn:
        await conn.execute("INSERT INTO customers (id, name, email) VALUES ($1, $2, $3)",
                           derived, name, sender)
        await conn.execute("INSERT INTO orders (id, customer_id, net_amount, tax_rate, currency) "
                           "VALUES ('ord-derived', $1, 10, 0.2, 'EUR')", derived)
    async with stack.worker():
        crn = (await stack.submit(customer={"id": derived, "name": name, "email": sender},
                                  external_ref="derived-1")).crn
        await stack.until(crn, lambda s: bool(s.timeline))
        code, out, err = await Cli(capsys)("erase", derived, "--yes", "--withdraw-open",
                                           "--by", "dpo-helen")
        assert code == 0, err
    async with stack.pool.acquire() as conn:
        assert await where_it_appears(conn, derived) == []
        assert await where_it_appears(conn, sender) == []
        assert await where_it_appears(conn, name) == []
        new_id = await conn.fetchval("SELECT customer_id FROM erasures")
        assert new_id.startswith(ERASED_ID_PREFIX) and len(new_id) == len(ERASED_ID_PREFIX) + 16
        assert await conn.fetchval("SELECT customer_id FROM complaints WHERE crn = $1",
                                   crn) == new_id
        assert await conn.fetchval("SELECT customer_id FROM orders WHERE id = 'ord-derived'"
                                   ) == new_id
        actors = {r["actor"] for r in await conn.fetch(
            "SELECT actor FROM complaint_events WHERE crn = $1", crn)}
        assert f"customer:{new_id}" in actors  # the withdrawal, the customer's own action
        # A CRM id says nothing about the address: it stays (the first test erases one).
        assert erased_id("cust-kite", {ADDRESS}) == "cust-kite"
        assert erased_id(derived, {sender}) != erased_id(derived, {sender})
    assert f"{derived} is now {new_id}" in out
