"""Intake under load: when Temporal slows down, the mail gateway answers `451 4.3.2` once its
bounded backlog is full and `POST /complaints` answers `503` with `Retry-After`; what was
accepted is processed when Temporal is back, and what was refused is accepted on the retry.
Nothing is lost and nothing is doubled.

Temporal "slowing down" is a start that waits on a gate the test opens (the real start
follows), so the backlog's bound is reached deterministically; everything else is real: the
gateway on a socket spoken to with smtplib, the API on a socket, the worker, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import replace
from typing import Any

import pytest

import starter.api.intake as api_intake
import starter.mailgateway as mailgateway
from tests.api_stack import api_on
from tests.conftest import ComplaintStack, intake
from tests.mail_channel import KITE, SUPPORT, email, gateway
from workflows.models import complaint_reference


def slowed(original: Any, gate: asyncio.Event, waiting: list[str]) -> Any:
    async def slow(*args: Any, **kwargs: Any) -> Any:
        waiting.append(str(args[-1]) if args else "")
        await gate.wait()
        return await original(*args, **kwargs)
    return slow


def send(port: int, msg: Any) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        return smtp.send_message(msg, from_addr=KITE, to_addrs=[SUPPORT])


async def test_a_full_backlog_answers_451_and_every_message_is_processed_later(
        stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch):
    stack.settings = replace(stack.settings, support_address=SUPPORT, inbound_max_backlog=2,
                             inbound_rate_per_ip=10_000, inbound_rate_per_sender=10_000,
                             inbound_unknown_sender_per_hour=10_000)
    gate, waiting = asyncio.Event(), list[str]()
    monkeypatch.setattr(mailgateway, "start_inbound",
                        slowed(mailgateway.start_inbound, gate, waiting))
    messages = [email(subject=f"Outage {k}", body=f"Nothing loads ({k}).") for k in range(3)]
    async with gateway(stack, stack.pool) as (handler, port), stack.worker():
        for msg in messages[:2]:
            assert await asyncio.to_thread(send, port, msg) == {}  # 250: stored
        assert handler.backlog == 2 and len(waiting) == 2
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await asyncio.to_thread(send, port, messages[2])
        assert refused.value.smtp_code == 451
        assert b"4.3.2" in refused.value.smtp_error and b"try again later" in refused.value.smtp_error
        rows = await stack.rows("SELECT message_id FROM inbound_messages")
        assert sorted(r["message_id"] for r in rows) == sorted(
            str(m["Message-ID"]) for m in messages[:2])  # the refused one was never taken

        gate.set()  # Temporal is back: the two stored ones start, the backlog drains
        for msg in messages[:2]:
            await until_processed(stack, str(msg["Message-ID"]))
        assert handler.backlog == 0
        assert await asyncio.to_thread(send, port, messages[2]) == {}  # the MTA's retry
        await until_processed(stack, str(messages[2]["Message-ID"]))
        crns = [complaint_reference("email", str(m["Message-ID"])) for m in messages]
        stack.started += crns
        for crn in crns:
            assert (await stack.status(crn)).crn == crn
    rows = await stack.rows("SELECT crn, count(*) AS n FROM complaints WHERE crn = ANY($1) "
                            "GROUP BY crn", crns)
    assert sorted((r["crn"], r["n"]) for r in rows) == sorted((crn, 1) for crn in crns)


async def until_processed(stack: ComplaintStack, message_id: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        rows = await stack.rows("SELECT outcome FROM inbound_messages WHERE message_id = $1 "
                                "AND processed_at IS NOT NULL", message_id)
        if rows:
            assert rows[0]["outcome"] == "new_complaint"
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{message_id} was never processed")


async def test_the_api_answers_503_with_retry_after_while_intake_is_full(
        stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch):
    stack.settings = replace(stack.settings, api_max_pending_intakes=1)
    gate, waiting = asyncio.Event(), list[str]()
    monkeypatch.setattr(api_intake, "submit", slowed(api_intake.submit, gate, waiting))
    first, second = intake(external_ref="burst-1"), intake(external_ref="burst-2")
    async with api_on(stack) as api:
        in_hand = asyncio.create_task(api("POST", "/complaints", "intake", json=first))
        while not waiting:
            await asyncio.sleep(0.01)
        busy = await api("POST", "/complaints", "intake", json=second)
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "5" and busy.json()["error"] == "unavailable"
        gate.set()
        assert (await in_hand).status_code == 201
        again = await api("POST", "/complaints", "intake", json=second)  # after Retry-After
        assert again.status_code == 201, again.text
        repeat = await api("POST", "/complaints", "intake", json=first)
        assert repeat.status_code == 200 and repeat.json()["crn"] == (await in_hand).json()["crn"]
        crns = [(await in_hand).json()["crn"], again.json()["crn"]]
        stack.started += crns
        for crn in crns:
            assert (await stack.status(crn)).crn == crn
