"""A full complaint lifecycle, encrypted, with every log record captured: no
record holds an encryption key, an API key, the customer's address or name.

Time-skipping server, real PostgreSQL, real SMTP delivery, the product's worker, the HTTP
API for one action (its request logs included)."""

from __future__ import annotations

import base64
import logging

import pytest

from settings.codec import new_key_spec
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
