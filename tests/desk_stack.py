"""Helpers for the agent's desk tests (tests/test_desk.py): a console session and an API
key on the email channel's app, and the values a complaint page's action form carries."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from database.console_auth import set_password
from database.keys import create_key
from tests import browser as chromium
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



async def browser_sign_in(browser: Any, base: str, who: str, bypass_csp: bool = False) -> Any:
    """A page signed in as `who` with the test roster's password."""
    return await chromium.sign_in(browser, base, who, PASSWORDS[who], bypass_csp)
