"""Debian's Chromium for the browser tests, driven by Playwright (never Playwright's own
browser download): `browser` is the fixture, `chromium_path` finds it or skips (fails on CI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

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


AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1, from npm


async def sign_in(browser: Any, base: str, who: str, password: str,
                  bypass_csp: bool = False) -> Any:
    """A page signed in to the console as `who` (bypass_csp: so axe-core can be injected)."""
    context = await browser.new_context(base_url=base, bypass_csp=bypass_csp)
    page = await context.new_page()
    await page.goto("/console/")
    await page.get_by_label("Roster id or email").fill(who)
    await page.get_by_label("Password").fill(password)
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
