"""The engineer's window decodes: in Debian's Chromium (Playwright), a member signed in to the
console opens an encrypted complaint in the Temporal UI as `make dev` serves it (the dev
server's UI behind devstack/uifront.py, started by the very command devstack runs) and
reads its input in clear; the UI's codec requests carry the console's cookie and answer
200. Without a session they answer 401 and the input stays ciphertext.

Its own dev server, with the UI on (the session's shared one has none), the product's worker
and API, PostgreSQL with the demo roster, payloads encrypted.
"""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import asyncpg
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from database.console_auth import set_password
from devstack.mailsink import MailSink
from devstack.stack import REPO_ROOT, ui_front_command
from settings.codec import new_key_spec, parse_keys
from starter.api import create_app
from tests import browser as chromium
from tests.api_stack import serving
from tests.conftest import ComplaintStack, _binary, _settings
from tests.console_stack import PASSWORDS, _hashed
from tests.encryption_stack import encrypted_client
from tests.faultstack import free_port
from workflows import search_attributes as sa
from workflows.policy import load_policy

DESCRIPTION = "The monthly export shows totals that do not match the dashboard."

browser = chromium.browser  # the fixture


@dataclass
class UiStack:
    stack: ComplaintStack
    api: str  # http://localhost:PORT, the console and the codec server
    ui: str  # http://localhost:PORT, the Temporal UI as make dev serves it


@pytest_asyncio.fixture
async def ui_stack(seeded: asyncpg.Pool, mail: MailSink,
                   database_url: str) -> AsyncIterator[UiStack]:
    api_port, ui_port, upstream_port = free_port(), free_port(), free_port()
    api, ui = f"http://localhost:{api_port}", f"http://localhost:{ui_port}"
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=_binary("temporal"),
        search_attributes=list(sa.ALL), dev_server_log_level="error", ui=True,
        ui_port=upstream_port,
        dev_server_extra_args=["--ui-codec-endpoint", f"{api}/console/codec"])
    front = subprocess.Popen(ui_front_command(ui_port, upstream_port), cwd=REPO_ROOT,  # noqa: S603
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        spec = new_key_spec("k1")
        stack = ComplaintStack(env, replace(_settings(mail, database_url),
                                            payload_keys=parse_keys(spec), public_url=api,
                                            temporal_ui_origin=ui),
                               seeded, mail, load_policy())
        stack.own_client = encrypted_client(stack, spec)
        async with seeded.acquire() as conn:
            for who in ("helen", "sam"):
                await set_password(conn, who, PASSWORDS[who], _hashed(PASSWORDS[who]))
        await _answers(f"{ui}/api/v1/settings", front)
        app = create_app(stack.settings, stack.client, stack.pool)
        async with stack.worker(), serving(app, port=api_port):
            yield UiStack(stack, api, ui)
        await stack.terminate_all()
    finally:
        front.terminate()
        front.wait(timeout=10)
        await env.shutdown()


async def _answers(url: str, proc: subprocess.Popen) -> None:
    for _ in range(200):
        assert proc.poll() is None, f"the UI front exited with {proc.returncode}"
        try:
            await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).close())
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered")


async def _open_input(page, ui: str, crn: str) -> list[int]:
    """The complaint's page in the UI; the statuses its codec requests got."""
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status)
            if "/console/codec/decode" in r.url else None)
    await page.goto(f"{ui}/namespaces/default/workflows/{crn}")
    await page.wait_for_function("() => document.body.innerText.includes('Input')",
                                 timeout=60_000)
    return statuses


async def test_a_signed_in_engineer_reads_a_complaint_decoded_in_the_temporal_ui(
        browser, ui_stack: UiStack):  # noqa: F811 # the fixture
    stack = ui_stack.stack
    crn = (await stack.submit()).crn
    await stack.until(crn, lambda s: bool(s.timeline))

    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{ui_stack.api}/console/")
    await page.get_by_label("Roster id or email").fill("helen")
    await page.get_by_label("Password").fill(PASSWORDS["helen"])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()

    statuses = await _open_input(page, ui_stack.ui, crn)
    await page.wait_for_function(f"() => document.body.innerText.includes({DESCRIPTION!r})",
                                 timeout=60_000)
    assert statuses and set(statuses) == {200}, statuses
    text = await page.inner_text("body")
    assert "Codec Server could not connect" not in text
    await context.close()

    # Nobody signed in: the same page's codec requests are refused and nothing decodes.
    anonymous = await browser.new_context()
    page = await anonymous.new_page()
    statuses = await _open_input(page, ui_stack.ui, crn)
    for _ in range(100):
        if statuses:
            break
        await asyncio.sleep(0.1)
    assert statuses and set(statuses) == {401}, statuses
    assert DESCRIPTION not in await page.inner_text("body")
    await anonymous.close()

