"""The desk's queue and search in Chromium (Playwright, tests/browser.py): the search box
on every console page finds a complaint by its words and shows where they matched, within
the person's scope; a team lead reassigns several complaints at once from the queue and reads what
happened to each; both pages pass axe-core."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests import browser as chromium
from tests.conftest import ComplaintStack
from tests.console_stack import PASSWORDS, Console, console_on, signed_in, token
from tests.scenarios import to_owner
from workflows import models as m

browser = chromium.browser  # the fixture


@pytest_asyncio.fixture
async def console(local_stack: ComplaintStack) -> AsyncIterator[Console]:
    async with console_on(local_stack) as console:
        yield console


async def test_the_search_box_finds_a_complaint_within_scope(browser, console: Console):
    stack = console.stack
    crn = await to_owner(stack, customer={"id": "cust-bloom", "name": "Mia Bloom",
                                          "email": "hello@bloom.example"},
                         category="billing_dispute", order_id="ord-2001",
                         description="Charged twice for the spring arrangement.")
    await stack.until_row(crn, lambda r: r["owner"] is not None and r["search"] is not None)
    page = await chromium.sign_in(browser, console.base, "helen", PASSWORDS["helen"],
                                  bypass_csp=True)
    await page.goto(f"/console/complaints/{crn}")  # the box is on every page
    await page.get_by_label("Search complaints").fill("spring arrangement")
    await page.get_by_role("button", name="Search", exact=True).first.click()
    await page.get_by_role("heading", name="Search: “spring arrangement”").wait_for()
    row = page.get_by_role("row").filter(has_text=crn)
    assert await row.count() == 1
    marked = await row.locator("mark").all_inner_texts()
    assert [m.lower() for m in marked] == ["spring", "arrangement"]
    assert await chromium.serious_violations(page) == []
    await row.get_by_role("link", name=crn).click()
    assert page.url.endswith(f"/console/complaints/{crn}")

    # An agent finds nothing outside their scope (not theirs, out of triage).
    ana = await chromium.sign_in(browser, console.base, "ana", PASSWORDS["ana"])
    await ana.get_by_label("Search complaints").fill("ord-2001")
    await ana.get_by_label("Search complaints").press("Enter")
    assert "No complaint you may see matches" in await ana.locator("main").inner_text()
    # No word at all: said so, nothing searched.
    await ana.goto("/console/search?q=%21%21")
    assert "no word to look for" in await ana.get_by_role("alert").inner_text()


async def test_a_team_lead_reassigns_several_complaints_from_the_queue(browser,
                                                                       console: Console):
    stack = console.stack
    crns = [await to_owner(stack) for _ in range(3)]
    owners = {(await stack.status(crn)).owner for crn in crns}
    target = next(m for m in ("carla", "priya", "sam") if m not in owners)
    await stack.act(crns[0], "reassign", m.Reassignment(actor="tom", owner=target))
    already = crns[0]  # owned by the target already: refused, the others go through
    for crn in crns:
        await stack.until_row(crn, lambda r: r["owner"] is not None)
    page = await chromium.sign_in(browser, console.base, "tom", PASSWORDS["tom"],
                                  bypass_csp=True)
    await page.get_by_role("heading", name="Your team's queue (support)").wait_for()
    for crn in crns:
        await page.get_by_label(f"Reassign {crn}").check(timeout=20_000)
    await page.get_by_label("Reassign the ticked complaints to").select_option(target)
    assert await chromium.serious_violations(page) == []
    await page.get_by_role("button", name="Reassign", exact=True).click()
    await page.get_by_role("heading", name=f"Reassigning to {target}").wait_for()
    results = {}
    for crn in crns:
        results[crn] = await page.get_by_role("row").filter(has_text=crn).inner_text()
    assert len(results) == 3
    for crn in crns:
        if crn == already:
            assert "already owns" in results[crn]
        else:
            assert f"reassigned to {target}" in results[crn], results
            await stack.until(crn, lambda s: s.owner == target)
    assert await chromium.serious_violations(page) == []


async def test_reassigning_from_the_queue_is_for_leads_and_their_queue(console: Console):
    stack = console.stack
    crn = await to_owner(stack)
    await stack.until_row(crn, lambda r: r["owner"] is not None)
    before = await stack.status(crn)
    async with stack.pool.acquire() as conn:
        await conn.execute("UPDATE complaints SET team = 'elsewhere' WHERE crn = $1", crn)
    async with signed_in(console, "sam") as sam:
        csrf = token((await sam.get("/console/")).text)
        refused = await sam.post("/console/reassign", data={
            "csrf_token": csrf, "crn": crn, "owner": "carla"})
        assert refused.status_code == 403 and "team lead" in refused.text
    async with signed_in(console, "tom") as tom:
        csrf = token((await tom.get("/console/")).text)
        for form, status, said in (
            ({"owner": "carla"}, 422, "Tick at least one"),
            ({"crn": crn, "owner": "ana"}, 422, "from the roster"),  # an agent owns nothing
            ({"crn": crn, "owner": "carla"}, 200, "not in your queue"),
        ):
            answer = await tom.post("/console/reassign", data={"csrf_token": csrf, **form})
            assert answer.status_code == status and said in answer.text, answer.text
        bad = await tom.get("/console/", params={"page_token": "garbage!"})
        assert bad.status_code == 422 and "page link cannot be used" in bad.text
    after = await stack.status(crn)
    assert (after.owner, len(after.timeline)) == (before.owner, len(before.timeline))
