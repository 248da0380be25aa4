"""The staff console served for a test: the product's worker and `create_app` (API and
console) on a real socket, on the Temporal dev server and a fresh PostgreSQL database with
the demo roster, every member with a console password. Shared by the page tests
(test_console.py, httpx) and the browser tests (test_console_browser.py, Playwright)."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from database.console_auth import hash_password, set_password
from starter.api import create_app
from tests.api_stack import STAFF, serving
from tests.conftest import ComplaintStack

PASSWORDS = {staff_id: f"{staff_id}-console-secret-1" for staff_id in STAFF}
TOKEN = re.compile(r'name="(csrf_token|sign_in_token)" value="([^"]+)"')


@functools.cache
def _hashed(password: str) -> str:
    return hash_password(password)  # argon2id is slow by design: once per test session


@dataclass
class Console:
    base: str
    stack: ComplaintStack


async def passwords_set(stack: ComplaintStack) -> None:
    """Everyone on the demo roster may sign in to the console (PASSWORDS)."""
    async with stack.pool.acquire() as conn:
        for staff_id, password in PASSWORDS.items():
            await set_password(conn, staff_id, password, _hashed(password))


@asynccontextmanager
async def console_on(stack: ComplaintStack) -> AsyncIterator[Console]:
    await passwords_set(stack)
    app = create_app(stack.settings, stack.client, stack.pool)
    async with stack.worker(), serving(app) as base:
        yield Console(base, stack)


def token(page: str, name: str = "csrf_token") -> str:
    found = dict(TOKEN.findall(page))
    assert name in found, f"no {name} on the page"
    return html.unescape(found[name])


@asynccontextmanager
async def signed_in(console: Console, who: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with `who`'s console session (follows no redirects)."""
    async with httpx.AsyncClient(base_url=console.base, timeout=60) as http:
        form = await http.get("/console/sign-in")
        done = await http.post("/console/sign-in", data={
            "login": who, "password": PASSWORDS[who], "next": "/console/",
            "sign_in_token": token(form.text, "sign_in_token")})
        assert done.status_code == 303, done.text
        yield http
