"""The agent's desk end to end (docs/desk.md): a complaint that came by email, read and
answered from the console and the API, through the real mail gateway, the worker on the
time-skipping server, PostgreSQL and the SMTP sink."""

from __future__ import annotations

import asyncio
import html
from email.message import EmailMessage

import httpx
import pytest

from database.conversation import UnknownPlaceholder, check_placeholders, delivery_of, fill
from mail.original import sanitise
from tests import mail_channel
from tests.conftest import text_of
from tests.desk_stack import api_key, console_session, form_values
from tests.mail_channel import SUPPORT, Channel, email, h, reply_to
from tests.rule_facts import complaint
from workflows import models as m
from workflows.complaint import rules
from workflows.events import CUSTOMER_UPDATE, deadline_type
from workflows.models import Status, complaint_reference
from workflows.refusals import ComplaintClosed, NotPermitted, UnknownStaff

channel = mail_channel.channel  # the fixture: the gateway, the worker and the pages

EVIL = "<html><body><script>alert(1)</script><img src='http://evil.example/x.png'>Invoice</body></html>"
REPLY = "Dear Jon, the VAT was added twice in the export; a fix ships on Thursday."
NOTE = "@tom the VAT rounding again? Keep Jon posted daily."


def sent_text(mail: EmailMessage) -> str:
    """The text part as the customer's mailbox holds it (SMTP's line ends undone)."""
    return text_of(mail).replace("\r\n", "\n").strip()


async def test_the_conversation_reply_note_and_attachment_through_the_email_channel(
        channel: Channel):
    stack = channel.stack
    complaint = email(body="The monthly export shows totals that do not match the dashboard.")
    complaint.add_attachment(EVIL, subtype="html", filename="invoice.html")
    assert await channel.deliver(complaint) == "new_complaint"
    crn = complaint_reference("email", complaint["Message-ID"])
    ack = await stack.mail_for(crn, "acknowledgement")
    await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
        actor="ana", message="Dear Jon, I am sorry about the totals; I am looking into it."))
    owner = (await stack.until(crn, lambda s: s.owner is not None)).owner
    assert owner is not None
    personal = await stack.mail_for(crn, "personal_acknowledgement")
    quoted = ("The totals are off by exactly the VAT.\n\nOn Tue, 1 Dec 2026 at 10:00, Customer "
              "Care <care@example.com> wrote:\n> Dear Jon Kite,\n> Thank you for contacting us.\n")
    first_reply = reply_to(ack, quoted)
    assert await channel.deliver(first_reply) == "reply"

    async with console_session(channel, owner) as http:
        # The reply box: the customer's mailbox gets it in the thread, and the clock is met.
        page = (await http.get(f"/console/complaints/{crn}")).text
        sent = await http.post(f"/console/complaints/{crn}/actions/send_customer_update",
                               data={**form_values(page, "send_customer_update"),
                                     "message": REPLY})
        assert sent.status_code == 303, sent.text
        update = await stack.mail.wait_for(
            lambda mail: mail["X-Complaint-Reference"] == crn
            and str(mail["X-Complaint-Message-Kind"]).startswith("customer_update"))
        assert h(update, "To") == "kite@kite.example"
        assert h(update, "In-Reply-To") == h(update, "References") == complaint["Message-ID"]
        assert h(update, "Reply-To") == SUPPORT
        assert REPLY in text_of(update)
        state = await stack.status(crn)
        met = [d for d in state.deadlines if deadline_type(d.name) == CUSTOMER_UPDATE
               and d.met_at is not None]
        assert met and any(e.event == "deadline_met" and e.actor == owner
                           and e.deadline == met[-1].name for e in state.timeline)

        # The note box: tom (mentioned by @tom) is emailed a link; the customer nothing.
        page = (await http.get(f"/console/complaints/{crn}")).text
        noted = await http.post(f"/console/complaints/{crn}/actions/add_note",
                                data={**form_values(page, "add_note"), "text": NOTE,
                                      "mentions": ""})
        assert noted.status_code == 303, noted.text
        mention = await stack.mail.wait_for(
            lambda mail: mail["X-Complaint-Reference"] == crn
            and str(mail["X-Complaint-Message-Kind"]).startswith("note_mention"))
        assert h(mention, "To") == "tom@example.com"
        assert f"{channel.base}/console/complaints/{crn}#note-" in text_of(mention)
        await stack.settle()
        assert not [mail for mail in stack.mails(crn) if "kite@kite.example" in h(mail, "To")
                    and ("VAT rounding" in text_of(mail) or "note" in h(mail, "Subject"))]
        state = await stack.status(crn)
        logged = [e for e in state.timeline if e.event == "note_added"]
        assert len(logged) == 1 and NOTE not in logged[0].detail  # the id, never the text
        assert "mentioning tom" in logged[0].detail

        # A form loaded before the customer wrote again is refused, saying what changed.
        page = (await http.get(f"/console/complaints/{crn}")).text
        stale = form_values(page, "send_customer_update")
        assert await channel.deliver(reply_to(update, "Thursday is too late for us.")) == "reply"
        refused = await http.post(f"/console/complaints/{crn}/actions/send_customer_update",
                                  data={**stale, "message": "A second update"})
        assert refused.status_code == 409
        assert "changed since you loaded this page" in refused.text
        assert "customer replied by customer:cust-kite" in refused.text
        assert "A second update</textarea>" in refused.text  # the draft is kept
        await stack.settle()
        assert len(stack.mails(crn, "customer_update")) == 1

        # The customer's emails: the stripped reply shown, the original one click away.
        page = (await http.get(f"/console/complaints/{crn}")).text
        assert "The totals are off by exactly the VAT." in page
        conversation = (await http.get(
            f"/complaints/{crn}/messages", headers=await api_key(channel, owner))).json()
        reply_ref = next(c["id"] for c in conversation if c["text"].startswith("The totals"))
        original = await http.get(f"/console/complaints/{crn}/messages/{reply_ref}/original")
        assert original.status_code == 200 and "Thank you for contacting us." in original.text

        # The attachment downloads (never inline), and its HTML is not rendered anywhere.
        first = next(c for c in conversation if c["attachments"])
        assert first["attachments"][0]["filename"] == "invoice.html"
        link = f"/console/complaints/{crn}/attachments/{first['id']}/1"
        assert link in page and "<script>alert(1)</script>" not in page
        got = await http.get(link)
        assert got.status_code == 200 and got.content.decode().strip() == EVIL
        assert got.headers["content-type"].startswith("text/html")
        assert got.headers["content-disposition"].startswith('attachment; filename="invoice.html"')
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in got.headers["content-security-policy"]

    # Every message in order, with the exact text received and sent (the sink's copies).
    api = await api_key(channel, "ben")
    async with httpx.AsyncClient(base_url=channel.base, headers=api) as client:
        conversation = (await client.get(f"/complaints/{crn}/messages")).json()
        kinds = [c["kind"] for c in conversation]
        assert kinds == ["customer", "ours", "ours", "customer", "ours", "note", "customer"]
        texts = [c["text"].strip() for c in conversation]
        assert texts[0] == "The monthly export shows totals that do not match the dashboard."
        assert texts[1] == sent_text(ack) and texts[2] == sent_text(personal)
        assert texts[3] == "The totals are off by exactly the VAT."
        assert texts[4] == sent_text(update) and texts[5] == NOTE
        assert texts[6] == "Thursday is too late for us."
        assert [c["delivery"] for c in conversation if c["kind"] == "ours"] == ["sent"] * 3
        assert conversation[5]["by"] == owner and conversation[5]["mentions"] == ["tom"]
        # The API's download: the same headers.
        got = await client.get(f"/complaints/{crn}/attachments/{conversation[0]['id']}/1")
        assert got.headers["content-disposition"].startswith("attachment")
        assert got.headers["x-content-type-options"] == "nosniff"
        # Without a key, nothing.
        assert (await httpx.AsyncClient(base_url=channel.base).get(
            f"/complaints/{crn}/messages")).status_code == 401

        # Another complaint's attachment and email are not found under this one.
        other = email(subject="Another matter")
        assert await channel.deliver(other) == "new_complaint"
        elsewhere = complaint_reference("email", other["Message-ID"])
        await stack.until(elsewhere, lambda s: s.handling_agent is not None)
        ref = conversation[0]["id"]
        assert (await client.get(f"/complaints/{elsewhere}/attachments/{ref}/1")).status_code == 404
        assert (await client.get(f"/complaints/{elsewhere}/messages/{ref}/original")
                ).status_code == 404
        assert (await client.get(f"/complaints/{crn}/attachments/{ref}/2")).status_code == 404
        assert (await client.get("/complaints/CRN-AAAAAAAAAA/messages")).status_code == 404

        # The customer's status page never shows the note.
        status = await client.get(channel.link(ack, "status"))
        assert status.status_code == 200 and "Thursday is too late" in status.text
        assert "VAT rounding" not in status.text and "Internal note" not in status.text


async def test_a_note_naming_someone_off_the_roster_is_refused_and_changes_nothing(
        channel: Channel):
    stack = channel.stack
    complaint = email()
    assert await channel.deliver(complaint) == "new_complaint"
    crn = complaint_reference("email", complaint["Message-ID"])
    await stack.until(crn, lambda s: s.handling_agent is not None)
    async with console_session(channel, "ana") as http:
        page = (await http.get(f"/console/complaints/{crn}")).text
        before = await stack.status(crn)
        refused = await http.post(f"/console/complaints/{crn}/actions/add_note",
                                  data={**form_values(page, "add_note"), "text": "Ask @nobody",
                                        "mentions": "ben"})
        assert refused.status_code == 422
        assert "'nobody' is not on the roster" in html.unescape(refused.text)
        assert "Ask @nobody</textarea>" in refused.text
        await asyncio.sleep(0.5)
        assert len((await stack.status(crn)).timeline) == len(before.timeline)
        assert await stack.rows("SELECT * FROM notes WHERE crn = $1", crn) == []


# --- the pure parts -----------------------------------------------------------------------


def test_who_a_note_mentions_and_who_may_be_mentioned():
    note = m.Note(actor="ana", text="@tom see jon@kite.example, and @sam. Also @tom again",
                  mentions=["helen", "tom"])
    assert rules.mentioned(note) == ["helen", "tom", "sam"]
    rules.add_note(complaint(), note)  # every one of them on the roster
    with pytest.raises(UnknownStaff, match="'nobody' is not on the roster"):
        rules.add_note(complaint(), m.Note(actor="ana", text="for @nobody"))
    with pytest.raises(UnknownStaff, match="'x' is not on the roster"):
        rules.add_note(complaint(), m.Note(actor="ana", text="hi", mentions=["x"]))
    with pytest.raises(ComplaintClosed):
        rules.add_note(complaint(status=Status.archived), m.Note(actor="ana", text="late"))
    with pytest.raises(NotPermitted):
        rules.add_note(complaint(), m.Note(actor="customer:cust-1", text="me too"))


def test_an_outbox_row_s_delivery_state():
    from datetime import UTC, datetime
    assert delivery_of(datetime.now(UTC), None) == ("sent", None)
    assert delivery_of(None, None) == ("queued", None)
    assert delivery_of(None, "Connection refused") == ("queued", "Connection refused")
    assert delivery_of(None, "failed (not retried): 'x' is undefined") == (
        "failed", "failed (not retried): 'x' is undefined")
    assert delivery_of(None, "suppressed: 5 automatic emails")[0] == "held back"


def test_a_canned_reply_s_placeholders_and_an_html_email_sanitised():
    assert fill("Dear {customer_name}, {crn} {unknown}", {"customer_name": "Jon", "crn": "C"}
                ) == "Dear Jon, C {unknown}"
    check_placeholders("{customer_name} {crn} {owner} {next_deadline} {order}")
    with pytest.raises(UnknownPlaceholder, match=r"\{name\}"):
        check_placeholders("Dear {name}")
    clean = sanitise('<p style="x" onclick="y">Hi<img src="http://e/x"><script>bad()</script>'
                     '<a href="javascript:bad()">a</a><a href="https://ok.example/">b</a></p>')
    assert clean.startswith("<p>Hi") and "img" not in clean and "script" not in clean
    assert "bad()" not in clean and "style" not in clean and "onclick" not in clean
    assert 'href="https://ok.example/"' in clean and "noopener" in clean
