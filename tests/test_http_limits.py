"""Limits on the HTTP surface through a real HTTP client against uvicorn: a body
over 1 MiB is refused before it is read whole, and a client guessing keys is slowed down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
import pytest_asyncio
from starlette.requests import Request

from settings import Settings, trusted_proxies
from starter.api import create_app
from starter.api.limits import AUTH_FAILURES, MAX_BODY_BYTES
from starter.clients import client_address
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


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


def test_the_client_is_the_socket_unless_a_trusted_proxy_names_it():
    proxies = trusted_proxies("10.0.0.0/8, 192.0.2.1")
    # No proxy trusted (the default): whatever the header says, the socket is the client.
    assert client_address(_request("10.0.0.5", "203.0.113.7"), ()) == "10.0.0.5"
    # From a trusted proxy: the right-most address that is not one of ours.
    assert client_address(_request("10.0.0.5", "203.0.113.7"), proxies) == "203.0.113.7"
    assert client_address(_request("192.0.2.1", "203.0.113.7, 10.1.2.3"), proxies) == "203.0.113.7"
    # What the client wrote itself, left of what our proxy appended, is never believed.
    assert client_address(_request("10.0.0.5", "198.51.100.1, 203.0.113.7"),
                          proxies) == "203.0.113.7"
    assert client_address(_request("10.0.0.5", "1.1.1.1", "203.0.113.7"),
                          proxies) == "203.0.113.7"
    # From anyone else the header is ignored; garbage in the chain stops the walk.
    assert client_address(_request("203.0.113.9", "10.0.0.7"), proxies) == "203.0.113.9"
    assert client_address(_request("10.0.0.5", "not-an-ip"), proxies) == "10.0.0.5"
    assert client_address(_request("10.0.0.5"), proxies) == "10.0.0.5"
    for bad in ("*", "proxy.example", "10.0.0.0/33"):
        with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS"):
            Settings.from_env({"FORWARDED_ALLOW_IPS": bad})
    assert Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.0.2.1"}
                             ).forwarded_allow_ips == ("10.0.0.0/8", "192.0.2.1/32")


async def test_behind_a_trusted_proxy_one_guesser_does_not_lock_out_everyone(
        local_stack: ComplaintStack):
    """The load balancer (here: this host, 127.0.0.1, named in FORWARDED_ALLOW_IPS) forwards
    every client: the guesser it names is slowed down, the next client it names is not.
    Without the setting the same guesses slow down everyone behind it (the test above)."""
    local_stack.settings = replace(local_stack.settings, forwarded_allow_ips=("127.0.0.1/32",))
    async with api_on(local_stack) as api:
        guesser = {"Authorization": "Bearer ck_0badbad0_guess",
                   "X-Forwarded-For": "203.0.113.7"}
        for _ in range(AUTH_FAILURES):
            assert (await api("GET", "/complaints", headers=guesser)).status_code == 401
        slowed = await api("GET", "/complaints", headers=guesser)
        assert slowed.status_code == 429
        someone = await api("GET", "/complaints", "sam",
                            headers={"X-Forwarded-For": "198.51.100.4"})
        assert someone.status_code == 200, someone.text
        # A guesser that writes another address in front of ours gains nothing.
        spoofed = await api("GET", "/complaints", headers={
            **guesser, "X-Forwarded-For": "198.51.100.4, 203.0.113.7"})
        assert spoofed.status_code == 429
    counted = await local_stack.rows("SELECT client, sum(failures) AS n FROM auth_failures "
                                     "GROUP BY client")
    assert [(r["client"], r["n"]) for r in counted] == [("203.0.113.7", AUTH_FAILURES)]
