"""Debian's Chromium for the browser tests, driven by Playwright (never Playwright's own
browser download): `browser` is the fixture, `chromium_path` finds it or skips (fails on CI)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

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
