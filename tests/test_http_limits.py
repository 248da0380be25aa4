"""Limits on the HTTP surface (issue 16) through a real HTTP client against uvicorn: a body
over 1 MiB is refused before it is read whole, and a client guessing keys is slowed down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from starter.api.limits import AUTH_FAILURES, MAX_BODY_BYTES
from tests.conftest import ComplaintStack
from tests.test_api import Api, api_on
from workflows.models import complaint_reference


@pytest_asyncio.fixture
async def api(local_stack: ComplaintStack) -> AsyncIterator[Api]:
    """A fresh app each test, so each starts with no failed authentication counted."""
    async with api_on(local_stack) as served:
        yield served


async def test_a_body_over_1_mib_gets_413_and_starts_nothing(api: Api):
    big = {"source": "web", "external_ref": "big", "customer": {"id": "cust-kite"},
           "subject": "x", "description": "x" * (MAX_BODY_BYTES + 1)}
    refused = await api("POST", "/complaints", "intake", json=big)
    assert refused.status_code == 413 and refused.json()["error"] == "too_large"

    async def chunks():  # no Content-Length: counted as it streams
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    streamed = await api("POST", "/complaints", "intake", content=chunks(),
                         headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and "1024 KiB" in streamed.json()["message"], streamed.text
    crn = complaint_reference("web", "big")
    assert (await api("GET", f"/complaints/{crn}", "ana")).status_code == 404


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(api: Api):
    """Content-Length alone decides: the server answers without waiting for the body."""
    host, port = api.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST /complaints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {MAX_BODY_BYTES * 50}\r\n\r\n".encode())
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 413")
    writer.close()


async def test_repeated_failed_authentication_gets_429_with_retry_after(api: Api):
    for _ in range(AUTH_FAILURES):
        response = await api("GET", "/complaints",
                             headers={"Authorization": "Bearer ck_0badbad0_guess"})
        assert response.status_code == 401
    slowed = await api("GET", "/complaints", headers={"Authorization": "Bearer ck_0badbad0_guess"})
    assert slowed.status_code == 429 and slowed.json()["error"] == "too_many_requests"
    assert 1 <= int(slowed.headers["Retry-After"]) <= 60
    # Even a good key waits: the guesser cannot tell a hit while it is slowed down.
    good = await api("GET", "/complaints", "sam")
    assert good.status_code == 429
