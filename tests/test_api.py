"""The HTTP API (starter/api/) through a real HTTP client (httpx) against the app served
by uvicorn, wired to the Temporal dev server, a fresh PostgreSQL database with the demo
roster, the SMTP sink and the product's worker.

Every endpoint, every error code, a key revoked mid-session, the list's filters against
several complaints, and a schemathesis run over the OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
import yaml
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from database.keys import create_key, revoke_key
from database.pool import create_pool
from devstack.mailsink import MailSink
from starter.api import create_app
from starter.cli import ACTIONS
from tests.api_stack import Api, api_on, serving
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack, _binary, _settings, intake
from tests.faultstack import free_port
from workflows import search_attributes as sa
from workflows.models import complaint_reference
from workflows.policy import load_policy

BLOOM = {"id": "cust-bloom", "name": "Mia Bloom", "email": "hello@bloom.example"}


@pytest_asyncio.fixture
async def api(local_stack: ComplaintStack) -> AsyncIterator[Api]:
    async with api_on(local_stack) as api:
        yield api


@pytest_asyncio.fixture
async def isolated_api(seeded: asyncpg.Pool, mail: MailSink,
                       database_url: str) -> AsyncIterator[Api]:
    """The same on a Temporal dev server of its own: the fuzzer lists and reuses every CRN
    it sees, and must meet no other test's complaint (whose worker is gone)."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=_binary("temporal"),
        search_attributes=list(sa.ALL), dev_server_log_level="error")
    stack = ComplaintStack(env, _settings(mail, database_url), seeded, mail, load_policy())
    try:
        async with api_on(stack) as api:
            yield api
    finally:
        await stack.terminate_all()
        await env.shutdown()


def status_code_and_error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


# --- intake ---------------------------------------------------------------------------


async def test_an_intake_system_submits_once_and_may_do_nothing_else(api: Api):
    payload = intake()
    first = await api("POST", "/complaints", "intake", json=payload)
    assert first.status_code == 201
    crn = first.json()["crn"]
    api.stack.started.append(crn)
    assert crn == complaint_reference(payload["source"], payload["external_ref"])
    assert first.json() == {"crn": crn, "created": True, "url": f"/complaints/{crn}"}
    assert first.headers["location"] == f"/complaints/{crn}"

    again = await api("POST", "/complaints", "intake", json=payload)
    assert (again.status_code, again.json()["crn"], again.json()["created"]) == (200, crn, False)

    me = await api("GET", "/me", "intake")
    assert me.json() | {"key_id": "-"} == {"key_id": "-", "kind": "intake", "name": "web-form",
                                           "role": None}
    for method, path, body in (("GET", f"/complaints/{crn}", None), ("GET", "/complaints", None),
                               ("POST", f"/complaints/{crn}/actions/escalate", {"reason": "x"}),
                               ("POST", f"/complaints/{crn}/refund-decision",
                                {"approved": True, "amount": "1"})):
        refused = await api(method, path, "intake", json=body)
        assert status_code_and_error(refused) == (403, "forbidden")
        assert "intake key" in refused.json()["message"]

    state = (await api("GET", f"/complaints/{crn}", "ana")).json()
    assert (state["crn"], state["status"], state["customer_id"]) == (crn, "new", "cust-kite")
    # A staff key may submit too (a phone desk agent typing a call in).
    assert (await api("POST", "/complaints", "ben", json=payload)).status_code == 200


async def test_an_invalid_intake_names_the_field_and_starts_nothing(api: Api):
    bad = intake(customer={"id": "cust-x", "email": "not-an-email"}, severity=2)
    del bad["subject"]
    response = await api("POST", "/complaints", "intake", json=bad)
    assert status_code_and_error(response) == (422, "invalid")
    fields = {(f["location"], f["field"]) for f in response.json()["fields"]}
    assert fields == {("body", "customer.email"), ("body", "subject"), ("body", "severity")}
    assert "customer.email" in response.json()["message"]
    crn = complaint_reference(bad["source"], bad["external_ref"])
    assert (await api("GET", f"/complaints/{crn}", "ana")).status_code == 404

    # Strict as the schema says: a number is not a date-time, 1 is not a boolean; and a
    # received_at the deadlines cannot be computed from is refused.
    for field, value in (("received_at", 0), ("received_at", "9999-12-31T23:59:59Z"),
                         ("received_at", "1970-01-01T00:00:00Z"),
                         ("flags", {"requests_manager": 1}), ("subject", "Bad\x00byte"),
                         ("subject", "Two\nlines"), ("description", "NUL \x00 in text")):
        response = await api("POST", "/complaints", "intake", json=intake(**{field: value}))
        assert status_code_and_error(response) == (422, "invalid"), (field, value)
        assert response.json()["fields"][0]["field"].split(".")[0] == field
    broken = await api("POST", "/complaints", "intake", content=b"{not json",
                       headers={"content-type": "application/json"})
    assert status_code_and_error(broken) == (422, "invalid")
    assert broken.json()["fields"][0]["field"] == "(body)"
    not_utf8 = await api("POST", "/complaints", "intake", content=b'{"subject": "\xff\xfe"}',
                         headers={"content-type": "application/json"})
    assert status_code_and_error(not_utf8) == (422, "invalid")


# --- acting, and the refund approved by the Finance Manager ----------------------------


async def test_agents_and_managers_act_and_the_finance_manager_approves_the_refund(api: Api):
    crn = await api.submit(customer=BLOOM, category="billing_dispute", order_id="ord-2001")
    await api.stack.mail_for(crn, "acknowledgement")

    # The actor is the key's owner; the body never names one.
    with_actor = await api.act(crn, "acknowledge_personally", "ana", actor="tom", message="Hi")
    assert status_code_and_error(with_actor) == (422, "invalid")
    assert with_actor.json()["fields"] == [{"location": "body", "field": "actor", "message":
                                            "leave it out: the actor is the owner of the API key"}]
    missing = await api.act(crn, "acknowledge_personally", "ana")
    assert missing.json()["fields"][0]["field"] == "message"
    # A role that may not acknowledge: 403, whatever the phase.
    specialist = await api.act(crn, "acknowledge_personally", "sam", message="Dear Mia, sorry.")
    assert status_code_and_error(specialist) == (403, "forbidden")
    assert "specialist" in specialist.json()["message"]

    ack = await api.act(crn, "acknowledge_personally", "ana",
                        message="Dear Mia, I am sorry about the double charge; I am on it.")
    assert ack.status_code == 200, ack.text
    # The state after it, read at once (the owner's assignment may follow within it).
    assert ack.json()["status"] in ("acknowledged", "under_investigation")
    assert [e["actor"] for e in ack.json()["timeline"]
            if e["event"] == "acknowledged_personally"] == ["ana"]
    # Done already: the complaint refuses it now (409), the role was fine.
    twice = await api.act(crn, "acknowledge_personally", "ben", message="Dear Mia, hello again.")
    assert status_code_and_error(twice) == (409, "conflict")
    assert "already acknowledged" in twice.json()["message"]

    state = await api.stack.until(crn, lambda s: s.owner is not None)
    owner = state.owner
    assert owner == "priya"  # the specialist with the billing skill
    not_owner = await api.act(crn, "record_phone_contact", "sam", reached=True, summary="Hi")
    assert status_code_and_error(not_owner) == (403, "forbidden")
    assert "only the owner" in not_owner.json()["message"]
    too_early = await api.act(crn, "propose_solution", owner, message="A refund. Agreed?")
    assert status_code_and_error(too_early) == (409, "conflict")
    assert "resolution phase" in too_early.json()["message"]
    ghost = await api.act(crn, "reassign", "tom", owner="ghost")
    assert status_code_and_error(ghost) == (422, "invalid")
    assert ghost.json()["fields"][0]["field"] == "owner"

    steps: list[tuple[str, dict[str, Any]]] = [
        ("record_phone_contact", {"reached": True, "summary": "Apologised",
                                  "expectations": "Refund this week"}),
        ("submit_internal_review", {"root_cause": "Duplicate charge job",
                                    "process_failure": "No idempotency key",
                                    "communication_failure": "Tickets closed unanswered",
                                    "checklist": {"history_reviewed": True,
                                                  "issue_verified": True, "order_checked": True}}),
        ("submit_action_plan", {"steps": [{"kind": "refund", "amount": "600.00",
                                           "description": "Refund the duplicate charge"}]}),
        ("propose_solution", {"message": "We will refund 600.00 GBP. Agreed?"}),
    ]
    for update, body in steps:
        response = await api.act(crn, update, owner, **body)
        assert response.status_code == 200, (update, response.text)
        assert response.json()["timeline"][-1]["actor"] in (owner, "system")

    # Nothing is pending yet: the decision is refused before anything is sent.
    early = await api("POST", f"/complaints/{crn}/refund-decision", "fiona",
                      json={"approved": True, "amount": "600.00"})
    assert status_code_and_error(early) == (409, "conflict")

    agreed = await api.act(crn, "record_customer_response", "ana", agrees=True, message="Yes")
    assert agreed.json()["refund"]["status"] == "pending_approval"
    assert agreed.json()["status"] == "awaiting_approval"

    by_owner = await api("POST", f"/complaints/{crn}/refund-decision", owner,
                         json={"approved": True, "amount": "600.00"})
    assert status_code_and_error(by_owner) == (403, "forbidden")
    too_much = await api("POST", f"/complaints/{crn}/refund-decision", "fiona",
                         json={"approved": True, "amount": "700.00"})
    assert status_code_and_error(too_much) == (409, "conflict")
    assert "above" in too_much.json()["message"]
    negative = await api("POST", f"/complaints/{crn}/refund-decision", "fiona",
                         json={"approved": True, "amount": "-1", "actor": "fiona"})
    assert {f["field"] for f in negative.json()["fields"]} == {"amount", "actor"}

    approved = await api("POST", f"/complaints/{crn}/refund-decision", "fiona",
                         json={"approved": True, "amount": "600.00", "note": "Duplicate charge"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["refund"]["approver"] == "fiona"
    assert approved.json()["refund"]["status"] in ("approved", "applied")
    applied = await api.stack.until(crn, lambda s: s.refund.status == "applied")
    assert applied.refund.credit_note
    again = await api("POST", f"/complaints/{crn}/refund-decision", "fiona",
                      json={"approved": True, "amount": "600.00"})
    assert status_code_and_error(again) == (409, "conflict")
    assert "no refund is waiting" in again.json()["message"]

    full = (await api("GET", f"/complaints/{crn}", "fiona")).json()
    assert [e["event"] for e in full["timeline"]].count("refund_applied") == 1
    assert any(d["name"] == "refund_approval" and d["met_at"] for d in full["deadlines"])


# --- authentication and the other errors --------------------------------------------------


async def test_no_key_a_bad_key_and_a_key_revoked_mid_session_get_401(api: Api):
    crn = await api.submit()
    for headers in ({}, {"Authorization": "Bearer ck_00000000_nope"},
                    {"Authorization": "Basic YW5hOmFuYQ=="}, {"Authorization": "Bearer"}):
        response = await api("GET", f"/complaints/{crn}", headers=headers)
        assert status_code_and_error(response) == (401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    # 401 comes before anything else: no key learns whether a CRN exists.
    assert (await api("POST", "/complaints", json={"x": 1})).status_code == 401

    assert (await api("GET", "/me", "ben")).json()["name"] == "ben"
    assert (await api("GET", f"/complaints/{crn}", "ben")).status_code == 200
    async with api.stack.pool.acquire() as conn:
        await revoke_key(conn, staff_id="ben")
    revoked = await api("GET", f"/complaints/{crn}", "ben")
    assert status_code_and_error(revoked) == (401, "unauthenticated")
    assert "revoked" in revoked.json()["message"]
    async with api.stack.pool.acquire() as conn:
        _, api.keys["ben"] = await create_key(conn, staff_id="ben")
    assert (await api("GET", f"/complaints/{crn}", "ben")).status_code == 200


async def test_unknown_complaints_routes_and_methods(api: Api):
    unknown = complaint_reference("web", "never-" + uuid.uuid4().hex)
    for path in (f"/complaints/{unknown}", "/complaints/not-a-crn",
                 f"/complaints/{unknown}/actions/escalate"):
        method = "POST" if path.endswith("escalate") else "GET"
        response = await api(method, path, "tom", json={"reason": "because"})
        assert status_code_and_error(response) == (404, "not_found")
        assert "no complaint" in response.json()["message"]
    decision = await api("POST", f"/complaints/{unknown}/refund-decision", "fiona",
                         json={"approved": False, "amount": "0"})
    assert decision.status_code == 404
    no_action = await api("POST", f"/complaints/{unknown}/actions/delete_everything", "tom",
                          json={})
    assert status_code_and_error(no_action) == (404, "not_found")
    wrong_method = await api("DELETE", f"/complaints/{unknown}", "tom")
    assert status_code_and_error(wrong_method) == (405, "method_not_allowed")
    bad_filter = await api("GET", "/complaints", "tom", params={"severity": 9, "status": "x"})
    assert status_code_and_error(bad_filter) == (422, "invalid")
    assert {f["field"] for f in bad_filter.json()["fields"]} == {"severity", "status"}
    bad_token = await api("GET", "/complaints", "tom", params={"page_token": "garbage!"})
    assert bad_token.json()["fields"][0]["field"] == "page_token"


async def test_internal_and_unavailable_errors_carry_no_stack_trace(
        local_stack: ComplaintStack):
    class BrokenClient:
        def get_workflow_handle(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals")

    async with local_stack.pool.acquire() as conn:
        _, key = await create_key(conn, staff_id="tom")
    closed = await create_pool(local_stack.settings.database_url, min_size=1, max_size=1)
    await closed.close()
    broken = create_app(local_stack.settings, BrokenClient(), local_stack.pool)  # type: ignore[arg-type]
    no_database = create_app(local_stack.settings, local_stack.client, closed)
    auth = {"Authorization": f"Bearer {key}"}
    async with serving(broken) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get(f"/complaints/{complaint_reference('web', 'x')}",
                                  headers=auth)
    assert response.status_code == 500
    assert response.json()["error"] == "internal"
    assert "reference" in response.json()["message"]
    assert "secret" not in response.text and "Traceback" not in response.text
    async with serving(no_database) as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/me", headers=auth)
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert response.headers["retry-after"] == "5"


async def test_openapi_documents_every_action_and_docs_need_no_cdn(api: Api):
    schema = (await api.http.get("/openapi.json")).json()
    actions = {p.rsplit("/", 1)[1] for p in schema["paths"] if "/actions/" in p}
    assert actions == {update for update, _ in ACTIONS.values()}
    for path in schema["paths"].values():
        for operation in path.values():
            if operation["operationId"] not in ("health", "ready"):  # the probes need no key
                assert "401" in operation["responses"]
    body = schema["components"]["schemas"]["PhoneContactBody"]
    assert "actor" not in body["properties"] and body["additionalProperties"] is False
    docs = await api.http.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "cdn." not in docs.text  # served from the wheel: no download at run time
    assert (await api.http.get("/static-offline-docs/swagger-ui-bundle.js")).status_code == 200


# --- the list --------------------------------------------------------------------------------


async def test_list_filters_and_pages_against_several_complaints(api: Api):
    customer, other = f"cust-{uuid.uuid4().hex[:8]}", f"cust-{uuid.uuid4().hex[:8]}"
    minor = await api.submit(customer={"id": customer, "email": "a@x.example"},
                             category="feature_request", impact="minor")
    urgent = await api.submit(customer={"id": customer, "email": "a@x.example"},
                              category="technical_bug", impact="many_users")
    elsewhere = await api.submit(customer={"id": other, "email": "b@x.example"},
                                 category="technical_bug", impact="many_users")
    for crn in (minor, urgent, elsewhere):
        await api.stack.mail_for(crn, "acknowledgement")
    ack = await api.act(urgent, "acknowledge_personally", "ana",
                        message="Dear customer, we are on it and a manager will call you.")
    assert ack.status_code == 200, ack.text
    urgent_state = await api.stack.until(urgent, lambda s: s.owner is not None)
    bloom = await api.submit(customer=BLOOM, category="billing_dispute", order_id="ord-2001",
                             description="Charged twice for the spring arrangement.")
    await api.stack.mail_for(bloom, "acknowledgement")
    assert (await api.act(bloom, "acknowledge_personally", "ana",
                          message="Dear customer, we are on it and a manager will call you.")
            ).status_code == 200
    await api.stack.until(bloom, lambda s: s.owner is not None)
    minor_state = await api.stack.status(minor)
    assert urgent_state.severity != minor_state.severity

    async def listed(expected: set[str], **params: Any) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + 15
        while True:  # the row follows the workflows by a moment (the writer)
            response = await api("GET", "/complaints", "tom", params=params)
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            if {i["crn"] for i in items} == expected:
                return items
            assert asyncio.get_running_loop().time() < deadline, (params, items)
            await asyncio.sleep(0.2)

    items = await listed({minor, urgent}, customer=customer)
    by_crn = {i["crn"]: i for i in items}
    assert by_crn[urgent]["owner"] == urgent_state.owner and by_crn[urgent]["running"]
    assert by_crn[minor] | {"received_at": None, "next_deadline_at": None,
                            "next_deadline": None} == {
        "crn": minor, "status": "new", "phase": "triage", "severity": minor_state.severity,
        "escalation_level": minor_state.escalation_level, "owner": "unassigned",
        "customer_id": customer, "category": "feature_request", "sla_breached": False,
        "retention_risk": False, "received_at": None, "closed_at": None, "running": True,
        "next_deadline_at": None, "next_deadline": None, "team": None, "paused_since": None,
        "subject": minor_state.subject, "customer_name": "customer"}
    # The next deadline: when one of its deadlines falls due, and which (the queue's order).
    due = datetime.fromisoformat(by_crn[minor]["next_deadline_at"])
    assert (due, by_crn[minor]["next_deadline"]) in {(d.due_at, d.name)
                                                     for d in minor_state.deadlines}
    assert by_crn[urgent]["team"] == "support"
    await listed({minor}, customer=customer, status="new")
    await listed({urgent}, customer=customer, phase="ownership")
    await listed({urgent}, customer=customer, owner=urgent_state.owner)
    await listed({minor}, customer=customer, severity=minor_state.severity)
    await listed({elsewhere}, customer=other, breached=False)
    await listed(set(), customer=customer, breached=True)
    await listed({urgent}, customer=customer, status="under_investigation", breached=False)

    # Pages: one at a time, most urgent first (the soonest next deadline), the token bound
    # to its filters.
    items = await listed({minor, urgent}, customer=customer)
    soonest = [i["crn"] for i in sorted(items, key=lambda i: (i["next_deadline_at"], i["crn"]))]
    first = (await api("GET", "/complaints", "tom", params={"customer": customer,
                                                             "limit": 1})).json()
    assert [i["crn"] for i in first["items"]] == soonest[:1] and first["next_page_token"]
    seen, token = soonest[:1], first["next_page_token"]
    while token:
        page = (await api("GET", "/complaints", "tom", params={
            "customer": customer, "limit": 1, "page_token": token})).json()
        seen += [i["crn"] for i in page["items"]]
        token = page["next_page_token"]
    assert seen == soonest
    reused = await api("GET", "/complaints", "tom", params={
        "customer": other, "page_token": first["next_page_token"]})
    assert status_code_and_error(reused) == (422, "invalid")
    assert "other filters" in reused.json()["message"]

    # Search: by the order id, by a word of the description, and only in the caller's scope.
    await api.stack.until_row(minor, lambda r: r["search"] is not None)
    found = await api("GET", "/complaints", "helen", params={"q": "ord-2001"})
    assert found.status_code == 200, found.text
    assert [i["crn"] for i in found.json()["items"]] == [bloom]
    hit = found.json()["items"][0]
    marked = "".join(part["text"] for part in hit["headline"] if part["matched"])
    assert marked == "ord-2001" and hit["rank"] > 0  # where the words matched
    assert (await api("GET", "/complaints", "ben", params={"q": "ord-2001"})).json()[
        "items"] == []  # an agent: not in triage any more, not theirs
    words = await api("GET", "/complaints", "helen", params={"q": "spring arrangement",
                                                              "customer": "cust-bloom"})
    assert [i["crn"] for i in words.json()["items"]] == [bloom]
    for empty in ("", "  ", "!!"):
        refused = await api("GET", "/complaints", "helen", params={"q": empty})
        assert status_code_and_error(refused) == (422, "invalid"), empty
        assert refused.json()["fields"][0]["field"] == "q"
        assert "no word" in refused.json()["fields"][0]["message"]


# --- property-based: schemathesis over the OpenAPI schema -----------------------------------


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        isolated_api: Api, tmp_path: Path):
    """Generated requests (valid and invalid) against every operation, with a team lead's
    key; then every action against one real complaint, so the 409 and 200 paths run too."""
    api = isolated_api
    crn = await api.submit(customer=BLOOM, category="billing_dispute", order_id="ord-2001")
    await api.stack.mail_for(crn, "acknowledgement")
    checks = ("not_a_server_error,status_code_conformance,content_type_conformance,"
              "response_schema_conformance,response_headers_conformance,"
              "negative_data_rejection,ignored_auth")
    cli = str(Path(sys.executable).parent / "schemathesis")

    async def run(config: str, *extra: str) -> str:
        # The `ignored_auth` check sends requests without a key; past AUTH_FAILURES a minute
        # the API answers 429 to everything from this client (tested in test_http_limits),
        # which would leave the next run's operations untested: each run starts uncounted.
        await api.stack.rows("DELETE FROM auth_failures")
        path = tmp_path / "schemathesis.toml"
        path.write_text(config)
        process = await asyncio.create_subprocess_exec(
            cli, "--config-file", str(path), "--no-color", "run", f"{api.base}/openapi.json",
            "--checks", checks, "-H", f"Authorization: Bearer {api.keys['tom']}",
            "--max-examples", "15", "--seed", "6", "--workers", "1", "--request-timeout", "30",
            "--phases", "examples,coverage,fuzzing", "--generation-database", "none", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
        out, _ = await process.communicate()
        text = out.decode(errors="replace")
        assert process.returncode == 0, text[-8000:]
        return text

    # All but `withdraw` and `dismiss`, which a team lead may send and which end the
    # complaint (the fuzzer reuses the CRNs it lists): `withdraw` goes last.
    ending = ("--exclude-operation-id", "withdraw", "--exclude-operation-id", "dismiss")
    print(await run("", *ending))
    # The operations on one complaint again, aimed at a real one (its CRN in every path).
    real = f'[parameters]\n"path.crn" = "{crn}"\n'
    print(await run(real, "--include-path-regex", "crn", *ending))
    # The complaint the fuzzer aimed at still runs and answers: nothing it sent broke it.
    state = await api.stack.status(crn)
    assert state.crn == crn
    description = await api.stack.client.get_workflow_handle(crn).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    # Last, `withdraw` at it: accepted once (it ends the complaint), refused after.
    print(await run(real, "--include-operation-id", "withdraw"))
    state = await api.stack.status(crn)
    assert state.outcome == "withdrawn"
    # `dismiss` likewise, at a second complaint: accepted once, refused after.
    second = await api.submit(customer=BLOOM, category="billing_dispute", order_id="ord-2001")
    await api.stack.mail_for(second, "acknowledgement")
    print(await run(f'[parameters]\n"path.crn" = "{second}"\n', "--include-operation-id",
                    "dismiss"))
    assert (await api.stack.status(second)).outcome == "dismissed"
    description = await api.stack.client.get_workflow_handle(crn).describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED


# --- `complaints keys` ---------------------------------------------------------------------


async def test_keys_are_created_once_shown_once_and_revoked_from_the_cli(
        local_stack: ComplaintStack, monkeypatch: Any, capsys: Any):
    monkeypatch.setenv("DATABASE_URL", local_stack.settings.database_url)
    run = Cli(capsys)
    code, out, err = await run("keys", "create", "--staff", "fiona")
    assert code == 0 and "shown once" in err
    key = out.strip()
    assert key.startswith("ck_") and len(out.splitlines()) == 1
    code, out, err = await run("keys", "create", "--staff", "fiona")
    assert code == 2 and "already has a key" in err and "--replace" in err
    code, out, err = await run("keys", "create", "--staff", "nobody")
    assert code == 2 and "not on the roster" in err
    code, out, err = await run("keys", "create", "--intake", "email-gateway")
    intake_key = out.strip()
    async with local_stack.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, key_hash, kind, name FROM api_keys ORDER BY kind")
    assert [(r["kind"], r["name"]) for r in rows] == [("intake", "email-gateway"),
                                                      ("staff", "fiona")]
    assert all(key not in str(dict(r)) and intake_key not in str(dict(r)) for r in rows)

    app = create_app(local_stack.settings, local_stack.client, local_stack.pool)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        async def me(k: str) -> httpx.Response:
            return await http.get("/me", headers={"Authorization": f"Bearer {k}"})

        assert (await me(key)).json()["role"] == "finance_manager"
        code, out, err = await run("keys", "create", "--staff", "fiona", "--replace")
        new_key = out.strip()
        assert (await me(key)).status_code == 401 and (await me(new_key)).status_code == 200
        code, out, err = await run("keys", "list")
        assert code == 0 and "fiona" in out and "email-gateway" in out and new_key not in out
        code, out, err = await run("keys", "revoke", new_key)  # the key itself names its id
        assert code == 0 and out.startswith("revoked ck_")
        code, out, err = await run("keys", "revoke", "--intake", "email-gateway")
        assert code == 0
        assert (await me(new_key)).status_code == 401 and (await me(intake_key)).status_code == 401
        code, out, err = await run("keys", "revoke", "--staff", "fiona")
        assert code == 2 and "nothing was revoked" in err
        code, out, err = await run("keys", "list", "--all")
        assert len(out.strip().splitlines()) == 4  # header + 3 keys, all revoked


async def test_the_api_containers_health_check_passes_against_the_app(api: Api):
    """docker-compose.yml's health check for the `api` service, run as the container would
    (its port swapped for the test's): it passes while the app serves, and fails once the
    app is gone, so compose restarts a dead API."""
    compose = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())
    check = compose["services"]["api"]["healthcheck"]["test"]
    assert check[0] == "CMD" and ":8000/health" in check[-1]

    async def check_against(port: int | str) -> int:
        argv = [sys.executable, *[arg.replace(":8000/", f":{port}/") for arg in check[2:]]]
        process = await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.DEVNULL)
        return await process.wait()

    assert await check_against(api.base.rpartition(":")[2]) == 0
    assert await check_against(free_port()) != 0  # a port nothing listens on
