"""The staff console's pages and forms through the app (httpx against uvicorn), on the
Temporal dev server, PostgreSQL with the demo roster, the SMTP sink and the worker.

Sign-in, sessions and their end, the rate limit, CSRF, the security headers; the queue with
NextDeadlineAt; acting from a complaint's page, a refused action and a forbidden one; the
Finance Manager's approval changing the balance once; escalations and reports by role.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest_asyncio

from database.console_auth import (
    MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_LOGIN,
    PasswordRefused,
    backoff,
    set_password,
)
from settings import REPO_ROOT
from tests.conftest import ComplaintStack, intake
from tests.console_stack import PASSWORDS, Console, console_on, signed_in, token
from tests.scenarios import agree_to_refund, balance, drive
from workflows import search_attributes as sa
from workflows.models import Status


@pytest_asyncio.fixture
async def console(local_stack: ComplaintStack) -> AsyncIterator[Console]:
    async with console_on(local_stack) as console:
        yield console


async def page_until(http: httpx.AsyncClient, path: str, text: str,
                     timeout: float = 15.0) -> httpx.Response:
    """GET `path` until it shows `text` (visibility and the row lag the workflow)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        page = await http.get(path)
        if text in page.text or asyncio.get_running_loop().time() > deadline:
            assert text in page.text, page.text
            return page
        await asyncio.sleep(0.2)


async def test_sign_in_sign_out_and_what_a_session_is(console: Console):
    async with httpx.AsyncClient(base_url=console.base, timeout=60) as http:
        assert (await http.get("/")).headers["location"] == "/console/"
        first = await http.get("/console/")
        assert first.status_code == 303
        assert first.headers["location"] == "/console/sign-in?next=/console/"
        form = await http.get("/console/sign-in")
        assert 'for="login"' in form.text and 'for="password"' in form.text
        sign_in_token = token(form.text, "sign_in_token")

        wrong = await http.post("/console/sign-in", data={
            "login": "ana", "password": "not-her-password", "sign_in_token": sign_in_token})
        assert wrong.status_code == 401 and "do not match" in wrong.text
        assert "console_session" not in wrong.cookies
        forged = await http.post("/console/sign-in", data={
            "login": "ana", "password": PASSWORDS["ana"], "sign_in_token": "forged"})
        assert forged.status_code == 403 and "console_session" not in forged.cookies
        sign_in_token = token(forged.text, "sign_in_token")  # a fresh form, a fresh token

        good = await http.post("/console/sign-in", data={
            "login": "ANA@example.com", "password": PASSWORDS["ana"],
            "sign_in_token": sign_in_token, "next": "https://evil.example/"})
        assert (good.status_code, good.headers["location"]) == (303, "/console/")
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        assert str(int(8 * 3600)) in cookie  # Max-Age: 8 idle hours

        queue = await http.get("/console/")
        assert queue.status_code == 200 and "Ana" in queue.text
        headers = queue.headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
        assert "<script>" not in queue.text  # no inline script: only console.js
        static = await http.get("/console/static/console.js")
        assert static.status_code == 200 and "no-store" not in static.headers.get(
            "cache-control", "")

        no_token = await http.post("/console/sign-out", data={})
        assert no_token.status_code == 403 and "security token" in no_token.text
        assert (await http.get("/console/")).status_code == 200  # still signed in
        out = await http.post("/console/sign-out", data={"csrf_token": token(queue.text)})
        assert out.status_code == 303
        # The session ended server side: the old cookie opens nothing any more.
        http.cookies.set("console_session", good.cookies["console_session"], path="/console")
        assert (await http.get("/console/")).status_code == 303


async def test_intake_keys_and_unavailable_members_cannot_sign_in(console: Console):
    from database.keys import create_key

    async with console.stack.pool.acquire() as conn:
        _, key = await create_key(conn, intake="web-form")
    async with httpx.AsyncClient(base_url=console.base, timeout=60) as http:
        form = await http.get("/console/sign-in")
        for login, password in (("web-form", key), ("intake", key)):
            refused = await http.post("/console/sign-in", data={
                "login": login, "password": password,
                "sign_in_token": token(form.text, "sign_in_token")})
            assert refused.status_code == 401

    async with signed_in(console, "ben") as ben:
        assert (await ben.get("/console/")).status_code == 200
        await console.stack.rows("UPDATE staff SET available = false WHERE id = 'ben' "
                                 "RETURNING id")
        assert (await ben.get("/console/")).status_code == 303  # the session ended at once
        assert await console.stack.rows(
            "SELECT 1 FROM console_sessions WHERE staff_id = 'ben' AND ended_at IS NULL") == []


async def test_failed_sign_ins_are_rate_limited(console: Console):
    async with httpx.AsyncClient(base_url=console.base, timeout=60) as http:
        sign_in_token = token((await http.get("/console/sign-in")).text, "sign_in_token")
        for _ in range(MAX_FAILURES_PER_LOGIN):
            wrong = await http.post("/console/sign-in", data={
                "login": "sam", "password": "guess-guess-guess", "sign_in_token": sign_in_token})
            assert wrong.status_code == 401
        # Now even the right password is refused until the window passes.
        limited = await http.post("/console/sign-in", data={
            "login": "sam", "password": PASSWORDS["sam"], "sign_in_token": sign_in_token})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert "console_session" not in limited.cookies


def test_the_wait_after_failed_sign_ins_doubles_up_to_its_cap():
    cap = timedelta(minutes=5)
    waits = [backoff(n, 5, cap).total_seconds() for n in range(12)]
    assert waits == [0, 0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128]
    assert backoff(13, 5, cap) == backoff(500, 5, cap) == cap


async def test_failed_sign_ins_back_off_per_account_and_per_client_and_never_lock_for_good(
        console: Console):
    """Per account: each failure past the free ones doubles the wait (Retry-After 2, 4,
    8 s), whoever guessed; once it has passed, the owner's right password counts. Per
    client: one address guessing at many accounts waits too, for every account."""
    async def attempt(http: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
        sign_in_token = token((await http.get("/console/sign-in")).text, "sign_in_token")
        return await http.post("/console/sign-in", data={
            "login": login, "password": password, "sign_in_token": sign_in_token})

    async def failures(login: str, client: str, n: int, seconds_ago: int) -> None:
        await console.stack.rows(
            "INSERT INTO console_sign_in_failures (client, login, at) SELECT $1, $2, "
            "now() - make_interval(secs => $4) FROM generate_series(1, $3) RETURNING 1",
            client, login, n, seconds_ago)

    async with httpx.AsyncClient(base_url=console.base, timeout=60) as http:
        for extra, expected in ((0, 2), (1, 4), (2, 8)):
            await console.stack.rows("DELETE FROM console_sign_in_failures RETURNING 1")
            # Guesses at Sam's account from elsewhere, the last one just now.
            await failures("sam", "203.0.113.7", MAX_FAILURES_PER_LOGIN + extra, 0)
            limited = await attempt(http, "sam", PASSWORDS["sam"])
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) in (expected - 1, expected)
            assert "console_session" not in limited.cookies
        # The wait (8 s after the last of 7 failures) has passed: Sam signs in.
        await console.stack.rows("UPDATE console_sign_in_failures SET at = at - interval "
                                 "'9 seconds' RETURNING 1")
        assert (await attempt(http, "sam", PASSWORDS["sam"])).status_code == 303

    async with httpx.AsyncClient(base_url=console.base, timeout=60) as http:
        # One client guessing at many accounts: that client waits, for any account.
        await console.stack.rows("DELETE FROM console_sign_in_failures RETURNING 1")
        for n in range(MAX_FAILURES_PER_CLIENT):
            await failures(f"nobody-{n}", "127.0.0.1", 1, 0)
        limited = await attempt(http, "ana", PASSWORDS["ana"])
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) in (1, 2)


async def test_a_password_has_at_least_12_characters(console: Console):
    async with console.stack.pool.acquire() as conn:
        for bad in ("short-pw", " " * 12):
            try:
                await set_password(conn, "ana", bad)
            except PasswordRefused as err:
                assert "characters" in str(err) or "spaces" in str(err)
            else:
                raise AssertionError(f"{bad!r} was accepted")
        stored = await conn.fetchval("SELECT hash FROM staff_passwords WHERE staff_id = 'ana'")
    assert stored.startswith("$argon2id$")


async def test_an_agent_sees_a_new_complaint_and_acknowledges_it_from_its_page(
        console: Console):
    stack = console.stack
    crn = (await stack.submit()).crn
    async with signed_in(console, "ana") as ana:
        queue = await page_until(ana, "/console/", crn)
        row = queue.text.split(crn, 2)[2].split("</tr>")[0]
        assert "Jon Kite" in row and "Export shows wrong totals" in row
        state = await stack.status(crn)
        due = min(d.due_at for d in state.deadlines if d.met_at is None)
        assert 'class="countdown' in row and due.strftime("%Y-%m-%dT%H:%M:%S") in row
        attrs = (await stack.client.get_workflow_handle(crn).describe()).typed_search_attributes
        assert attrs.get(sa.NEXT_DEADLINE_AT) == due

        page = await ana.get(f"/console/complaints/{crn}")
        assert page.status_code == 200 and ">Acknowledge personally</button>" in page.text
        assert "Approve refund" not in page.text and "Record phone call" not in page.text
        action = f"/console/complaints/{crn}/actions/acknowledge_personally"
        message = "Dear Jon, I am sorry about the export; I am looking into it myself."

        forged = await ana.post(action, data={"message": message})
        assert forged.status_code == 403 and "security token" in forged.text
        assert (await stack.status(crn)).status == Status.new  # nothing changed

        done = await ana.post(action, data={"message": message, "csrf_token": token(page.text)})
        assert done.status_code == 303
        state = await stack.until(crn, lambda s: s.owner is not None)
        ack = next(e for e in state.timeline if e.event == "acknowledged_personally")
        assert ack.actor == "ana"

        again = await ana.post(action, data={"message": message, "csrf_token": token(page.text)})
        assert again.status_code == 409 and "already acknowledged" in again.text
        assert "Nothing was changed" in again.text
        after = await stack.status(crn)
        assert [e.event for e in after.timeline].count("acknowledged_personally") == 1


async def test_the_server_decides_what_a_person_may_do(console: Console):
    stack = console.stack
    crn, owner = await agree_to_refund(stack, "600.00")
    await stack.until(crn, lambda s: s.refund.status == "pending_approval")
    async with signed_in(console, "ana") as ana:
        page = await ana.get(f"/console/complaints/{crn}")
        assert "Approve refund" not in page.text
        csrf = token(page.text)
        forged = await ana.post(f"/console/complaints/{crn}/refund-decision", data={
            "csrf_token": csrf, "decision": "approve", "amount": "600.00"})
        assert forged.status_code == 403 and "Finance Manager" in forged.text
        reassign = await ana.post(f"/console/complaints/{crn}/actions/reassign", data={
            "csrf_token": csrf, "owner": "sam"})
        assert reassign.status_code == 403
        call = await ana.post(f"/console/complaints/{crn}/actions/record_phone_contact", data={
            "csrf_token": csrf, "reached": "on", "summary": "Called"})
        assert call.status_code == 403
        for path in ("/console/approvals", "/console/escalations", "/console/reports"):
            assert (await ana.get(path)).status_code == 403
    state = await stack.status(crn)
    assert (state.refund.status, state.owner) == ("pending_approval", owner)
    assert await balance(stack) == Decimal("0.00")


async def test_the_finance_manager_approves_a_refund_once(console: Console):
    stack = console.stack
    crn, _ = await agree_to_refund(stack, "600.00")
    await stack.until(crn, lambda s: s.refund.status == "pending_approval")
    async with signed_in(console, "fiona") as fiona:
        approvals = await page_until(fiona, "/console/approvals", crn)
        assert "Approve refund" in approvals.text and "Reject refund" in approvals.text
        assert "640.00" in approvals.text or "768.00" in approvals.text  # the computation
        csrf = token(approvals.text)
        too_much = await fiona.post(f"/console/complaints/{crn}/refund-decision", data={
            "csrf_token": csrf, "decision": "approve", "amount": "5000",
            "back": "/console/approvals"})
        assert too_much.status_code == 409 and "Nothing was changed" in too_much.text
        assert (await stack.status(crn)).refund.status == "pending_approval"

        done = await fiona.post(f"/console/complaints/{crn}/refund-decision", data={
            "csrf_token": csrf, "decision": "approve", "amount": "600.00",
            "note": "Duplicate charge", "back": "/console/approvals"})
        assert (done.status_code, done.headers["location"]) == (
            303, f"/console/approvals?decided={crn}")
        await stack.until(crn, lambda s: s.refund.status == "applied")
        twice = await fiona.post(f"/console/complaints/{crn}/refund-decision", data={
            "csrf_token": csrf, "decision": "approve", "amount": "600.00"})
        assert twice.status_code == 409
    await asyncio.sleep(0.5)
    assert await balance(stack) == Decimal("600.00")
    notes = await stack.rows("SELECT amount FROM credit_notes WHERE crn = $1", crn)
    assert [n["amount"] for n in notes] == [Decimal("600.00")]


async def test_supervisors_see_escalations_and_the_head_of_cs_the_reports(console: Console):
    stack = console.stack
    crn = (await stack.submit(intake(flags={"requests_manager": True}))).crn
    async with signed_in(console, "ana") as ana:
        page = await page_until(ana, f"/console/complaints/{crn}", "Escalate</button>")
        done = await ana.post(f"/console/complaints/{crn}/actions/escalate", data={
            "csrf_token": token(page.text), "reason": "The customer asked for a manager"})
        assert done.status_code == 303
    await stack.until(crn, lambda s: s.escalation_level >= 1)
    async with signed_in(console, "tom") as tom:
        escalations = await page_until(tom, "/console/escalations", crn)
        assert "team lead" in escalations.text
        assert (await tom.get("/console/reports")).status_code == 403
    async with signed_in(console, "helen") as helen:
        report = await helen.get("/console/reports?kind=monthly&period=current")
        assert report.status_code == 200 and "<pre class=\"report\">" in report.text
        emailed = await helen.get("/console/reports/monthly.html?period=current")
        assert emailed.status_code == 200 and "sandbox" in emailed.headers[
            "content-security-policy"]
        bad_period = await helen.get("/console/reports?kind=weekly&period=someday")
        assert bad_period.status_code == 422
        csrf = token(report.text)
        policy = (REPO_ROOT / "workflows" / "policies" / "demo.toml").read_bytes()
        what_if = await helen.post("/console/reports/what-if", data={"csrf_token": csrf},
                                   files={"policy": ("demo.toml", policy, "text/plain")})
        assert what_if.status_code == 200 and "Deadlines breached" in what_if.text
        broken = await helen.post("/console/reports/what-if", data={"csrf_token": csrf},
                                  files={"policy": ("bad.toml", b"[resolution]\nsev1 = 'soon'",
                                                    "text/plain")})
        assert broken.status_code == 422 and "bad.toml" in broken.text


async def test_a_session_ends_after_8_idle_hours(console: Console):
    async with signed_in(console, "quinn") as quinn:
        assert (await quinn.get("/console/")).status_code == 200
        await console.stack.rows("UPDATE console_sessions SET last_seen_at = now() - "
                                 "interval '8 hours 1 second' WHERE staff_id = 'quinn' "
                                 "RETURNING 1")
        assert (await quinn.get("/console/")).status_code == 303


async def test_the_update_clock_shows_paused_while_the_customer_considers(console: Console):
    stack = console.stack
    crn, state = await drive(stack, "proposed")
    assert state.status == Status.awaiting_customer
    async with signed_in(console, "helen") as helen:
        page = await helen.get(f"/console/complaints/{crn}")
        deadlines = page.text.split('id="deadlines"', 1)[1].split("</section>", 1)[0]
        assert 'data-state="paused"' in deadlines and "customer update" in deadlines
        queue = await page_until(helen, "/console/", crn)
        row = queue.text.split(crn, 2)[2].split("</tr>")[0]
        assert 'data-state="paused"' in row
