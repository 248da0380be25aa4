"""Debian's Chromium for the browser tests, driven by Playwright (never Playwright's own
browser download): `browser` is the fixture, `chromium_path` finds it or skips (fails on CI);
`sign_in` opens the console as a roster member, `axe_serious` runs axe-core on a page."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.console_stack import PASSWORDS, Console

AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1, from npm
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MISSING = ("the browser tests need Debian's chromium: run `apt-get update && apt-get install "
           "-y chromium` as root (never Playwright's own browser download)")


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return path


@pytest_asyncio.fixture
async def browser() -> AsyncIterator:
    path = chromium_path()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def sign_in(browser, console: Console, who: str, bypass_csp: bool = False):
    context = await browser.new_context(base_url=console.base, bypass_csp=bypass_csp)
    page = await context.new_page()
    await page.goto("/console/")
    await page.get_by_label("Roster id or email").fill(who)
    await page.get_by_label("Password").fill(PASSWORDS[who])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()
    return page


async def axe_serious(page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("() => axe.run(document)")
    assert result["passes"], "axe checked nothing"
    return [f"{v['id']} ({v['impact']}): {v['help']} -- "
            + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]
