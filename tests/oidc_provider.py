"""A real OpenID provider on loopback for the single sign-on tests: panva's `oidc-provider`
from the npm registry (tests/oidc/package.json, its lock file), run by the machine's Node.js.

`npm ci` installs it into .dev/oidc (not committed) the first time, and again whenever the
lock file changes; then `node provider.mjs` serves it on a free port until the test ends.
Without node or npm the tests skip (and fail under CI=true), like the browser tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess  # nosec B404 # node and npm, with fixed arguments
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faultstack import free_port

SOURCE = Path(__file__).parent / "oidc"
INSTALL = Path(__file__).resolve().parent.parent / ".dev" / "oidc"
FILES = ("package.json", "package-lock.json", "provider.mjs")
MISSING = ("the single sign-on tests need Node.js 20+ and npm (`apt-get install -y nodejs "
           "npm`): they run the npm registry's oidc-provider")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return path


def installed() -> Path:
    """.dev/oidc with oidc-provider installed from the lock file (npm ci when it changed)."""
    node, npm = _tool("node"), _tool("npm")
    INSTALL.mkdir(parents=True, exist_ok=True)
    lock = (SOURCE / "package-lock.json").read_bytes()
    stamp = INSTALL / "node_modules" / ".installed-lock"
    for name in FILES:
        shutil.copyfile(SOURCE / name, INSTALL / name)
    if not stamp.exists() or stamp.read_bytes() != lock:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # nosec B603
                       cwd=INSTALL, check=True, timeout=600)
        stamp.write_bytes(lock)
    assert node
    return INSTALL


@dataclass
class OpenIdProvider:
    issuer: str
    client_id: str
    client_secret: str


@asynccontextmanager
async def oidc_provider(console_base: str, accounts: dict[str, dict[str, Any]],
                        client_id: str = "complaints-console",
                        client_secret: str = "test-oidc-client-secret-0123456789"
                        ) -> AsyncIterator[OpenIdProvider]:
    """oidc-provider on a free loopback port, with the console (at `console_base`) as its
    one client; `accounts`: login -> the claims the provider gives that person."""
    where = await asyncio.to_thread(installed)
    port = free_port()
    env = {**os.environ, "OIDC_PORT": str(port), "OIDC_CLIENT_ID": client_id,
           "OIDC_CLIENT_SECRET": client_secret,
           "OIDC_REDIRECT_URI": f"{console_base}/console/sign-in/oidc/callback",
           "OIDC_POST_LOGOUT_URI": f"{console_base}/console/sign-in/oidc/signed-out",
           "OIDC_ACCOUNTS": json.dumps(accounts), "NODE_ENV": "test"}
    log = (where / f"provider-{port}.log").open("wb")
    process = subprocess.Popen([_tool("node"), "provider.mjs"], cwd=where, env=env,  # nosec B603
                               stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                if process.poll() is not None:
                    output = (where / f"provider-{port}.log").read_text(errors="replace")
                    raise AssertionError(f"oidc-provider exited: {output}")
                try:
                    if (await http.get(f"{issuer}/.well-known/openid-configuration")).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError("oidc-provider did not start within 30 s")
                await asyncio.sleep(0.2)
        yield OpenIdProvider(issuer, client_id, client_secret)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        (where / f"provider-{port}.log").unlink(missing_ok=True)
