"""The mail gateway under faults, through real processes (`make faults`): the gateway
SIGKILLed after its 250 and before it started processing, and PostgreSQL down while mail
arrives. Every message is processed exactly once afterwards: one complaint, one
acknowledgement each."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from tests import faultstack
from tests.faultstack import Scenario, WorkerProcess, eventually, fetch, free_port
from workflows.models import complaint_reference

# The fault tests' stack (Temporal dev server, PostgreSQL, SMTP sink) and per-test scenario.
faults, scenario = faultstack.faults, faultstack.scenario

pytestmark = pytest.mark.faults
SUPPORT = "support@example.com"


def complaint_mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Jon Kite <kite@kite.example>", SUPPORT
    msg["Subject"], msg["Message-ID"] = f"Totals wrong ({n})", make_msgid(domain="kite.example")
    msg.set_content(f"Complaint number {n}: the export totals are wrong.")
    return msg


def send(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as smtp:
        smtp.send_message(msg, from_addr="kite@kite.example", to_addrs=[SUPPORT])


def gateway(sc: Scenario, port: int, name: str, **env: str) -> WorkerProcess:
    process = WorkerProcess(sc.env | {"INBOUND_SMTP_PORT": str(port)} | env,
                            sc.stack.root / f"{name}.log", args=("-m", "starter.cli", "mail-gateway"))
    process.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if not process.alive() or time.monotonic() > deadline:
                raise AssertionError(f"the gateway did not start:\n{process.tail()}") from None
            time.sleep(0.2)


async def processed_once(sc: Scenario, messages: list[EmailMessage]) -> None:
    async def all_processed() -> bool | None:
        rows = await fetch(sc.database_url, "SELECT * FROM inbound_messages")
        return (len(rows) == len(messages) and all(r["processed_at"] for r in rows)) or None

    await eventually(all_processed, 90, "every stored message processed")
    for msg in messages:
        crn = complaint_reference("email", msg["Message-ID"])
        sc.crns.append(crn)
        await sc.until(crn, lambda s: s.deadline("automatic_acknowledgement").met_at is not None)
    await asyncio.sleep(2)  # time for anything doubled to show
    acks = [m for m in sc.mails() if m["X-Complaint-Message-Kind"] == "acknowledgement"]
    assert sorted(m["X-Complaint-Reference"] for m in acks) == sorted(sc.crns)
    rows = await fetch(sc.database_url, "SELECT outcome, count(*) AS n FROM inbound_messages "
                                        "GROUP BY outcome")
    assert {r["outcome"]: r["n"] for r in rows} == {"new_complaint": len(messages)}


async def test_gateway_killed_after_250_before_processing(scenario: Scenario):
    port = free_port()
    # Temporal unreachable from this gateway: it stores and answers 250, starts nothing.
    first = gateway(scenario, port, "gateway-1", TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    messages = [complaint_mail(n) for n in range(3)]
    for msg in messages:
        await asyncio.to_thread(send, port, msg)  # each answered 250
    stored = await fetch(scenario.database_url, "SELECT started_at FROM inbound_messages")
    assert len(stored) == 3 and all(r["started_at"] is None for r in stored)
    first.kill()
    second = gateway(scenario, port, "gateway-2")  # its sweep at start finds them
    try:
        await processed_once(scenario, messages)
    finally:
        second.stop()


async def test_postgres_down_while_mail_arrives(scenario: Scenario):
    port = free_port()
    process = gateway(scenario, port, "gateway")
    try:
        msg = complaint_mail(1)
        scenario.stack.postgres.stop()
        try:
            with pytest.raises(smtplib.SMTPDataError) as temporary:
                await asyncio.to_thread(send, port, msg)
            assert temporary.value.smtp_code == 451  # the sending server keeps it, retries
        finally:
            scenario.stack.postgres.start()
        await asyncio.to_thread(send, port, msg)  # its retry
        await asyncio.to_thread(send, port, msg)  # and a duplicate delivery
        await processed_once(scenario, [msg])
    finally:
        process.stop()
