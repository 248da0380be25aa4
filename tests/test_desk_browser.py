"""The agent's desk in Chromium (Playwright, Debian's chromium): the head of customer
success keeps a canned reply, an owner answers the customer with it (edited) and leaves
a note for a colleague, a double submit is one action; axe-core on the new pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import httpx
import pytest_asyncio

from tests import browser as chromium
from tests.browser import serious_violations
from tests.conftest import ComplaintStack, text_of
from tests.console_stack import Console, console_on, signed_in
from tests.desk_stack import browser_sign_in, form_values
from tests.scenarios import owner_of, to_owner

browser = chromium.browser  # the fixture
CANNED = ("Dear {customer_name}, {owner} is looking into {crn} ({order}) and will write "
          "again by {next_deadline}.")


@pytest_asyncio.fixture
async def console(local_stack: ComplaintStack) -> AsyncIterator[Console]:
    async with console_on(local_stack) as console:
        yield console


async def test_a_canned_reply_edited_and_sent_then_a_note_for_a_colleague(browser,
                                                                           console: Console):
    stack = console.stack
    crn = await to_owner(stack)
    owner = await owner_of(stack, crn)

    helen = await browser_sign_in(browser, console.base, "helen", bypass_csp=True)
    await helen.get_by_role("link", name="Canned replies").click()
    await helen.get_by_label("Name").fill("Looking into it")
    await helen.get_by_label("Text").fill("Dear {customer}, hello")
    await helen.get_by_role("button", name="Save reply").click()
    assert "unknown placeholder {customer}" in await helen.get_by_role("alert").inner_text()
    await helen.get_by_label("Text").fill(CANNED)
    await helen.get_by_role("button", name="Save reply").click()
    assert "reply saved" in await helen.get_by_role("status").inner_text()
    assert await serious_violations(helen) == []

    page = await browser_sign_in(browser, console.base, owner, bypass_csp=True)
    await page.goto(f"/console/complaints/{crn}")
    await page.get_by_label("Canned reply").select_option("Looking into it")
    await page.get_by_role("button", name="Use this reply").click()
    box = page.get_by_label("Your reply")
    filled = await box.input_value()
    name = (await stack.status(crn)).owner
    assert filled.startswith("Dear Jon Kite, ") and f"is looking into {crn} (your order)" in filled
    assert "{" not in filled and name is not None
    await box.fill(filled + " Sorry for the trouble.")
    await page.get_by_role("button", name="Send reply").click()
    assert "Send customer update" in await page.get_by_role("status").inner_text()
    mail = await stack.mail.wait_for(
        lambda m: m["X-Complaint-Reference"] == crn
        and str(m["X-Complaint-Message-Kind"]).startswith("customer_update"), timeout=20)
    assert filled + " Sorry for the trouble." in text_of(mail).replace("\r\n", "\n")
    conversation = page.locator("#conversation")
    await conversation.get_by_text("Sorry for the trouble.").wait_for()

    await page.get_by_label("Note for colleagues").fill("@helen the customer may call you.")
    await page.get_by_role("button", name="Add note").click()
    assert "Add note" in await page.get_by_role("status").inner_text()
    await conversation.get_by_text("the customer may call you.").wait_for()
    assert "Staff only" in await conversation.locator(".message-note").inner_text()
    told = await stack.mail.wait_for(
        lambda m: m["X-Complaint-Reference"] == crn
        and str(m["X-Complaint-Message-Kind"]).startswith("note_mention"), timeout=20)
    assert told["To"] == "helen@example.com"
    assert await serious_violations(page) == []


async def test_an_html_email_in_full_loads_nothing_remote_and_runs_nothing(browser,
                                                                           console: Console):
    stack = console.stack
    crn = await to_owner(stack)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Jon Kite <kite@kite.example>", "support@example.com", "Totals"
    mail["Message-ID"] = "<html-mail-1@kite.example>"
    mail.set_content("The totals are wrong.\n\n> an old quote\n")
    mail.add_alternative(
        "<p>The totals are <b>wrong</b>.</p><img src='http://127.0.0.1:9/pixel.png'>"
        "<script>document.title = 'pwned'</script><p style='background:url(http://127.0.0.1:9/"
        "bg.png)' onclick='alert(1)'>Styled</p>", subtype="html")
    raw = mail.as_bytes()
    async with stack.pool.acquire() as conn:  # as the gateway stores a processed reply
        await conn.execute(
            """INSERT INTO inbound_messages (message_id, envelope_from, raw, size, processed_at,
                   outcome, crn, from_address, subject, body)
               VALUES ($1, 'kite@kite.example', $2, $3, now(), 'reply', $4,
                   'kite@kite.example', 'Totals', 'The totals are wrong.')""",
            mail["Message-ID"], raw, len(raw), crn)
    owner = await owner_of(stack, crn)
    page = await browser_sign_in(browser, console.base, owner)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"/console/complaints/{crn}")
    await page.get_by_role("link", name="The full original email").click()
    await page.get_by_role("heading", name="The original email").wait_for()
    assert "> an old quote" in await page.locator(".message-text").inner_text()
    sanitised = page.locator(".sanitised")
    assert "The totals are wrong." in await sanitised.inner_text()
    assert await sanitised.locator("img, script, [style], [onclick]").count() == 0
    assert await page.title() != "pwned"
    assert not [url for url in requested if ":9/" in url]
    checked = await browser_sign_in(browser, console.base, owner, bypass_csp=True)
    await checked.goto(page.url)
    assert await serious_violations(checked) == []


async def test_a_form_submitted_twice_is_one_action(console: Console):
    stack = console.stack
    crn = await to_owner(stack)
    owner = await owner_of(stack, crn)
    async with signed_in(console, owner) as http:
        page = (await http.get(f"/console/complaints/{crn}")).text
        form = {**form_values(page, "add_note"), "text": "Called the customer: no answer."}
        first, second = [await http.post(f"/console/complaints/{crn}/actions/add_note",
                                          data=form) for _ in range(2)]
        assert first.status_code == second.status_code == 303
        state = await stack.status(crn)
        assert len([e for e in state.timeline if e.event == "note_added"]) == 1
        assert len(await stack.rows("SELECT * FROM notes WHERE crn = $1", crn)) == 1
        # A fresh page's form is a new note.
        page = (await http.get(f"/console/complaints/{crn}")).text
        again = await http.post(f"/console/complaints/{crn}/actions/add_note", data={
            **form_values(page, "add_note"), "text": "Called again: reached him."})
        assert again.status_code == 303
        assert len(await stack.rows("SELECT * FROM notes WHERE crn = $1", crn)) == 2
    assert isinstance(http, httpx.AsyncClient)
