"""The email channel's test harness: the real mail gateway on a socket, the product's worker
on the time-skipping server, the customer pages served by the real app, and the emails a
test sends (tests/test_email_channel.py, tests/test_mail_trust.py)."""

from __future__ import annotations

import asyncio
import re
import smtplib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest_asyncio

from starter.api import create_app
from starter.mailgateway import InboundHandler, serve_smtp
from tests.api_stack import serving
from tests.conftest import ComplaintStack, text_of
from tests.faultstack import free_port
from workflows.models import complaint_reference

SUPPORT = "support@example.com"
SECRET = "test-link-secret-" + "x" * 20
KITE = "kite@kite.example"  # cust-kite in the demo seed


def email(sender: str = "Jon Kite <Kite@Kite.Example>", subject: str = "Export shows wrong totals",
          body: str = "The monthly export shows totals that do not match the dashboard.",
          **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, SUPPORT, subject
    msg["Message-ID"] = headers.pop("Message_ID", None) or make_msgid(domain="kite.example")
    msg.set_content(body)  # (it drops any Content-* header set before it)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


@dataclass
class Channel:
    stack: ComplaintStack
    handler: InboundHandler
    smtp_port: int
    base: str  # the customer pages' server

    def send(self, msg: EmailMessage | bytes, envelope_from: str = KITE,
             to: str = SUPPORT) -> dict[str, Any]:
        """Deliver over SMTP as a mail server would; returns smtplib's refusals ({} if none)."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            if isinstance(msg, bytes):
                return smtp.sendmail(envelope_from, [to], msg)
            return smtp.send_message(msg, from_addr=envelope_from, to_addrs=[to])

    async def deliver(self, msg: EmailMessage | bytes, envelope_from: str = KITE) -> str:
        """Send, then wait until the gateway's workflow has processed it; its outcome."""
        await asyncio.to_thread(self.send, msg, envelope_from)
        message_id = (msg["Message-ID"] if isinstance(msg, EmailMessage)
                      else mailbox_id(msg))
        row = await self.processed(message_id)
        if row["crn"]:
            self.stack.started.append(row["crn"])
        return row["outcome"]

    async def processed(self, message_id: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.stack.rows("SELECT * FROM inbound_messages WHERE message_id = $1",
                                         message_id)
            if rows and rows[0]["processed_at"] is not None:
                return rows[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"{message_id} was never processed: {rows}")
            await asyncio.sleep(0.1)

    def link(self, mail: EmailMessage, question: str) -> str:
        found = re.search(rf"{re.escape(self.base)}/c/{question}/[\w.\-]+", text_of(mail))
        assert found, f"no {question} link in:\n{text_of(mail)}"
        return found.group(0)


def mailbox_id(raw: bytes) -> str:
    from mail.parsing import message_id_of
    return message_id_of(raw)


def h(mail: EmailMessage, name: str) -> str:
    """A header as the sink read it, without its folding whitespace."""
    return " ".join(str(mail[name] or "").split())


@asynccontextmanager
async def gateway(stack: ComplaintStack, pool: Any) -> AsyncIterator[tuple[InboundHandler, int]]:
    port = free_port()
    handler = InboundHandler(stack.settings, pool, stack.client)
    server = await serve_smtp(handler, "127.0.0.1", port)
    try:
        yield handler, port
    finally:
        server.close()
        await server.wait_closed()


@pytest_asyncio.fixture
async def channel(stack: ComplaintStack) -> AsyncIterator[Channel]:
    api_port = free_port()
    stack.settings = replace(stack.settings, link_secret=SECRET, support_address=SUPPORT,
                             public_url=f"http://127.0.0.1:{api_port}",
                             inbound_max_bytes=200_000,
                             # Its limits are tested in tests/test_mail_trust.py.
                             inbound_rate_per_ip=10_000, inbound_rate_per_sender=10_000,
                             inbound_unknown_sender_per_hour=10_000)
    app = create_app(stack.settings, stack.client, stack.pool)
    async with gateway(stack, stack.pool) as (handler, port), stack.worker():
        async with serving(app, port=api_port) as base:
            yield Channel(stack, handler, port, base)


async def new_complaint(channel: Channel, **kwargs: Any) -> tuple[str, EmailMessage, EmailMessage]:
    """A complaint by email; returns its CRN, the message and the acknowledgement."""
    msg = email(**kwargs)
    assert await channel.deliver(msg) == "new_complaint"
    crn = complaint_reference("email", msg["Message-ID"])
    ack = await channel.stack.mail_for(crn, "acknowledgement")
    return crn, msg, ack


def reply_to(ours: EmailMessage, body: str, sender: str = "Jon Kite <kite@kite.example>",
             **headers: str) -> EmailMessage:
    return email(sender=sender, subject="Re: " + h(ours, "Subject"), body=body,
                 In_Reply_To=h(ours, "Message-ID"), References=h(ours, "Message-ID"), **headers)
