"""The `complaints` CLI (starter/cli/) in-process, against the Temporal dev server, a
fresh PostgreSQL database and the mail sink, with the product's worker running.

`main()` calls `asyncio.run`, so each invocation runs on a thread: the test's own loop
keeps running the worker meanwhile.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from database.pool import create_pool
from devstack.mailsink import MailSink
from settings import Settings
from tests.cli_runner import Cli
from tests.conftest import ALL_MIGRATIONS, REPO_ROOT, ComplaintStack, text_of
from tests.scenarios import agree_to_refund
from workflows.complaint import AUTOMATIC_ACK
from workflows.models import ComplaintState, Phase, Status, complaint_reference
from workflows.policy import load_policy


@pytest.fixture
def env_for_cli(local_env: Any, empty_database_url: str, mail: MailSink, monkeypatch) -> Settings:
    settings = replace(
        Settings(), temporal_address=local_env.client.service_client.config.target_host,
        task_queue=f"tq-{uuid.uuid4()}", database_url=empty_database_url,
        smtp_host="127.0.0.1", smtp_port=mail.port,
    )
    for var, value in {"TEMPORAL_ADDRESS": settings.temporal_address,
                       "DATABASE_URL": settings.database_url, "SMTP_HOST": settings.smtp_host,
                       "SMTP_PORT": str(settings.smtp_port), "TASK_QUEUE": settings.task_queue,
                       }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("TEMPORAL_NAMESPACE", raising=False)
    monkeypatch.delenv("COMPLAINTS_POLICY", raising=False)
    return settings


async def test_migrate_seed_submit_status_and_acknowledge(
        local_env: Any, env_for_cli: Settings, mail: MailSink, tmp_path: Path, capsys):
    run = Cli(capsys)

    code, out, err = await run("migrate")
    assert (code, err) == (0, "")
    assert f"database: applied {', '.join(ALL_MIGRATIONS)}" in out
    assert "search attributes: " in out
    code, out, err = await run("migrate")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["database: up to date", "search attributes: all registered"]

    code, out, err = await run("seed", str(REPO_ROOT / "seeds" / "demo.json"))
    assert (code, err) == (0, "")
    assert out.strip() == "loaded 12 staff, 3 customers, 3 orders"

    # The worker on the database the CLI just created and seeded.
    pool = await create_pool(env_for_cli.database_url, min_size=1, max_size=5)
    stack = ComplaintStack(local_env, env_for_cli, pool, mail, load_policy())
    try:
        assert (await stack.rows("SELECT count(*) AS n FROM staff"))[0]["n"] == 12
        async with stack.worker():
            # The example intake, with a reference of its own so no other test's run of it
            # (on the same session-wide server) can be the one found.
            example = json.loads((REPO_ROOT / "examples" / "email.json").read_text())
            example["external_ref"] = f"<{uuid.uuid4().hex}@mail.bloom.example>"
            path = tmp_path / "email.json"
            path.write_text(json.dumps(example))

            code, out, err = await run("submit", str(path))
            assert (code, err) == (0, "")
            crn = out.strip()
            stack.started.append(crn)
            assert crn == complaint_reference("email", example["external_ref"])
            # Submitting again prints the same CRN and says so.
            code, out, err = await run("submit", str(path))
            assert (code, out.strip()) == (0, crn)
            assert "already submitted" in err

            await stack.until(crn, lambda s: s.deadline(AUTOMATIC_ACK) is not None
                              and s.deadline(AUTOMATIC_ACK).met_at is not None)
            await stack.mail_for(crn, "acknowledgement")

            code, out, err = await run("status", crn, "--json")
            assert (code, err) == (0, "")
            state = ComplaintState.model_validate_json(out)
            assert state.crn == crn
            assert (state.status, state.phase) == (Status.new, Phase.triage)
            assert state.customer_id == "cust-bloom" and state.severity == 2

            code, out, err = await run("status", crn)
            assert code == 0 and out.startswith(f"{crn}  Invoice charged twice")
            assert "Deadlines:" in out and "Timeline:" in out

            code, out, err = await run("acknowledge-personally", crn, "--actor", "sam",
                                       "--message", "Dear Mia, I am sorry about the double charge.")
            assert code == 1 and out == ""
            assert len(err.strip().splitlines()) == 1, err
            assert err.startswith("complaints acknowledge-personally: ")
            assert "specialist" in err and "agent" in err
            assert (await stack.status(crn)).status == Status.new  # refused: nothing changed

            code, out, err = await run("acknowledge-personally", crn, "--actor", "ana",
                                       "--message", "Dear Mia, I am sorry about the double charge. "
                                       "I have asked billing to reverse it today. Ana")
            assert (code, err) == (0, "")
            head, _, due = out.strip().partition("; next deadline ")
            assert head == f"{crn}: acknowledged, phase ownership"
            after = await stack.status(crn)
            # The receipt's next deadline: one of the complaint's, at its due minute.
            name, _, at = due.partition(" at ")
            assert at == after.deadline(name).due_at.isoformat(timespec="minutes")
            # The owner may be assigned already (under_investigation): that follows at once.
            assert after.status in (Status.acknowledged, Status.under_investigation)
            assert after.deadline("personal_acknowledgement").met_at is not None
            personal = await stack.mail_for(crn, "personal_acknowledgement")
            assert "reverse it today" in text_of(personal)
    finally:
        await stack.terminate_all()
        await pool.close()


async def test_status_of_an_unknown_crn(env_for_cli: Settings, capsys):
    run = Cli(capsys)
    crn = complaint_reference("web", "never-" + uuid.uuid4().hex)
    code, out, err = await run("status", crn)
    assert (code, out) == (1, "")
    assert err.strip() == f"complaints status: no complaint {crn}"
    code, out, err = await run("acknowledge-personally", crn, "--actor", "ana",
                               "--message", "Hello there")
    assert code == 1 and f"no complaint {crn}" in err


async def test_bad_input_exits_2_and_changes_nothing(env_for_cli: Settings, tmp_path: Path,
                                                    capsys):
    run = Cli(capsys)
    assert (await run("migrate"))[0] == 0
    bad_seed = json.loads((REPO_ROOT / "seeds" / "demo.json").read_text())
    bad_seed["orders"][2]["customer_id"] = "cust-ghost"
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(bad_seed))

    code, out, err = await run("seed", str(path))
    assert (code, out) == (2, "")
    assert "orders[2] (id 'ord-3001'): customer_id: no customer 'cust-ghost'" in err
    assert "nothing was loaded" in err
    conn = await asyncpg.connect(env_for_cli.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM staff") == 0
    finally:
        await conn.close()

    code, out, err = await run("seed", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err

    # An action with no actor is refused before anything is sent.
    code, out, err = await run("acknowledge-personally", "CRN-X", "--message", "Hi")
    assert code == 2 and "--actor is required" in err


async def test_refund_decision_is_answered_at_once(local_stack: ComplaintStack, monkeypatch,
                                                   capsys):
    """`complaints refund-decision` sends the decide_refund update: a refused decision exits
    1 with the complaint's reason and leaves nothing behind; an accepted one prints the
    refund's new state."""

    stack = local_stack
    for var, value in {"TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
                       "DATABASE_URL": stack.settings.database_url,
                       "TASK_QUEUE": stack.settings.task_queue}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("TEMPORAL_NAMESPACE", raising=False)
    run = Cli(capsys)
    async with stack.worker():
        crn, _ = await agree_to_refund(stack, "600.00")
        before = await stack.until(crn, lambda s: s.refund.status == "pending_approval")

        code, out, err = await run("refund-decision", crn, "--actor", "fiona", "--amount", "1")
        assert (code, out) == (2, "") and "--approve or --reject" in err
        for actor, amount, reason in (("sam", "600.00", "'sam' is not a finance manager"),
                                      ("fiona", "800.00", "above the maximum 768.00")):
            code, out, err = await run("refund-decision", crn, "--actor", actor, "--approve",
                                       "--amount", amount)
            assert (code, out) == (1, ""), err
            assert len(err.strip().splitlines()) == 1, err
            assert err.startswith("complaints refund-decision: decision not accepted: ")
            assert reason in err
        unchanged = await stack.status(crn)
        assert unchanged.refund == before.refund
        seen = before.timeline[-1].seq  # refused: no trace (system emails may still land)
        assert [e for e in unchanged.timeline if e.seq > seen and e.actor != "system"] == []

        code, out, err = await run("refund-decision", crn, "--actor", "fiona", "--approve",
                                   "--amount", "600.00", "--note", "Duplicate charge")
        assert (code, err) == (0, "")
        # The refund is applied by an activity right after the decision: the line says so
        # when it was applied before the CLI read the complaint back.
        assert re.match(rf"{crn}: refund approved \(600\.00 GBP(, now applied)?\); status ",
                        out), out
        await stack.until(crn, lambda s: s.refund.status == "applied")
        code, out, err = await run("refund-decision", crn, "--actor", "fiona", "--approve",
                                   "--amount", "600.00")
        assert code == 1 and "no refund is waiting" in err
