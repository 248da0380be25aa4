"""Limits on the HTTP surface through a real HTTP client against uvicorn: a body
over 1 MiB is refused before it is read whole, and a client guessing keys is slowed down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from starter.api import create_app
from starter.api.limits import AUTH_FAILURES, MAX_BODY_BYTES
from tests.api_stack import Api, api_on, serving
from tests.conftest import ComplaintStack
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


async def test_the_failure_count_is_shared_by_every_api_process(api: Api):
    """Two apps on the same PostgreSQL (two `serve` processes behind a load balancer): the
    failures a guesser spreads over both add up, and both refuse it."""
    other = create_app(api.stack.settings, api.stack.client, api.stack.pool)
    async with serving(other) as base, httpx.AsyncClient(base_url=base, timeout=60) as second:
        bad = {"Authorization": "Bearer ck_0badbad0_guess"}
        for i in range(AUTH_FAILURES):
            if i % 2:
                response = await second.get("/complaints", headers=bad)
            else:
                response = await api("GET", "/complaints", headers=bad)
            assert response.status_code == 401
        for response in (await second.get("/complaints", headers=bad),
                         await api("GET", "/complaints", "sam")):
            assert response.status_code == 429
            assert 1 <= int(response.headers["Retry-After"]) <= 60
    counted = await api.stack.rows("SELECT sum(failures) AS n FROM auth_failures "
                                   "WHERE client = '127.0.0.1'")
    assert counted[0]["n"] == AUTH_FAILURES


async def test_failures_leave_the_count_a_minute_later(api: Api):
    """A moving minute on PostgreSQL's clock: failures 57 s old still count (and say when
    they stop), 61 s old they do not. (Three seconds' margin: a loaded machine may take a
    second or two between the insert and the request.)"""
    async with api.stack.pool.acquire() as conn:
        await conn.execute("INSERT INTO auth_failures (client, second, failures) VALUES "
                           "('127.0.0.1', date_trunc('second', now()) - interval '57 seconds', "
                           "$1)", AUTH_FAILURES)
    slowed = await api("GET", "/complaints", "sam")
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) in (1, 2, 3, 4)
    async with api.stack.pool.acquire() as conn:
        await conn.execute("UPDATE auth_failures SET second = second - interval '4 seconds'")
    assert (await api("GET", "/complaints", "sam")).status_code == 200
