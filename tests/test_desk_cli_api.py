"""The agent's desk on the command line and the HTTP API: `complaints add-note`,
`complaints messages`, `complaints replies add|list|remove`, the API's replies and a
reply filled in for a complaint (also the console's reply box without a script)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from database.keys import create_key
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.console_stack import Console, console_on, signed_in
from tests.scenarios import owner_of, to_owner

TEMPLATE = "Dear {customer_name}, {owner} has {crn} in hand."


@pytest_asyncio.fixture
async def console(local_stack: ComplaintStack, monkeypatch) -> AsyncIterator[Console]:
    for var, value in {"TEMPORAL_ADDRESS": local_stack.client.service_client.config.target_host,
                       "DATABASE_URL": local_stack.settings.database_url,
                       "TASK_QUEUE": local_stack.settings.task_queue}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("TEMPORAL_NAMESPACE", raising=False)
    async with console_on(local_stack) as console:
        yield console


async def key(stack: ComplaintStack, who: str) -> dict[str, str]:
    async with stack.pool.acquire() as conn:
        _, secret = await create_key(conn, staff_id=who, replace=True)
    return {"Authorization": f"Bearer {secret}"}


async def test_notes_messages_and_canned_replies_from_the_cli_and_the_api(console: Console,
                                                                          capsys):
    stack, run = console.stack, Cli(capsys)
    crn = await to_owner(stack)
    owner = await owner_of(stack, crn)

    # A note from the command line (the generic subcommand of add_note); an unknown id no.
    code, _, err = await run("add-note", crn, "--actor", "ben", "--text", "Ask @nobody")
    assert code == 1 and "'nobody' is not on the roster" in err
    code, _, err = await run("add-note", crn, "--actor", "ben", "--text", "Jon called back.",
                             "--mention", owner)
    assert code == 0, err
    mention = await stack.mail.wait_for(
        lambda m: m["X-Complaint-Reference"] == crn
        and str(m["X-Complaint-Message-Kind"]).startswith("note_mention"), timeout=20)
    assert mention["To"] == f"{owner}@example.com"

    code, out, err = await run("messages", crn)
    assert code == 0, err
    assert "from the customer" not in out  # it came through the web form, not by email
    assert "to kite@kite.example: sent" in out and "Thank you for contacting us" in out
    assert f"internal note 1 by ben, mentioning {owner}" in out and "Jon called back." in out
    code, out, _ = await run("messages", crn, "--json")
    shown = json.loads(out)
    assert [m["kind"] for m in shown] == ["ours", "ours", "note"]
    code, _, err = await run("messages", "CRN-AAAAAAAAAA")
    assert code == 1 and "no complaint" in err

    # Canned replies: kept by the head of customer success alone, placeholders checked.
    code, _, err = await run("replies", "add", "In hand", "--actor", "ana", "--text", TEMPLATE)
    assert code == 2 and "only the head of customer success" in err
    code, _, err = await run("replies", "add", "In hand", "--actor", "helen", "--text",
                             "Dear {name}")
    assert code == 2 and "unknown placeholder {name}" in err
    code, out, err = await run("replies", "add", "In hand", "--actor", "helen", "--text",
                               TEMPLATE)
    assert code == 0, err
    code, out, _ = await run("replies", "list")
    assert out.startswith("In hand\n") and TEMPLATE in out

    async with httpx.AsyncClient(base_url=console.base) as http:
        ben, helen = await key(stack, "ben"), await key(stack, "helen")
        assert [r["name"] for r in (await http.get("/replies", headers=ben)).json()] == ["In hand"]
        refused = await http.post("/replies", headers=ben, json={"name": "x", "body": "y"})
        assert refused.status_code == 403
        bad = await http.post("/replies", headers=helen, json={"name": "x", "body": "{nope}"})
        assert bad.status_code == 422 and "unknown placeholder" in bad.json()["message"]
        filled = (await http.get(f"/complaints/{crn}/replies/In hand", headers=ben)).json()
        name = {"sam": "Sam Keller", "priya": "Priya Nair", "carla": "Carla Mendes",
                "tom": "Tom Reyes", "helen": "Helen Park"}[owner]
        assert filled["text"] == f"Dear Jon Kite, {name} has {crn} in hand."
        messages = (await http.get(f"/complaints/{crn}/messages", headers=ben)).json()
        assert messages[-1]["text"] == "Jon called back." and messages[-1]["by"] == "ben"

    # The console's reply box without a script: "Use this reply" reloads the page with it.
    async with signed_in(console, owner) as http:
        page = await http.get(f"/console/complaints/{crn}", params={"reply": "In hand"})
        assert f"Dear Jon Kite, {name} has {crn} in hand.</textarea>" in page.text

    code, _, err = await run("replies", "remove", "In hand", "--actor", "helen")
    assert code == 0, err
    code, out, _ = await run("replies", "list")
    assert out.strip() == "No canned replies yet."
    code, _, err = await run("replies", "remove", "In hand", "--actor", "helen")
    assert code == 2 and "no canned reply" in err
