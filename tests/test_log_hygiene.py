"""A full complaint lifecycle, encrypted, with every log record captured: no
record holds an encryption key, an API key, the customer's address or name.

Time-skipping server, real PostgreSQL, real SMTP delivery, the product's worker, the HTTP
API for one action (its request logs included)."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import socket

import httpx
import pytest
import uvicorn

from mail.links import CustomerLinks
from settings.codec import new_key_spec
from settings.logs import CrnFilter, RedactLinks, formatter
from starter.api import create_app, server_config
from tests.conftest import ComplaintStack
from tests.encryption_stack import encrypted_client
from tests.scenarios import owner_of, plan_agreed, signed_off_and_reviewed, to_owner
from workflows import models as m

# The local SMTP sink (devstack/mailsink.py) and aiosmtpd's own server log exist to show a
# developer the mail the product sent, addresses included; they are not the product.
SINK_LOGGERS = ("devstack.mailsink", "mail.log")


async def test_a_full_lifecycle_logs_no_key_and_no_customer_address(
        stack: ComplaintStack, caplog: pytest.LogCaptureFixture):
    spec = new_key_spec("k1")
    stack.own_client = encrypted_client(stack, spec)
    key_material = spec.partition(":")[2]
    caplog.set_level(logging.DEBUG)
    async with stack.worker():
        crn = await to_owner(stack)
        owner = await owner_of(stack, crn)
        await plan_agreed(stack, crn, owner)
        await stack.act(crn, "escalate", m.EscalationRequest(
            actor="ana", reason="Jon Kite (kite@kite.example) asked for a manager"))
        await stack.act(crn, "record_fix_deployed", m.FixDeployed(actor="raj", reference="R-1"))
        await signed_off_and_reviewed(stack, crn, owner)
        await stack.until(crn, lambda s: s.phase == m.Phase.closed)
    product = [r for r in caplog.records if not r.name.startswith(SINK_LOGGERS)]
    assert any("email" in r.getMessage() for r in product), "the lifecycle logged nothing"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in product)
    for secret in (key_material, base64.b64decode(key_material).hex(),
                   "kite@kite.example", "Jon Kite"):
        assert secret not in text, f"{secret!r} appears in the logs"


async def test_customer_link_tokens_never_reach_the_access_log(
        local_stack: ComplaintStack, caplog: pytest.LogCaptureFixture):
    """`complaints serve`'s own uvicorn configuration, a real socket and real requests to
    customer links: the access log records the question and the status, never the token."""
    stack = local_stack
    links = CustomerLinks("a-link-secret-for-this-test-" + "x" * 16, "http://testserver")
    tokens = {q: links.token("CRN-WEB-LOG-1", q, "acknowledgement") for q in ("status", "survey")}
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(CrnFilter())
    handler.setFormatter(formatter("text"))
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    caplog.set_level(logging.INFO)
    app = create_app(stack.settings, stack.client, stack.pool)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(server_config(app, stack.settings, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for question, token in tokens.items():
                await http.get(f"/c/{question}/{token}?utm=x")
            await http.post(f"/c/survey/{tokens['survey']}", data={"score": "5"})
    finally:
        server.should_exit = True
        await task
        sock.close()
        access.removeHandler(handler)
    written = out.getvalue()
    assert written.count("/c/status/[redacted]") == 1, written
    assert written.count("/c/survey/[redacted]") == 2, written
    # The server's records (the test's own HTTP client logs its requests, client side).
    captured = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("uvicorn"))
    assert "/c/status/[redacted]" in captured
    for token in tokens.values():
        assert token not in written and token not in captured


def test_any_record_naming_a_customer_link_is_redacted():
    """The root handler's filter, for a logger other than uvicorn's (an error that quotes
    the URL, an HTTP client's request line)."""
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s",
                               ("GET", "http://x/c/agreement/eyJjIjoiQ1JOIn0.Z1.sig"), None)
    RedactLinks().filter(record)
    assert record.getMessage() == "HTTP Request: GET http://x/c/agreement/[redacted]"
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "see /c/status/abc.def and "
                              "/console/c/x", None, None)
    RedactLinks().filter(plain)
    assert plain.getMessage() == "see /c/status/[redacted] and /console/c/x"
