"""Helpers for the agent's desk tests (tests/test_desk.py): a console session and an API
key on the email channel's app, and the values a complaint page's action form carries."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from database.console_auth import set_password
from database.keys import create_key
from tests.console_stack import PASSWORDS, Console, _hashed, signed_in
from tests.mail_channel import Channel


@asynccontextmanager
async def console_session(channel: Channel, who: str) -> AsyncIterator[httpx.AsyncClient]:
    """`who` signed in to the console the email channel's app serves."""
    async with channel.stack.pool.acquire() as conn:
        await set_password(conn, who, PASSWORDS[who], _hashed(PASSWORDS[who]))
    async with signed_in(Console(channel.base, channel.stack), who) as http:
        yield http


async def api_key(channel: Channel, who: str) -> dict[str, str]:
    async with channel.stack.pool.acquire() as conn:
        _, key = await create_key(conn, staff_id=who, replace=True)
    return {"Authorization": f"Bearer {key}"}


def form_values(page: str, update: str) -> dict[str, str]:
    """The hidden fields of the page's form for `update` (csrf_token, seen, update_id)."""
    found = re.search(rf'action="[^"]*/actions/{update}"(.*?)</form>', page, re.S)
    assert found, f"no {update} form on the page"
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', found.group(1))}


# --- in the browser (tests/test_desk_browser.py) -----------------------------------------

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1, from npm


async def browser_sign_in(browser: Any, base: str, who: str, bypass_csp: bool = False) -> Any:
    """A page signed in as `who` (bypass_csp: so that axe-core can be injected)."""
    context = await browser.new_context(base_url=base, bypass_csp=bypass_csp)
    page = await context.new_page()
    await page.goto("/console/")
    await page.get_by_label("Roster id or email").fill(who)
    await page.get_by_label("Password").fill(PASSWORDS[who])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()
    return page


async def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("() => axe.run(document)")
    assert result["passes"], "axe checked nothing"
    return [f"{v['id']} ({v['impact']}): {v['help']} -- "
            + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
