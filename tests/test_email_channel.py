"""The email channel end to end: a real SMTP client (smtplib) against the running
mail gateway, the product's worker on the time-skipping server, PostgreSQL, the SMTP sink,
and the customer pages served by the real app on a socket."""

from __future__ import annotations

import asyncio
import os
import re
import smtplib
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from database import mailbox
from mail.links import CustomerLinks
from tests import mail_channel
from tests.conftest import text_of
from tests.faultstack import free_port
from tests.mail_channel import (
    KITE,
    SECRET,
    SUPPORT,
    Channel,
    email,
    gateway,
    h,
    mailbox_id,
    new_complaint,
    reply_to,
)
from tests.scenarios import plan_agreed
from workflows import models as m
from workflows.events import Event
from workflows.inbound import inbound_workflow_id
from workflows.models import Status, complaint_reference

channel = mail_channel.channel  # the fixture: the gateway, the worker and the pages

# --- new complaints ----------------------------------------------------------------------


async def test_known_sender_becomes_a_complaint_answered_in_its_thread(channel: Channel):
    crn, msg, ack = await new_complaint(channel)
    state = await channel.stack.status(crn)
    assert state.customer_id == "cust-kite"  # matched case-insensitively
    assert state.source == m.Source.email and state.external_ref == msg["Message-ID"]
    assert state.subject == "Export shows wrong totals"
    # The acknowledgement: its ticket number, threaded under the customer's message,
    # replies to the support address, marked automatic, text and HTML.
    assert h(ack, "Subject").startswith(f"[{crn}]")
    assert h(ack, "In-Reply-To") == msg["Message-ID"] and msg["Message-ID"] in h(ack, "References")
    assert h(ack, "Reply-To") == SUPPORT and h(ack, "Auto-Submitted") == "auto-generated"
    assert ack.get_body(preferencelist=("html",)) is not None
    html = ack.get_body(preferencelist=("html",)).get_content()
    assert "src=" not in html  # no remote assets
    assert channel.link(ack, "status")


async def test_unknown_sender_gets_a_customer_record(channel: Channel):
    crn, _, ack = await new_complaint(channel, sender="Zoë Newcomer <Zoe@New.Example>")
    state = await channel.stack.status(crn)
    customers = await channel.stack.rows("SELECT * FROM customers WHERE id = $1",
                                         state.customer_id)
    assert customers and customers[0]["email"] == "zoe@new.example"
    assert customers[0]["name"] == "Zoë Newcomer"
    assert h(ack, "To") == "zoe@new.example"


async def test_the_same_message_twice_is_one_complaint(channel: Channel):
    msg = email()
    assert await channel.deliver(msg) == "new_complaint"
    await asyncio.to_thread(channel.send, msg)  # delivered again, e.g. by a retrying server
    rows = await channel.stack.rows("SELECT * FROM inbound_messages")
    assert len(rows) == 1
    crn = complaint_reference("email", msg["Message-ID"])
    await channel.stack.mail_for(crn, "acknowledgement")
    await asyncio.sleep(1)
    assert len(channel.stack.mails(crn, "acknowledgement")) == 1


# --- threading ---------------------------------------------------------------------------


async def owned(channel: Channel) -> tuple[str, str, EmailMessage]:
    """A complaint by email, acknowledged personally, with its owner; CRN, owner, ack."""
    crn, _, ack = await new_complaint(channel)
    stack = channel.stack
    await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
        actor="ana", message="Dear Jon, I am sorry about the totals; I am looking into it."))
    owner = (await stack.until(crn, lambda s: s.owner is not None)).owner
    assert owner is not None
    return crn, owner, ack


async def replies(channel: Channel, crn: str) -> list[m.TimelineEvent]:
    """The customer's replies in the complaint's timeline."""
    state = await channel.stack.status(crn)
    return [e for e in state.timeline if e.event == Event.customer_replied]


async def test_reply_by_header_and_by_subject_token_spoofed_token_is_not_attached(
        channel: Channel):
    crn, _, ack = await owned(channel)

    # By header, written as Gmail writes a reply: the quote and the signature are stripped.
    gmail = reply_to(ack, "The totals are off by exactly the VAT.\n\n--\nJon Kite\nKite Studio\n\n"
                     "On Tue, 1 Dec 2026 at 10:00, Customer Care <care@example.com> wrote:\n"
                     "> Dear Jon Kite,\n> Thank you for contacting us.\n")
    assert await channel.deliver(gmail) == "reply"
    replied = await replies(channel, crn)
    assert replied[-1].actor == "customer:cust-kite"
    assert replied[-1].detail == "The totals are off by exactly the VAT."
    owner_mail = await channel.stack.mail_for(crn, "customer_reply:1")
    assert "off by exactly the VAT" in text_of(owner_mail)

    # By the [CRN-…] token alone (a new message, not a reply), written as Outlook does.
    outlook = email(subject=f"More on [{crn}]", body=(
        "It also happens in the quarterly export.\n\nFrom: Customer Care <care@example.com>\n"
        "Sent: Tuesday, December 1, 2026 10:00 AM\nTo: Jon Kite <kite@kite.example>\n"
        f"Subject: [{crn}] We have received your complaint\n\nDear Jon Kite,\n"))
    assert await channel.deliver(outlook) == "reply"
    assert (await replies(channel, crn))[-1].detail == "It also happens in the quarterly export."

    # The same token from someone else is a new complaint of theirs, not attached.
    spoof = email(sender="Mallory <mallory@evil.example>", subject=f"Re: [{crn}] close it",
                  body="Resolution Confirmed")
    assert await channel.deliver(spoof, envelope_from="mallory@evil.example") == "new_complaint"
    assert len(await replies(channel, crn)) == 2
    row = (await channel.stack.rows("SELECT crn FROM inbound_messages WHERE message_id = $1",
                                    spoof["Message-ID"]))[0]
    assert row["crn"] != crn


async def test_a_duplicate_s_later_mail_threads_into_the_original(channel: Channel):
    original, _, _ = await owned(channel)
    again, _, ack = await new_complaint(channel, body="I wrote to you before about the totals.")
    await channel.stack.until(again, lambda s: s.handling_agent is not None)
    await channel.stack.act(again, "dismiss", m.Dismissal(
        actor="ana", reason="duplicate", duplicate_of=original, note="Wrote twice"))
    # The customer answers the duplicate's acknowledgement: it lands on the original.
    assert await channel.deliver(reply_to(ack, "Any news on the totals?")) == "reply"
    assert (await replies(channel, original))[-1].detail == "Any news on the totals?"
    row = await channel.stack.until_row(again, lambda r: r["outcome"] == "dismissed")
    assert row["duplicate_of"] == original


async def test_apple_mail_reply_is_stripped(channel: Channel):
    crn, _, ack = await owned(channel)
    apple = reply_to(ack, "Thanks, I will wait for the call.\n\nSent from my iPhone\n\n"
                     "On 1 Dec 2026, at 10:00, Customer Care <care@example.com> wrote:\n\n"
                     "> Dear Jon Kite,\n")
    assert await channel.deliver(apple) == "reply"
    assert [e.detail for e in await replies(channel, crn)] == ["Thanks, I will wait for the call."]


# --- the customer's answers: pages and "Resolution Confirmed" ------------------------------


async def reviewed(channel: Channel, root_cause: str = "Rounding bug"
                   ) -> tuple[str, str, EmailMessage]:
    """Owned, the call made and the 3 Whys done: ready for a plan."""
    crn, owner, ack = await owned(channel)
    await channel.stack.act(crn, "record_phone_contact", m.PhoneContact(
        actor=owner, reached=True, summary="Apologised", expectations="A fix this week"))
    await channel.stack.act(crn, "submit_internal_review", m.InternalReview(
        actor=owner, root_cause=root_cause, process_failure="No regression test",
        communication_failure="None", checklist=m.InvestigationChecklist(
            history_reviewed=True, issue_verified=True, order_checked=True)))
    return crn, owner, ack


async def test_agreement_page_get_changes_nothing_post_once_tampered_refused(channel: Channel):
    crn, owner, _ = await reviewed(channel)
    stack = channel.stack
    await stack.act(crn, "submit_action_plan", m.ActionPlan(actor=owner, steps=[
        m.PlanStep(kind="process_change", description="Add an export regression test")]))
    await stack.act(crn, "propose_solution", m.SolutionProposal(
        actor=owner, message="We will add a regression test for the export. Agreed?"))
    proposal = await stack.mail_for(crn, "solution_proposal:1")
    link = channel.link(proposal, "agreement")
    async with httpx.AsyncClient() as http:
        for _ in range(2):  # a mail scanner opens it, then the customer
            page = await http.get(link)
            assert page.status_code == 200 and "Do you agree" in page.text
            assert page.headers["cache-control"] == "no-store"
        assert (await stack.status(crn)).status == Status.awaiting_customer
        tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
        assert (await http.post(tampered, data={"answer": "agree"})).status_code == 403
        survey_link = link.replace("/c/agreement/", "/c/survey/")  # another question's link
        assert (await http.post(survey_link, data={"score": "5"})).status_code == 403
        bad = await http.post(link, data={"answer": "maybe"})
        assert bad.status_code == 422 and (await stack.status(crn)).customer_agreed is None
        answered = await http.post(link, data={"answer": "agree", "comment": "Go ahead"})
        assert answered.status_code == 200 and "Thank you" in answered.text
        again = await http.post(link, data={"answer": "disagree"})
        assert again.status_code == 409 and "already" in again.text
        state = await stack.status(crn)
        assert state.customer_agreed is True
        agreed = [e for e in state.timeline if e.event == Event.customer_agreed]
        assert len(agreed) == 1 and agreed[0].actor == "customer:cust-kite"
        # No fix, no money: nothing left to do, so the product asks for the sign-off.
        ask = await stack.mail_for(crn, "sign_off_request:1")
        assert "Resolution Confirmed" in text_of(ask) and channel.link(ask, "sign_off")
        assert h(ask, "In-Reply-To")


async def test_resolution_confirmed_by_reply_resolves_then_the_survey_page_scores(
        channel: Channel):
    crn, owner, ack = await owned(channel)
    stack = channel.stack
    await plan_agreed(stack, crn, owner, fix=True)
    await stack.until(crn, lambda s: s.fix == "open")
    await stack.act(crn, "record_fix_deployed", m.FixDeployed(actor="raj", reference="REL-7"))
    ask = await stack.mail_for(crn, "sign_off_request:1")
    # Apple Mail style: the sign-off on top, our question quoted below.
    signoff = reply_to(ask, "Resolution Confirmed, thank you.\n\nOn 2 Dec 2026, at 09:00, "
                       "Customer Care <care@example.com> wrote:\n\n> Is your complaint resolved?\n")
    # Nothing verifies senders here (the dev stack's default), so the emailed sign-off is
    # recorded as an unauthenticated reply and answered with a one-use link that counts.
    assert await channel.deliver(signoff) == "sign_off_link"
    assert (await stack.status(crn)).status != Status.resolved
    replied = (await replies(channel, crn))[-1]
    assert (replied.outcome, replied.detail) == ("unauthenticated", "Resolution Confirmed, thank you.")
    confirm = await stack.mail_for(
        crn, "sign_off_confirm:" + inbound_workflow_id(signoff["Message-ID"])[8:20])
    assert h(confirm, "To") == KITE and "did not prove" in text_of(confirm)
    async with httpx.AsyncClient() as http:
        link = channel.link(confirm, "sign_off")
        assert (await http.post(link, data={"confirm": "Resolution Confirmed"})).status_code == 200
        assert (await http.post(link, data={"confirm": "Resolution Confirmed"})).status_code == 409
    state = await stack.until(crn, lambda s: s.status == Status.resolved)
    resolved = [e for e in state.timeline if e.event == Event.resolved]
    assert resolved[0].actor == "customer:cust-kite"
    survey = await stack.mail_for(crn, "survey")
    link = channel.link(survey, "survey")
    async with httpx.AsyncClient() as http:
        assert "How satisfied" in (await http.get(link)).text
        assert (await stack.status(crn)).csat_score is None  # GET changed nothing
        assert (await http.post(link, data={"score": "4", "comment": "Quick fix"})).status_code == 200
        assert (await http.post(link, data={"score": "1"})).status_code == 409
        status = await http.get(channel.link(ack, "status"))  # resolved: nothing to withdraw
        assert "Your complaint is resolved" in status.text and "/c/withdraw/" not in status.text
    state = await stack.status(crn)
    assert state.csat_score == 4
    assert [e.actor for e in state.timeline if e.event == Event.csat] == ["customer:cust-kite"]


async def test_expired_link_is_refused_and_the_status_page_shows_no_internals(
        channel: Channel):
    crn, owner, ack = await reviewed(channel, root_cause="SECRET-ROOT-CAUSE")
    links = CustomerLinks(SECRET, channel.base)
    old = links.token(crn, "agreement", "solution_proposal:1", now=time.time() - 31 * 86400)
    async with httpx.AsyncClient() as http:
        expired = await http.get(f"{channel.base}/c/agreement/{old}")
        assert expired.status_code == 410 and "expired" in expired.text
        page = await http.get(channel.link(ack, "status"))
        assert page.status_code == 200
        assert "We are investigating your complaint." in page.text
        assert "Export shows wrong totals" in page.text  # the messages exchanged
        assert "SECRET-ROOT-CAUSE" not in page.text and "Rounding" not in page.text
        assert (await http.post(channel.link(ack, "status"))).status_code == 405
        # The messages without links: the acknowledgement's own status link is not shown.
        assert "Ticket number:" in page.text and "[link removed]" in page.text
        shown = page.text.split("<h2>Messages")[1].split("To write to us")[0]
        assert "/c/" not in shown and "http://" not in shown
        # The status link lives 90 days.
        for age, code in ((89, 200), (91, 410)):
            aged = links.token(crn, "status", "acknowledgement", now=time.time() - age * 86400)
            assert (await http.get(f"{channel.base}/c/status/{aged}")).status_code == code


async def test_the_customer_withdraws_from_the_status_page(channel: Channel):
    crn, _, ack = await owned(channel)
    stack = channel.stack
    await stack.settle()
    mails_before = len(stack.mails(crn))
    async with httpx.AsyncClient() as http:
        status = await http.get(channel.link(ack, "status"))
        found = re.search(rf"{re.escape(channel.base)}/c/withdraw/[\w.\-]+", status.text)
        assert found, status.text
        link = found.group(0)
        for _ in range(2):  # a mail scanner or a second look: changes nothing
            page = await http.get(link)
            assert page.status_code == 200 and "withdraw your complaint?" in page.text
        assert (await http.post(link.replace("/c/withdraw/", "/c/agreement/"),
                                data={"answer": "agree"})).status_code == 403
        unconfirmed = await http.post(link, data={"comment": "Sorted it myself"})
        assert unconfirmed.status_code == 422 and "Withdraw my complaint" in unconfirmed.text
        assert (await stack.status(crn)).outcome is None
        done = await http.post(link, data={"confirm": "withdraw",
                                           "comment": "Sorted it myself"})
        assert done.status_code == 200 and "Your complaint is withdrawn" in done.text
        state = await stack.status(crn)
        assert (state.status, state.outcome) == (Status.closed, m.ComplaintOutcome.withdrawn)
        withdrawn = [e for e in state.timeline if e.event == Event.withdrawn]
        assert [(e.actor, e.reason) for e in withdrawn] == [("customer:cust-kite",
                                                              "Sorted it myself")]
        again = await http.post(link, data={"confirm": "withdraw"})
        assert again.status_code == 409 and "withdrew this complaint already" in again.text
        after = await http.get(channel.link(ack, "status"))
        assert "You withdrew this complaint" in after.text and "/c/withdraw/" not in after.text
    # The run has ended, so no timer of it can fire and nothing more is sent (the timers and
    # the time after a withdrawal: tests/test_withdrawal.py).
    ended = await stack.client.get_workflow_handle(crn).result()
    assert ended["outcome"] == "withdrawn"
    assert len(stack.mails(crn)) == mails_before


# --- what is not answered, and what cannot be read -----------------------------------------


async def test_auto_reply_and_bounce_create_nothing_and_get_no_answer(channel: Channel):
    crn, _, ack = await new_complaint(channel)
    sent_before = len(channel.stack.mail.matching(lambda _: True))
    auto = reply_to(ack, "I am out of the office until Monday.", Auto_Submitted="auto-replied")
    assert await channel.deliver(auto) == "ignored"
    bounce = email(sender="Mail Delivery System <MAILER-DAEMON@kite.example>",
                   subject="Undelivered Mail Returned to Sender", body="The mail bounced.")
    assert await channel.deliver(bounce, envelope_from="") == "ignored"
    listmail = email(subject="Weekly digest", Precedence="list", List_Id="<news.kite.example>")
    assert await channel.deliver(listmail) == "ignored"
    await asyncio.sleep(1)
    assert len(channel.stack.mail.matching(lambda _: True)) == sent_before
    assert not await replies(channel, crn)
    assert len(await channel.stack.rows("SELECT * FROM complaints")) <= 1


async def test_not_a_relay_oversize_refused_unparseable_kept_and_flagged(channel: Channel):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(channel.send, email(), KITE, "someone@elsewhere.example")
    assert refused.value.recipients["someone@elsewhere.example"][0] == 550
    big = email(body="x" * 300_000)
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as too_big:
        await asyncio.to_thread(channel.send, big)
    assert too_big.value.smtp_code == 552
    garbage = (b"Message-ID: <garbage-1@nowhere>\r\nSubject: \xff\xfe\r\nFrom: nobody\r\n\r\n"
               b"\x00\x01 not a mail at all \xc3\x28")
    assert await channel.deliver(garbage) == "failed"
    failed = await mailbox.list_inbound(channel.stack.pool, failed_only=True)
    assert [r["message_id"] for r in failed] == ["<garbage-1@nowhere>"]
    assert "sender" in failed[0]["detail"]
    stored = await channel.stack.rows("SELECT raw FROM inbound_messages")
    assert len(stored) == 1 and b"not a mail at all" in bytes(stored[0]["raw"])  # kept whole
    assert not await channel.stack.rows("SELECT 1 FROM complaints")
    listed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "starter.cli", "inbound", "list", "--failed"],
        capture_output=True, text=True, timeout=60,
        env=os.environ | {"DATABASE_URL": channel.stack.settings.database_url})
    assert listed.returncode == 0, listed.stderr
    assert "<garbage-1@nowhere>" in listed.stdout and "no usable sender" in listed.stdout
    assert "[unauthenticated, dmarc=unchecked]" in listed.stdout  # nothing verifies senders here


async def test_attachments_and_charsets_are_kept(channel: Channel):
    msg = email(sender="=?iso-2022-jp?b?GyRCOzNFRBsoQiAbJEJCQE86GyhC?= <taro@jp.example>",
                subject="=?utf-8?q?Rechnung_f=C3=BCr_M=C3=A4rz?=")
    msg.set_content("Die Summe ist falsch. Grüße", charset="iso-8859-1")
    msg.add_attachment(b"%PDF-1.4 test", maintype="application", subtype="pdf",
                       filename="rechnung.pdf")
    assert await channel.deliver(msg) == "new_complaint"
    crn = complaint_reference("email", msg["Message-ID"])
    # The attachments' event is logged a step after the subject: wait for both (under load
    # the status could be read between them).
    state = await channel.stack.until(crn, lambda s: s.subject == "Rechnung für März" and any(
        e.event == Event.attachments_received for e in s.timeline))
    files = await channel.stack.rows("SELECT * FROM inbound_attachments")
    assert [(f["filename"], f["content_type"], f["size"]) for f in files] == [
        ("rechnung.pdf", "application/pdf", 13)]
    assert state.customer_id.startswith("email-")
    listed = [e.detail for e in state.timeline if e.event == Event.attachments_received]
    assert listed == ["rechnung.pdf (application/pdf, 13 bytes)"]
    # A reply's files are listed first in what the timeline records of it.
    reply = reply_to(await channel.stack.mail_for(crn, "acknowledgement"), "Here is the other one",
                     sender="taro@jp.example")
    reply.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="totals.csv")
    assert await channel.deliver(reply, envelope_from="taro@jp.example") == "reply"
    assert (await replies(channel, crn))[-1].detail == (
        "[attachments: totals.csv (text/csv, 8 bytes)] Here is the other one")


# --- durability -----------------------------------------------------------------------------


async def test_stored_but_never_started_is_processed_once_by_the_sweep(channel: Channel):
    """The gateway died after its 250, before it started the message's workflow."""
    msg = email()
    raw = msg.as_bytes()
    assert await mailbox.store_inbound(channel.stack.pool, msg["Message-ID"], KITE, raw)
    assert await channel.handler.sweep(grace=timedelta(0)) == 1
    assert (await channel.processed(msg["Message-ID"]))["outcome"] == "new_complaint"
    assert await channel.handler.sweep(grace=timedelta(0)) == 0
    crn = complaint_reference("email", msg["Message-ID"])
    channel.stack.started.append(crn)
    await channel.stack.mail_for(crn, "acknowledgement")


async def test_postgres_unavailable_is_a_temporary_refusal_then_processed_once(
        channel: Channel):
    """PostgreSQL down while mail arrives: 451, so the sending server keeps the message and
    tries again; once it is back the message is stored and processed once."""
    from database.pool import create_pool

    # A pool whose server is gone: every connection attempt is refused.
    down = await create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/gone", min_size=0,
                             max_size=1)
    msg = email()
    async with gateway(channel.stack, down) as (_, port):
        unavailable = replace(channel, smtp_port=port)
        with pytest.raises(smtplib.SMTPDataError) as temporary:
            await asyncio.to_thread(unavailable.send, msg)
    assert temporary.value.smtp_code == 451
    assert not await channel.stack.rows("SELECT 1 FROM inbound_messages")
    assert await channel.deliver(msg) == "new_complaint"  # the sender's retry
    await asyncio.to_thread(channel.send, msg)  # and once more
    crn = complaint_reference("email", msg["Message-ID"])
    await channel.stack.mail_for(crn, "acknowledgement")
    assert len(await channel.stack.rows("SELECT 1 FROM inbound_messages")) == 1



# --- hypothesis through the gateway: malformed mail, nothing lost ------------------------------


async def test_malformed_mail_through_the_gateway_is_all_kept_and_processed(channel: Channel):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sent: list[bytes] = []
    text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=60)

    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(sender=text, subject=text, refs=text, body=st.binary(max_size=300),
           auto=st.sampled_from(["", "Auto-Submitted: auto-replied\r\n", "Precedence: bulk\r\n"]))
    def deliver(sender: str, subject: str, refs: str, body: bytes, auto: str) -> None:
        raw = (f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nReferences: {refs}\r\n"
               f"{auto}Message-ID: <p{len(sent)}.{abs(hash((sender, subject, refs, body)))}@h>"
               "\r\n\r\n").encode() + body.replace(b"\r", b"").replace(b"\n.", b"\n..")
        assert channel.send(raw) == {}  # every message accepted (250)
        sent.append(raw)

    await asyncio.to_thread(deliver)
    ids = [mailbox_id(raw) for raw in sent]
    for message_id in ids:
        row = await channel.processed(message_id, timeout=60)
        assert row["outcome"] in ("new_complaint", "ignored", "failed", "reply"), row
        if row["crn"]:
            channel.stack.started.append(row["crn"])
    stored = await channel.stack.rows("SELECT message_id FROM inbound_messages")
    assert sorted(r["message_id"] for r in stored) == sorted(set(ids))


async def test_a_reply_while_we_wait_for_the_customer_restarts_our_update_clock(
        channel: Channel):
    crn, owner, ack = await reviewed(channel)
    await channel.stack.act(crn, "submit_action_plan", m.ActionPlan(actor=owner, steps=[
        m.PlanStep(kind="process_change", description="Add an export regression test")]))
    await channel.stack.act(crn, "propose_solution", m.SolutionProposal(
        actor=owner, message="We will add a regression test for the export. Agreed?"))
    assert (await channel.stack.status(crn)).status == Status.awaiting_customer
    assert await channel.deliver(reply_to(ack, "Can it cover the quarterly export?")) == "reply"
    state = await channel.stack.status(crn)
    assert state.status == Status.under_investigation
    assert [e.actor for e in state.timeline if e.event == Event.update_clock_resumed] == ["system"]


async def test_resolution_confirmed_too_early_is_a_plain_reply(channel: Channel):
    crn, _, ack = await owned(channel)
    assert await channel.deliver(reply_to(ack, "Resolution Confirmed? Not yet, surely.")) == "reply"
    state = await channel.stack.status(crn)
    assert state.status != Status.resolved
    assert [e.detail for e in await replies(channel, crn)] == ["Resolution Confirmed? Not yet, surely."]


async def test_at_most_a_few_automatic_emails_per_address_an_hour(channel: Channel):
    """An autoresponder that sets none of the headers still cannot keep us writing: the
    sixth acknowledgement within the hour to one address is not sent (and says why)."""
    from activities.email import AUTOMATIC_PER_HOUR

    crns = []
    for n in range(AUTOMATIC_PER_HOUR + 1):
        msg = email(sender="Loop <loop@bot.example>", subject=f"Your message {n}")
        assert await channel.deliver(msg, envelope_from="loop@bot.example") == "new_complaint"
        crns.append(complaint_reference("email", msg["Message-ID"]))
        if n < AUTOMATIC_PER_HOUR:
            await channel.stack.mail_for(crns[-1], "acknowledgement")
    last = crns[-1]

    async def suppressed() -> Any:
        rows = await channel.stack.rows(
            "SELECT last_error FROM email_outbox WHERE crn = $1 AND kind = 'acknowledgement'", last)
        return rows and rows[0]["last_error"]

    deadline = time.monotonic() + 15
    while not await suppressed():
        assert time.monotonic() < deadline, "the sixth acknowledgement was not held back"
        await asyncio.sleep(0.1)
    assert (await suppressed()).startswith("suppressed")
    assert not channel.stack.mails(last, "acknowledgement")
    state = await channel.stack.until(last, lambda s: any(
        "held back" in e.detail for e in s.timeline if e.event == Event.email_sent))
    assert state.status == Status.new  # the complaint itself goes on
