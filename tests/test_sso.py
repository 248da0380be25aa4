"""Single sign-on for the console through the real parts, in Chromium: a real OpenID
provider (oidc-provider from the npm registry, on loopback: tests/oidc_provider.py) with its
own login and consent pages; the app on the Temporal dev server with PostgreSQL and the
demo roster; passwords switched off (CONSOLE_PASSWORDS=off).

A roster member signs in at the provider and lands in the console with the role the roster
gives them; someone the roster does not know, or who is unavailable, is refused with a page
that says so and gets no session; signing out ends the console session and the provider's.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio

from database.console_auth import member_named_by, set_password
from settings import Settings
from starter.api import create_app
from tests import browser as chromium
from tests.api_stack import serving
from tests.conftest import ComplaintStack
from tests.faultstack import free_port
from tests.oidc_provider import OpenIdProvider, oidc_provider

browser = chromium.browser  # the fixture
PASSWORD = "ana-console-secret-1"
# The provider's people: login -> the claims it gives. Helen's address differs from the
# roster's in case only; Mallory is nobody the roster knows; Ben is on it but unavailable.
ACCOUNTS = {
    "helen.park": {"email": "Helen@Example.com", "email_verified": True},
    "mallory": {"email": "mallory@elsewhere.example", "email_verified": True},
    "ben.okafor": {"email": "ben@example.com", "email_verified": True},
}


@dataclass
class SsoConsole:
    base: str
    provider: OpenIdProvider
    stack: ComplaintStack


@pytest_asyncio.fixture
async def sso(local_stack: ComplaintStack) -> AsyncIterator[SsoConsole]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with oidc_provider(base, ACCOUNTS) as provider:
        local_stack.settings = replace(
            local_stack.settings, public_url=base, oidc_issuer=provider.issuer,
            oidc_client_id=provider.client_id, oidc_client_secret=provider.client_secret,
            oidc_roster_claim="email", console_passwords=False)
        app = create_app(local_stack.settings, local_stack.client, local_stack.pool)
        async with local_stack.worker(), serving(app, port=port):
            yield SsoConsole(base, provider, local_stack)


async def at_the_provider(page, sso: SsoConsole, login: str) -> None:
    """The provider's own login page, then its consent page."""
    await page.wait_for_url(f"{sso.provider.issuer}/**")
    await page.locator("input[name=login]").fill(login)
    await page.locator("input[name=password]").fill("any password: a development login")
    await page.get_by_role("button", name="Sign-in").click()
    await page.get_by_role("button", name="Continue").click()  # consent


async def loopback_only(route) -> None:
    """The provider's pages link a web font: nothing leaves this machine."""
    host = urlsplit(route.request.url).hostname
    await (route.continue_() if host in ("127.0.0.1", "localhost") else route.abort())


async def start(browser, sso: SsoConsole):
    context = await browser.new_context(base_url=sso.base)
    await context.route("**/*", loopback_only)
    page = await context.new_page()
    await page.goto("/console/")
    assert page.url == f"{sso.base}/console/sign-in?next=/console/"
    assert await page.get_by_label("Password").count() == 0  # passwords are off
    await page.get_by_role("link", name="Sign in with your company account").click()
    return context, page


async def open_sessions(stack: ComplaintStack, staff_id: str) -> int:
    return len(await stack.rows("SELECT 1 FROM console_sessions WHERE staff_id = $1 "
                                "AND ended_at IS NULL", staff_id))


async def test_a_roster_member_signs_in_with_their_role_and_signing_out_ends_both_sessions(
        browser, sso: SsoConsole):
    context, page = await start(browser, sso)
    await at_the_provider(page, sso, "helen.park")
    # Back in the console as the roster's Helen: head of customer success, everything in view.
    await page.get_by_role("heading", name="All open complaints").wait_for()
    assert page.url == f"{sso.base}/console/"
    assert "Helen Park (helen, head of cs)" in await page.locator(".who").inner_text()
    await page.get_by_role("link", name="Reports").click()
    await page.get_by_role("heading", name="Reports").wait_for()
    assert await open_sessions(sso.stack, "helen") == 1
    cookie = next(c for c in await context.cookies() if c["name"] == "console_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # Signing out: the console's session ends, then the provider's (its own page asks).
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{sso.provider.issuer}/**")
    await page.get_by_role("button", name="Yes, sign me out").click()
    await page.wait_for_url(f"{sso.base}/console/sign-in?signed_out=1")
    assert "You are signed out" in await page.get_by_role("status").inner_text()
    assert await open_sessions(sso.stack, "helen") == 0
    await page.goto("/console/reports")
    assert page.url.startswith(f"{sso.base}/console/sign-in")
    # The provider forgot her too: signing in again asks for her login.
    await page.get_by_role("link", name="Sign in with your company account").click()
    await page.wait_for_url(f"{sso.provider.issuer}/**")
    await page.locator("input[name=login]").wait_for()
    await context.close()


async def test_someone_the_roster_does_not_know_or_unavailable_is_refused(
        browser, sso: SsoConsole):
    context, page = await start(browser, sso)
    await at_the_provider(page, sso, "mallory")
    await page.get_by_role("heading", name="You cannot use the staff console").wait_for()
    refusal = await page.get_by_role("alert").inner_text()
    assert "mallory@elsewhere.example" in refusal
    assert "is not an available member of the complaints roster" in refusal
    assert await page.get_by_role("button", name="Sign out").count() == 0
    assert not [c for c in await context.cookies() if c["name"] == "console_session"]
    await page.goto("/console/")
    assert page.url.startswith(f"{sso.base}/console/sign-in")
    await context.close()

    async with sso.stack.pool.acquire() as conn:
        await conn.execute("UPDATE staff SET available = false WHERE id = 'ben'")
    context, page = await start(browser, sso)
    await at_the_provider(page, sso, "ben.okafor")
    refusal = await page.get_by_role("alert").inner_text()
    assert "ben@example.com" in refusal and "available member" in refusal
    assert await open_sessions(sso.stack, "ben") == 0
    await context.close()


async def test_passwords_off_refuses_a_password_and_on_they_stay_beside_the_provider(
        sso: SsoConsole):
    stack = sso.stack
    async with stack.pool.acquire() as conn:
        await set_password(conn, "ana", PASSWORD)
    async with httpx.AsyncClient(base_url=sso.base, timeout=30) as http:
        page = await http.get("/console/sign-in")
        assert "Sign in with your company account" in page.text
        assert 'name="password"' not in page.text
        # The console's pages may send a form on to the provider (its sign-out), nowhere else.
        assert f"form-action 'self' {sso.provider.issuer}" in page.headers[
            "Content-Security-Policy"]
        refused = await http.post("/console/sign-in", data={
            "login": "ana", "password": PASSWORD, "sign_in_token": "x"})
        assert refused.status_code == 403 and "switched off" in refused.text
        assert await open_sessions(stack, "ana") == 0
        # A callback this browser did not start, or with another sign-in's state: refused.
        stray = await http.get("/console/sign-in/oidc/callback",
                               params={"code": "c", "state": "s"})
        assert stray.status_code == 400 and "started in another browser" in stray.text
        leaving = await http.get("/console/sign-in/oidc", params={"next": "/console/reports"})
        assert leaving.status_code == 303
        assert leaving.headers["location"].startswith(f"{sso.provider.issuer}/auth?")
        for part in ("code_challenge_method=S256", "code_challenge=", "nonce=", "state=",
                     "scope=openid+email+profile", f"client_id={sso.provider.client_id}"):
            assert part in leaving.headers["location"], part
        forged = await http.get("/console/sign-in/oidc/callback",
                                params={"code": "c", "state": "not-the-one-it-sent"})
        assert forged.status_code == 400 and "does not belong" in forged.text
        assert not [c for c in http.cookies.jar if c.name == "console_session"]
    # Passwords on (the default): the form is there beside the provider's button, and works.
    settings = replace(stack.settings, console_passwords=True)
    port = free_port()
    app = create_app(settings, stack.client, stack.pool)
    async with serving(app, port=port) as base, httpx.AsyncClient(base_url=base) as http:
        page = await http.get("/console/sign-in")
        assert "Sign in with your company account" in page.text
        token = re.search(r'name="sign_in_token" value="([^"]+)"', page.text)
        assert token is not None
        done = await http.post("/console/sign-in", data={
            "login": "ana", "password": PASSWORD, "next": "/console/",
            "sign_in_token": html.unescape(token.group(1))})
        assert done.status_code == 303 and done.headers["location"] == "/console/"
        assert await open_sessions(stack, "ana") == 1


def test_single_sign_on_settings_are_checked_together():
    base = {"LINK_SECRET": ""}
    assert Settings.from_env(base).oidc_issuer is None
    assert Settings.from_env(base).console_passwords
    sso = Settings.from_env({**base, "OIDC_ISSUER": "https://id.example.com/",
                             "OIDC_CLIENT_ID": "console", "OIDC_CLIENT_SECRET": "the-client-secret",
                             "OIDC_ROSTER_CLAIM": "preferred_username",
                             "CONSOLE_PASSWORDS": "off"})
    assert (sso.oidc_issuer, sso.oidc_client_id, sso.oidc_roster_claim,
            sso.console_passwords) == ("https://id.example.com", "console",
                                       "preferred_username", False)
    assert sso.oidc_client_secret == "the-client-secret"
    assert "the-client-secret" not in repr(sso)  # never in a log line
    for env, says in (({"CONSOLE_PASSWORDS": "off"}, "needs OIDC_ISSUER"),
                      ({"OIDC_ISSUER": "https://id.example.com"}, "needs OIDC_CLIENT_ID"),
                      ({"OIDC_ISSUER": "http://id.example.com", "OIDC_CLIENT_ID": "c"},
                       "must be an https URL")):
        with pytest.raises(ValueError, match=says):
            Settings.from_env({**base, **env})


async def test_the_claim_names_a_roster_member_by_email_or_by_id_as_configured(
        seeded: asyncpg.Pool):
    async def named(value: str, email_only: bool) -> str | None:
        member = await member_named_by(seeded, value, email_only)
        return member.id if member else None

    assert await named(" HELEN@Example.com ", email_only=True) == "helen"
    assert await named("helen", email_only=True) is None  # an email claim is an email
    assert await named("Helen", email_only=False) == "helen"  # e.g. preferred_username
    assert await named("helen@example.com", email_only=False) == "helen"
    assert await named("", email_only=False) is None
    async with seeded.acquire() as conn:
        await conn.execute("UPDATE staff SET available = false WHERE id = 'helen'")
    assert await named("helen@example.com", email_only=True) is None
