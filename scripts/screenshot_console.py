"""PNGs of the staff console (the queue, a complaint's page, the approvals page), taken in
headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM) driven by Playwright.

    printf '%s\\n' "$PW" | complaints staff set-password helen    # the queue and a complaint
    printf '%s\\n' "$PW" | complaints staff set-password fiona    # the approvals
    CONSOLE_PASSWORD="$PW" .venv/bin/python scripts/screenshot_console.py --crn CRN \\
        [--url http://localhost:8000] [--staff helen] [--finance fiona] [--out docs]

Run it against a running `make dev`. It writes console-queue.png, console-complaint.png
and console-approvals.png into --out (docs/ by default, where the README shows them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path

from playwright.async_api import async_playwright

REPO_ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


async def signed_in(browser, url: str, who: str, password: str):
    page = await (await browser.new_context(base_url=url, viewport={"width": 1400,
                                                                    "height": 1000})).new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("Roster id or email").fill(who)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()
    return page


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PUBLIC_URL", "http://localhost:8000"))
    parser.add_argument("--crn", required=True, help="the complaint whose page to take")
    parser.add_argument("--staff", default="helen", help="who takes the queue and complaint")
    parser.add_argument("--finance", default="fiona", help="who takes the approvals page")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    args = parser.parse_args()
    password = os.environ.get("CONSOLE_PASSWORD")
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not password or not chromium:
        print("set CONSOLE_PASSWORD, and install chromium (apt-get install -y chromium)",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=ARGS)
        page = await signed_in(browser, args.url, args.staff, password)
        await page.get_by_role("link", name=args.crn).wait_for()
        await page.wait_for_timeout(1200)  # the countdowns have ticked
        await page.screenshot(path=args.out / "console-queue.png", full_page=True)
        await page.goto(f"/console/complaints/{args.crn}")
        await page.wait_for_timeout(1200)
        await page.screenshot(path=args.out / "console-complaint.png", full_page=True)
        page = await signed_in(browser, args.url, args.finance, password)
        await page.goto("/console/approvals")
        await page.wait_for_timeout(1200)
        await page.screenshot(path=args.out / "console-approvals.png", full_page=True)
        await browser.close()
    for name in ("queue", "complaint", "approvals"):
        print(args.out / f"console-{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
