"""The staff console in a real headless browser: Playwright for Python driving Debian's
`chromium` (never Playwright's own browser download, which fails here), against the app on
the Temporal dev server, PostgreSQL with the demo roster and the worker.

Without chromium these tests skip with how to get it (`apt-get install -y chromium`);
under CI=true a missing browser fails them (.ci/run installs it first).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest_asyncio

from tests import browser as chromium
from tests.conftest import ComplaintStack, text_of
from tests.console_stack import PASSWORDS, Console, console_on
from tests.scenarios import agree_to_refund, balance, owner_of, review, to_owner
from workflows.models import ComplaintOutcome, Status

browser = chromium.browser  # the fixture


@pytest_asyncio.fixture
async def console(local_stack: ComplaintStack) -> AsyncIterator[Console]:
    async with console_on(local_stack) as console:
        yield console


class CspWatch:
    """Every Content-Security-Policy report the page's console logs (our pages make none)."""

    def __init__(self, page) -> None:
        self.violations: list[str] = []
        page.on("console", lambda msg: self.violations.append(msg.text)
                if "Content Security Policy" in msg.text else None)


async def sign_in(browser, console: Console, who: str, bypass_csp: bool = False):
    return await chromium.sign_in(browser, console.base, who, PASSWORDS[who], bypass_csp)


async def test_sign_in_a_wrong_password_and_sign_out(browser, console: Console):
    context = await browser.new_context(base_url=console.base)
    page = await context.new_page()
    csp = CspWatch(page)
    await page.goto("/console/")
    assert page.url.endswith("/console/sign-in?next=/console/")
    await page.get_by_label("Roster id or email").fill("ana")
    await page.get_by_label("Password").fill("not-the-right-one")
    await page.get_by_role("button", name="Sign in").click()
    assert "do not match" in await page.get_by_role("alert").inner_text()
    await page.get_by_label("Password").fill(PASSWORDS["ana"])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Your queue").wait_for()
    cookie = next(c for c in await context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    await page.get_by_role("button", name="Sign out").click()
    assert "You are signed out" in await page.get_by_role("status").inner_text()
    await page.goto("/console/")
    assert "/console/sign-in" in page.url
    assert csp.violations == []


async def test_the_queue_shows_a_new_complaint_with_its_countdown(browser, console: Console):
    page = await sign_in(browser, console, "ana")
    csp = CspWatch(page)
    crn = (await console.stack.submit()).crn  # after the page loaded: it refreshes itself
    row = page.get_by_role("row").filter(has_text=crn)
    await row.wait_for(timeout=20_000)
    assert "Export shows wrong totals" in await row.inner_text()
    countdown = row.locator("span.countdown")
    first = await countdown.inner_text()
    assert re.match(r"(On time|Due soon): (\d+h )?\d\dm \d\ds left", first), first
    await page.wait_for_timeout(1500)
    assert await countdown.inner_text() != first  # it counts down, to the second
    assert csp.violations == []


async def test_an_agent_acknowledges_personally_from_the_page(browser, console: Console):
    stack = console.stack
    crn = (await stack.submit()).crn
    page = await sign_in(browser, console, "ana")
    await page.get_by_role("link", name=crn).click(timeout=20_000)
    await page.get_by_label("Message to the customer").fill(
        "Dear Jon, I am sorry about the export; I am looking into it myself today.")
    await page.get_by_role("button", name="Acknowledge personally").click()
    assert "Acknowledge personally" in await page.get_by_role("status").inner_text()
    state = await stack.until(crn, lambda s: s.owner is not None)
    assert any(e.event == "acknowledged_personally" and e.actor == "ana" for e in state.timeline)


async def test_a_form_without_its_csrf_token_is_refused(browser, console: Console):
    stack = console.stack
    crn = (await stack.submit()).crn
    page = await sign_in(browser, console, "ana")
    await page.goto(f"/console/complaints/{crn}")
    await page.get_by_label("Message to the customer").fill("Dear Jon, we are on it.")
    form = page.locator("form", has=page.get_by_role("button", name="Acknowledge personally"))
    await form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    await page.get_by_role("button", name="Acknowledge personally").click()
    assert "security token" in await page.get_by_role("alert").inner_text()
    state = await stack.status(crn)
    assert state.status == Status.new and not any(
        e.event == "acknowledged_personally" for e in state.timeline)


async def test_an_agents_forged_approval_is_refused(browser, console: Console):
    stack = console.stack
    crn, _ = await agree_to_refund(stack, "600.00")
    await stack.until(crn, lambda s: s.refund.status == "pending_approval")
    page = await sign_in(browser, console, "ana")
    await page.goto(f"/console/complaints/{crn}")
    assert await page.get_by_role("button", name="Approve refund").count() == 0
    # The agent builds the Finance Manager's form herself, with her own valid CSRF token.
    await page.evaluate("""crn => {
        const token = document.querySelector("input[name=csrf_token]").value;
        const form = document.createElement("form");
        form.method = "post";
        form.action = `/console/complaints/${crn}/refund-decision`;
        for (const [name, value] of [["csrf_token", token], ["decision", "approve"],
                                     ["amount", "600.00"]]) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value;
            form.appendChild(input);
        }
        document.body.appendChild(form);
        form.submit();
    }""", crn)
    await page.wait_for_load_state()
    assert "Only the Finance Manager" in await page.get_by_role("alert").inner_text()
    assert (await stack.status(crn)).refund.status == "pending_approval"
    assert await balance(stack) == Decimal("0.00")


async def test_the_finance_manager_approves_a_refund_from_the_approvals_page(
        browser, console: Console):
    stack = console.stack
    crn, _ = await agree_to_refund(stack, "600.00")
    await stack.until(crn, lambda s: s.refund.status == "pending_approval")
    page = await sign_in(browser, console, "fiona")
    await page.get_by_role("link", name="Approvals").click()
    card = page.locator("section", has=page.get_by_role("heading", name=re.compile(crn)))
    await card.wait_for(timeout=20_000)
    await card.get_by_label("Note").fill("Duplicate charge confirmed")
    await card.get_by_role("button", name="Approve refund").click()
    assert crn in await page.get_by_role("status").inner_text()
    await stack.until(crn, lambda s: s.refund.status == "applied")
    assert await balance(stack) == Decimal("600.00")
    notes = await stack.rows("SELECT amount FROM credit_notes WHERE crn = $1", crn)
    assert [n["amount"] for n in notes] == [Decimal("600.00")]  # once


axe_serious = chromium.serious_violations


async def test_the_queue_complaint_and_approvals_pages_pass_axe(browser, console: Console):
    """axe-core is injected into the page, so this context alone bypasses the page's CSP."""
    stack = console.stack
    crn, owner = await agree_to_refund(stack, "600.00")
    await stack.until(crn, lambda s: s.refund.status == "pending_approval")
    problems = {}
    page = await sign_in(browser, console, "fiona", bypass_csp=True)
    for path in ("/console/", f"/console/complaints/{crn}", "/console/approvals"):
        await page.goto(path)
        await page.get_by_text(crn).first.wait_for(timeout=20_000)
        problems[f"{path} (Finance Manager)"] = await axe_serious(page)
    # The owner's complaint page: the action forms, labelled fields and all.
    page = await sign_in(browser, console, owner, bypass_csp=True)
    await page.goto(f"/console/complaints/{crn}")
    assert await page.locator("form.action").count() >= 2
    problems["complaint page (owner)"] = await axe_serious(page)
    assert problems == {k: [] for k in problems}, problems


async def test_a_team_lead_dismisses_spam_and_an_owner_issues_a_final_response(
        browser, console: Console):
    """The new actions' forms, as the people who may take them see them."""
    stack = console.stack
    spam = (await stack.submit(subject="Cheap watches, best prices")).crn
    page = await sign_in(browser, console, "tom")
    await page.goto(f"/console/complaints/{spam}")
    form = page.locator("form", has=page.get_by_role("button", name="Dismiss"))
    await form.get_by_label("Reason").select_option("spam")
    await form.get_by_label("Note for colleagues").fill("A link farm")
    await form.get_by_role("button", name="Dismiss").click()
    assert "Dismiss" in await page.get_by_role("status").inner_text()
    state = await stack.until(spam, lambda s: s.outcome is not None)
    assert (state.status, state.outcome) == (Status.closed, ComplaintOutcome.dismissed)
    await page.goto(f"/console/complaints/{spam}")
    assert "dismissed: not a complaint" in await page.locator("main").inner_text()

    crn, owner = await to_owner_reviewed(stack)
    page = await sign_in(browser, console, owner)
    await page.goto(f"/console/complaints/{crn}")
    form = page.locator("form", has=page.get_by_role("button", name="Issue final response"))
    await form.get_by_label("Outcome").select_option("partly_upheld")
    await form.get_by_label("Letter to the customer").fill("We checked every export: two were wrong.")
    await form.get_by_role("button", name="Issue final response").click()
    assert "Issue final response" in await page.get_by_role("status").inner_text()
    state = await stack.until(crn, lambda s: s.outcome is not None)
    assert (state.status, state.outcome) == (Status.resolved, ComplaintOutcome.partly_upheld)
    letter = await stack.mail_for(crn, "final_response:1")
    assert "two were wrong" in text_of(letter)


async def to_owner_reviewed(stack: ComplaintStack) -> tuple[str, str]:
    crn = await to_owner(stack)
    owner = await owner_of(stack, crn)
    await stack.act(crn, "submit_internal_review", review(owner))
    return crn, owner
