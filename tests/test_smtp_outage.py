"""SMTP down: the email waits in the outbox and retries, it is never lost nor sent twice,
and a deadline that falls due meanwhile still escalates at the due instant.

Time-skipping server; the mail sink is stopped and started on the same port.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tests.conftest import ComplaintStack
from tests.scenarios import until_outbox
from workflows import search_attributes as sa
from workflows.complaint import AUTOMATIC_ACK, PERSONAL_ACK


def failing(row: Any) -> bool:
    return row["attempts"] >= 2 and row["last_error"] is not None and row["sent_at"] is None


async def test_acknowledgement_waits_for_smtp_and_goes_out_once(stack: ComplaintStack):
    stack.mail.stop()
    async with stack.worker():
        crn = (await stack.submit()).crn
        row = await until_outbox(stack, crn, "acknowledgement", failing)
        assert stack.mails(crn) == []
        # Rendered once at the first attempt: the retries send exactly this message.
        assert crn in row["subject"] and row["recipients"] == ["kite@kite.example"]
        during = await stack.status(crn)
        assert during.deadline(AUTOMATIC_ACK).met_at is None
        assert not any(e.event == "email_sent" for e in during.timeline)

        stack.mail.start()  # the same port: SMTP is back
        message = await stack.mail_for(crn, "acknowledgement", timeout=20)
        state = await stack.until(crn, lambda s: s.deadline(AUTOMATIC_ACK).met_at is not None)
        sent = await until_outbox(stack, crn, "acknowledgement", lambda r: r["sent_at"] is not None)
        await asyncio.sleep(2.5)  # any duplicate send would land by now
        assert len(stack.mails(crn, "acknowledgement")) == 1

    # (stdlib folding can put a long Subject on a continuation line: compare unfolded)
    assert message["Subject"].strip() == row["subject"]
    assert message["Message-ID"] == row["message_id"]
    assert sent["last_error"] is None and sent["attempts"] >= 3
    d = state.deadline(AUTOMATIC_ACK)
    assert d.met_at <= d.due_at and not d.breached
    assert state.escalation_level == 0 and not state.sla_breached
    assert [e.event for e in state.timeline].count("email_sent") == 1
    assert (await stack.rows("SELECT count(*) AS n FROM email_outbox WHERE crn = $1", crn)
            )[0]["n"] == 1


async def test_deadline_due_while_smtp_is_down_escalates_on_time(stack: ComplaintStack):
    stack.mail.stop()
    async with stack.worker():
        crn = (await stack.submit()).crn
        await until_outbox(stack, crn, "acknowledgement", failing)
        received_at = (await stack.status(crn)).received_at
        due = received_at + timedelta(hours=1)

        # Past the hour with SMTP still down.
        await stack.sleep(due - await stack.env.get_current_time() + timedelta(seconds=1))
        state = await stack.until(crn, lambda s: s.deadline(PERSONAL_ACK).breached)
        personal = state.deadline(PERSONAL_ACK)
        assert personal.breached_at == due
        assert state.escalation_level == 1 and state.sla_breached
        escalated = [e for e in state.timeline if e.event == "escalated"]
        assert any("personal acknowledgement" in e.detail for e in escalated)
        assert all(due <= e.at < due + timedelta(seconds=1) for e in escalated)
        # The automatic acknowledgement could not go out either: that deadline is breached too.
        automatic = state.deadline(AUTOMATIC_ACK)
        assert automatic.breached and automatic.met_at is None
        attrs = (await stack.client.get_workflow_handle(crn).describe()).typed_search_attributes
        assert attrs.get(sa.ESCALATION_LEVEL) == 1 and attrs.get(sa.SLA_BREACHED) is True
        row = await stack.until_row(crn, lambda r: r["escalation_level"] == 1)
        assert row["sla_breached"] is True
        # Decided, but nothing delivered: every email is waiting in the outbox.
        assert stack.mail.messages == []
        pending = await stack.rows(
            "SELECT kind FROM email_outbox WHERE crn = $1 AND sent_at IS NULL", crn)
        escalation_kinds = {r["kind"] for r in pending if r["kind"].startswith("escalation:")}
        assert len(escalation_kinds) == len(escalated)

        stack.mail.start()
        # Retries back off to a minute: let a minute of server time pass for the next attempt.
        await stack.sleep(timedelta(seconds=61))
        for kind in escalation_kinds:
            await stack.mail_for(crn, kind, timeout=20)
        await stack.mail_for(crn, "acknowledgement", timeout=20)
        await asyncio.sleep(2.5)

        escalation_mails = stack.mails(crn, "escalation:")
        assert sorted(str(m["X-Complaint-Message-Kind"]) for m in escalation_mails) == sorted(
            escalation_kinds)  # each escalation exactly once
        assert all(m["To"] == "tom@example.com" for m in escalation_mails)
        about_personal = [m for m in escalation_mails
                          if "personal acknowledgement" in m["Subject"]]
        assert len(about_personal) == 1
        assert len(stack.mails(crn, "acknowledgement")) == 1
        unsent = await stack.rows(
            "SELECT kind FROM email_outbox WHERE crn = $1 AND sent_at IS NULL", crn)
        assert unsent == []
        # Delivered late; the breach stays on record.
        after = await stack.status(crn)
        assert after.deadline(AUTOMATIC_ACK).breached
        assert after.deadline(PERSONAL_ACK).breached_at == due
