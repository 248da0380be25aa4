"""Email you can trust, end to end (docs/security.md): a real SMTP client against the mail
gateway verifying senders through a DNS server on loopback (dnslib) with real DKIM
signatures, the product's worker on the time-skipping server, PostgreSQL and the SMTP sink.

Forged mail acts for no one, a negated or quoted sign-off changes nothing, a signed one
counts; spam waits aside until released; no message stalls the rest; a poison message ends
`failed`; the gateway's limits answer 4xx."""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from database import mailbox
from starter.api import create_app
from starter.operations import start_inbound
from tests.api_stack import serving
from tests.conftest import ComplaintStack
from tests.faultstack import free_port
from tests.mail_channel import SECRET, SUPPORT, Channel, email, gateway, h, reply_to
from tests.mail_dns import SigningDomain, Zone, add_domain, dns_server
from tests.scenarios import plan_agreed
from workflows import models as m
from workflows.events import Event
from workflows.inbound import inbound_workflow_id
from workflows.models import Status, complaint_reference

KITE = "kite@kite.example"  # cust-kite in the demo seed; kite.example signs and says p=quarantine


@pytest.fixture(scope="module")
def zone() -> Iterator[tuple[Zone, SigningDomain, str]]:
    zone = Zone()
    kite = add_domain(zone, "kite.example", dmarc="quarantine")
    add_domain(zone, "evil.example", dmarc="none")
    with dns_server(zone) as server:
        yield zone, kite, server


@pytest_asyncio.fixture
async def trusted(stack: ComplaintStack, zone: tuple[Zone, SigningDomain, str]
                  ) -> AsyncIterator[tuple[Channel, SigningDomain]]:
    _, kite, server = zone
    api_port = free_port()
    stack.settings = replace(
        stack.settings, link_secret=SECRET, support_address=SUPPORT,
        public_url=f"http://127.0.0.1:{api_port}", inbound_max_bytes=200_000,
        inbound_verify_senders=True, inbound_dns_server=server,
        inbound_rate_per_ip=10_000, inbound_rate_per_sender=10_000,
        inbound_unknown_sender_per_hour=10_000)
    app = create_app(stack.settings, stack.client, stack.pool)
    async with gateway(stack, stack.pool) as (handler, port), stack.worker():
        async with serving(app, port=api_port) as base:
            yield Channel(stack, handler, port, base), kite


def signed(kite: SigningDomain, msg: EmailMessage) -> bytes:
    return kite.sign(msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


async def deliver(channel: Channel, raw: bytes, envelope_from: str = KITE) -> Any:
    """Send raw bytes over SMTP; the message's row once processed."""
    from mail.parsing import message_id_of
    await asyncio.to_thread(channel.send, raw, envelope_from)
    row = await channel.processed(message_id_of(raw))
    if row["crn"]:
        channel.stack.started.append(row["crn"])
    return row


async def replies(stack: ComplaintStack, crn: str) -> list[m.TimelineEvent]:
    return [e for e in (await stack.status(crn)).timeline if e.event == Event.customer_replied]


async def test_forged_mail_acts_for_no_one_and_only_a_signed_sign_off_counts(trusted):
    channel, kite = trusted
    stack = channel.stack
    msg = email()
    row = await deliver(channel, signed(kite, msg))
    assert (row["outcome"], row["authenticated"], row["dmarc"]) == ("new_complaint", True, "pass")
    crn = complaint_reference("email", msg["Message-ID"])
    ack = await stack.mail_for(crn, "acknowledgement")
    # Our Message-ID: 128 random bits, not the CRN anyone can read in the subject.
    assert crn not in h(ack, "Message-ID") and len(h(ack, "Message-ID").split("@")[0]) >= 33
    await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
        actor="ana", message="Dear Jon, I am looking into it."))
    owner = (await stack.until(crn, lambda s: s.owner is not None)).owner
    assert owner
    await plan_agreed(stack, crn, owner, fix=True)
    await stack.until(crn, lambda s: s.fix == "open")
    await stack.act(crn, "record_fix_deployed", m.FixDeployed(actor="raj", reference="REL-7"))
    ask = await stack.mail_for(crn, "sign_off_request:1")
    await stack.settle()
    sent_to_kite = len(stack.mail.matching(lambda x: KITE in str(x["To"])))

    # 1. Our real Message-ID in In-Reply-To, from another sender: not threaded into it.
    other = reply_to(ask, "Resolution Confirmed", sender="Mallory <mallory@evil.example>")
    row = await deliver(channel, other.as_bytes(), "mallory@evil.example")
    assert row["outcome"] == "new_complaint" and row["crn"] != crn
    # 2. The customer's own address, unsigned, from a server the domain does not name: its
    #    domain says quarantine, so it waits aside; nothing is recorded, nobody is answered.
    forged = reply_to(ask, "Resolution Confirmed")
    row = await deliver(channel, forged.as_bytes())
    assert (row["outcome"], row["authenticated"], row["dmarc"]) == ("suspended", False, "fail")
    assert "quarantine" in row["suspended"] and row["crn"] is None
    # 3. Signed, but negated; 4. signed, with the sign-off only inside the quoted text.
    negated = reply_to(ask, "Resolution Confirmed? No, it still fails.")
    assert (await deliver(channel, signed(kite, negated)))["outcome"] == "reply"
    quoted = reply_to(ask, "It still fails on the quarterly export.\n\n-----\n"
                      "Customer Care wrote on the 2nd:\nReply with: Resolution Confirmed\n"
                      "Resolution Confirmed\n")
    assert (await deliver(channel, signed(kite, quoted)))["outcome"] == "reply"
    state = await stack.status(crn)
    assert state.status != Status.resolved
    got = await replies(stack, crn)
    assert [e.outcome for e in got] == [None, None]  # authenticated: not marked
    assert got[0].detail.startswith("Resolution Confirmed? No, it still fails.")
    assert got[1].detail.startswith("It still fails on the quarterly export.")
    await stack.settle()
    assert len(stack.mail.matching(lambda x: KITE in str(x["To"]))) == sent_to_kite

    # 5. Signed by the customer's domain: the written sign-off counts.
    real = reply_to(ask, "Resolution Confirmed, thank you.")
    assert (await deliver(channel, signed(kite, real)))["outcome"] == "sign_off"
    state = await stack.until(crn, lambda s: s.status == Status.resolved)
    assert [e.actor for e in state.timeline if e.event == Event.resolved] == ["customer:cust-kite"]


async def test_spam_waits_aside_until_released_or_rejected(trusted):
    channel, kite = trusted
    stack = channel.stack
    spam = email(subject="Cheap watches", X_Spam_Flag="YES")
    row = await deliver(channel, signed(kite, spam))
    assert row["outcome"] == "suspended" and "X-Spam-Flag" in row["suspended"]
    rspamd = email(subject="Prize", X_Rspamd_Action="add header")
    assert (await deliver(channel, signed(kite, rspamd)))["outcome"] == "suspended"
    held = {r["message_id"] for r in await mailbox.list_suspended(stack.pool)}
    assert held == {spam["Message-ID"], rspamd["Message-ID"]}
    crn = complaint_reference("email", spam["Message-ID"])
    assert not await stack.rows("SELECT 1 FROM complaints WHERE crn = $1", crn)
    assert not stack.mails(crn)

    # Rejected: kept as rejected, never processed. Twice: the second changes nothing.
    assert await mailbox.decide_suspended(stack.pool, rspamd["Message-ID"], False, "ana")
    assert not await mailbox.decide_suspended(stack.pool, rspamd["Message-ID"], True, "ana")
    # Released: processed as if it had just arrived (a complaint, acknowledged).
    assert await mailbox.decide_suspended(stack.pool, spam["Message-ID"], True, "ana")
    await start_inbound(stack.client, stack.settings.task_queue, spam["Message-ID"])
    row = await channel.processed(spam["Message-ID"])
    stack.started.append(crn)
    assert row["outcome"] == "new_complaint" and row["crn"] == crn
    await stack.mail_for(crn, "acknowledgement")
    rows = await stack.rows("SELECT outcome, detail FROM inbound_messages WHERE message_id = $1",
                            rspamd["Message-ID"])
    assert rows[0]["outcome"] == "rejected" and "rejected by ana" in rows[0]["detail"]
    assert not await mailbox.list_suspended(stack.pool)


async def test_suspended_mail_over_the_api_for_agents_only(trusted):
    channel, kite = trusted
    stack = channel.stack
    spam = email(subject="Win", X_Spam_Status="Yes, score=12.0")
    assert (await deliver(channel, signed(kite, spam)))["outcome"] == "suspended"
    keys = {}
    from database.keys import create_key
    async with stack.pool.acquire() as conn:
        for staff in ("ana", "fiona"):  # an agent; the finance manager
            keys[staff] = (await create_key(conn, staff_id=staff))[1]
    async with httpx.AsyncClient(base_url=channel.base) as http:
        def auth(who: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {keys[who]}"}
        assert (await http.get("/mail/suspended", headers=auth("fiona"))).status_code == 403
        listed = await http.get("/mail/suspended", headers=auth("ana"))
        assert [r["message_id"] for r in listed.json()] == [spam["Message-ID"]]
        bad = await http.post("/mail/suspended/decision", headers=auth("ana"),
                              json={"message_id": spam["Message-ID"], "decision": "maybe"})
        assert bad.status_code == 422
        done = await http.post("/mail/suspended/decision", headers=auth("ana"),
                               json={"message_id": spam["Message-ID"], "decision": "release"})
        assert done.status_code == 200
        again = await http.post("/mail/suspended/decision", headers=auth("ana"),
                                json={"message_id": spam["Message-ID"], "decision": "reject"})
        assert again.status_code == 409
    row = await channel.processed(spam["Message-ID"])
    stack.started.append(row["crn"])
    assert row["outcome"] == "new_complaint"


async def test_the_acknowledgement_links_only_our_own_pages(trusted):
    channel, kite = trusted
    # A new sender's display name becomes the customer's name, which the email greets.
    msg = email(sender='"Win at http://evil.example/pay" <zoe@new.example>',
                subject="See http://evil.example/pay now")
    await deliver(channel, msg.as_bytes(), "zoe@new.example")
    crn = complaint_reference("email", msg["Message-ID"])
    ack = await channel.stack.mail_for(crn, "acknowledgement")
    html = ack.get_body(preferencelist=("html",)).get_content()
    assert "http://evil.example/pay" in html and 'href="http://evil.example' not in html
    assert f'href="{channel.base}/c/status/' in html


async def test_a_sender_failing_dmarc_without_a_policy_gets_no_acknowledgement(trusted):
    channel, _ = trusted
    # evil.example publishes p=none: processed (a complaint a person sees), never answered.
    msg = email(sender="Zed <zed@evil.example>")
    row = await deliver(channel, msg.as_bytes(), "zed@evil.example")
    assert (row["outcome"], row["dmarc"]) == ("new_complaint", "fail")
    deadline = time.monotonic() + 20
    while True:  # the complaint's acknowledgement is attempted once it is registered
        outbox = await channel.stack.rows(
            "SELECT sent_at, last_error FROM email_outbox WHERE crn = $1 AND "
            "kind = 'acknowledgement' AND (sent_at IS NOT NULL OR last_error IS NOT NULL)",
            row["crn"])
        if outbox or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert outbox and outbox[0]["sent_at"] is None, outbox
    assert outbox[0]["last_error"].startswith("suppressed: the sender failed DMARC")
    assert not channel.stack.mails(row["crn"], "acknowledgement")


# --- no message stalls the rest ------------------------------------------------------------


async def test_a_pathological_body_does_not_delay_an_ordinary_complaint(trusted):
    channel, kite = trusted
    stack = channel.stack
    heavy = email(subject="Heavy", body="On Mon, wrote " * 4300)  # 60 KB, one line
    ordinary = email(subject="Ordinary", body="My invoice is wrong.")
    started = time.monotonic()
    await asyncio.to_thread(channel.send, signed(kite, heavy))
    await asyncio.to_thread(channel.send, signed(kite, ordinary))
    crn = complaint_reference("email", ordinary["Message-ID"])
    stack.started.append(crn)
    await stack.mail_for(crn, "acknowledgement", timeout=20)
    assert time.monotonic() - started < 20
    row = await channel.processed(heavy["Message-ID"])
    stack.started.append(row["crn"])
    assert row["outcome"] == "new_complaint" and len(row["body"]) > 60_000  # kept whole


async def test_a_message_slower_than_the_limit_is_kept_unstripped_and_flagged(
        stack: ComplaintStack, zone: tuple[Zone, SigningDomain, str]):
    _, kite, server = zone
    stack.settings = replace(stack.settings, support_address=SUPPORT, inbound_verify_senders=True,
                             inbound_dns_server=server, inbound_parse_seconds=0.001)
    async with gateway(stack, stack.pool) as (handler, port), stack.worker():
        channel = Channel(stack, handler, port, "")
        heavy = email(subject="Heavy", body="Hello.\n\nOn Tue, 1 Dec 2026 at 10:00, Care "
                      "<care@example.com> wrote:\n> " + "On Mon, wrote " * 4300)
        row = await deliver(channel, signed(kite, heavy))
        assert row["outcome"] == "new_complaint"
        assert "kept unstripped" in row["flag"] and "> On Mon, wrote" in row["body"]


async def test_a_nul_subject_ends_failed_with_its_reason_and_nothing_left_running(trusted):
    channel, _ = trusted
    raw = (b"From: Zed <zed@evil.example>\r\nTo: support@example.com\r\n"
           b"Subject: =?utf-8?q?a=00b?=\r\nMessage-ID: <nul-1@kite.example>\r\n\r\nHello\r\n")
    row = await deliver(channel, raw, "zed@evil.example")
    assert row["outcome"] == "failed" and "NUL" in row["detail"]
    described = await channel.stack.client.get_workflow_handle(
        inbound_workflow_id("<nul-1@kite.example>")).describe()
    assert described.status.name == "COMPLETED"
    # A NUL in the body only: stripped, and the message is a complaint as usual.
    raw = raw.replace(b"=?utf-8?q?a=00b?=", b"Totals").replace(b"nul-1", b"nul-2").replace(
        b"Hello", b"Hel\x00lo")
    row = await deliver(channel, raw, "zed@evil.example")
    channel.stack.started.append(row["crn"])
    assert row["outcome"] == "new_complaint" and row["body"] == "Hello"


# --- the gateway's limits --------------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(tmp / "cert.pem"), str(tmp / "key.pem")


async def test_gateway_rates_connections_networks_long_lines_and_starttls(
        stack: ComplaintStack, tmp_path: Path):
    cert, key = _self_signed(tmp_path)
    stack.settings = replace(stack.settings, support_address=SUPPORT, inbound_rate_per_sender=2,
                             inbound_rate_per_ip=4, inbound_max_connections=2,
                             inbound_tls_cert=cert, inbound_tls_key=key)
    long_line = "x" * 9_990
    async with gateway(stack, stack.pool) as (_, port):
        def session() -> smtplib.SMTP:
            return smtplib.SMTP("127.0.0.1", port, timeout=10)

        def scenario() -> dict[str, Any]:
            seen: dict[str, Any] = {}
            with session() as smtp:
                smtp.starttls(context=ssl._create_unverified_context())  # noqa: S323 - self-signed
                smtp.ehlo()
                seen["tls"] = smtp.sock.version()
                for n in range(2):  # a 10,000-character line, as some clients write
                    raw = (f"From: {KITE}\r\nTo: {SUPPORT}\r\nSubject: n{n}\r\n"
                           f"Message-ID: <long-{n}@kite.example>\r\n\r\n{long_line}\r\n")
                    assert smtp.sendmail(KITE, [SUPPORT], raw.encode()) == {}
                    seen.setdefault("ids", []).append(f"<long-{n}@kite.example>")
                seen["sender"] = smtp.mail("kite@kite.example")
                smtp.rset()
                seen["other sender"] = smtp.mail("zed@new.example")
                smtp.rset()
                seen["ip"] = smtp.mail("zoe@new.example")
                smtp.rset()
                # Two sessions open (this one and the next): a third is turned away at once.
                with session() as second:
                    second.noop()
                    try:
                        session().close()
                        seen["third"] = None
                    except smtplib.SMTPConnectError as err:
                        seen["third"] = err.smtp_code
            return seen

        seen = await asyncio.to_thread(scenario)
    assert seen["tls"].startswith("TLS")
    assert seen["sender"][0] == 451 and b"this sender" in seen["sender"][1]
    assert seen["other sender"][0] == 250
    assert seen["ip"][0] == 451 and b"your address" in seen["ip"][1]
    assert seen["third"] == 421
    for message_id in seen["ids"]:
        rows = await stack.rows("SELECT body, raw FROM inbound_messages WHERE message_id = $1",
                                message_id)
        assert long_line.encode() in rows[0]["raw"]
    await stack.settle()


async def test_only_the_allowed_networks_may_connect(stack: ComplaintStack):
    stack.settings = replace(stack.settings, inbound_allowed_networks="10.0.0.0/8")
    async with gateway(stack, stack.pool) as (_, port):
        def connect() -> int:
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=10).close()
            except smtplib.SMTPConnectError as err:
                return err.smtp_code
            return 220
        assert await asyncio.to_thread(connect) == 554


async def test_an_unknown_sender_over_its_hourly_rate_is_suspended(stack: ComplaintStack):
    stack.settings = replace(stack.settings, support_address=SUPPORT,
                             inbound_unknown_sender_per_hour=2)
    async with gateway(stack, stack.pool) as (handler, port), stack.worker():
        channel = Channel(stack, handler, port, "")
        outcomes = []
        for n in range(3):
            msg = email(sender="Bulk <bulk@new.example>", subject=f"Offer {n}")
            row = await deliver(channel, msg.as_bytes(), "bulk@new.example")
            outcomes.append(row["outcome"])
        # A known customer is never held by the rate.
        for n in range(3):
            row = await deliver(channel, email(subject=f"Mine {n}").as_bytes())
            outcomes.append(row["outcome"])
    assert outcomes == ["new_complaint", "new_complaint", "suspended"] + ["new_complaint"] * 3


# --- outgoing headers ------------------------------------------------------------------------


def test_header_values_have_line_breaks_collapsed_and_errors_are_refusals():
    from activities.email import HeaderRefused, _header, compose
    row = {"recipients": ["tom@example.com"], "subject": "Escalated: x\r\nNote: y",
           "message_id": "<a@b>"}
    msg = compose("care@example.com", row, "body", {"X-Reason": "one\ntwo\rthree"})
    assert msg["Subject"] == "Escalated: x Note: y" and msg["Note"] is None
    assert msg["X-Reason"] == "one two three"
    assert b"\nNote:" not in msg.as_bytes()
    with pytest.raises(HeaderRefused):
        _header("caf\udce9", "Subject")  # a lone surrogate no charset can encode


async def test_an_escalation_reason_with_a_line_break_is_delivered_as_one_header(
        stack: ComplaintStack):
    from tests.scenarios import drive
    async with stack.worker():
        crn, _ = await drive(stack, "owner")
        await stack.act(crn, "escalate", m.EscalationRequest(actor="ana", reason="x\nNote: y"))
        mail = await stack.mail.wait_for(
            lambda x: x["X-Complaint-Reference"] == crn and x["To"] == "tom@example.com"
            and str(x["X-Complaint-Message-Kind"]).startswith("escalation:"))
    assert h(mail, "Subject").endswith("x Note: y") and mail["Note"] is None


# --- deciding suspended mail: the CLI and the console ------------------------------------------


async def _suspend(stack: ComplaintStack, n: int) -> str:
    """A message as the gateway stores one it held aside (spam)."""
    msg = email(subject=f"Held {n}", X_Spam_Flag="YES")
    raw = msg.as_bytes()
    assert await mailbox.store_inbound(stack.pool, msg["Message-ID"], KITE, raw,
                                       from_address=KITE, suspended="marked as spam upstream")
    return msg["Message-ID"]


async def test_suspended_mail_from_the_cli(stack: ComplaintStack, capsys, monkeypatch):
    from tests.cli_runner import Cli
    for var, value in {"TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
                       "DATABASE_URL": stack.settings.database_url,
                       "TASK_QUEUE": stack.settings.task_queue}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("TEMPORAL_NAMESPACE", raising=False)
    run = Cli(capsys)
    released, rejected = await _suspend(stack, 1), await _suspend(stack, 2)
    code, out, _ = await run("suspended", "list")
    assert code == 0 and released in out and rejected in out and "marked as spam" in out
    async with stack.worker():
        assert (await run("suspended", "reject", rejected, "--by", "tom"))[:2] == (
            0, f"rejected: {rejected}\n")
        code, _, err = await run("suspended", "release", rejected)
        assert code == 1 and "is not a suspended message" in err
        assert (await run("suspended", "release", released, "--by", "tom"))[0] == 0
        row = await Channel(stack, None, 0, "").processed(released)  # type: ignore[arg-type]
        stack.started.append(row["crn"])
        assert row["outcome"] == "new_complaint"
    code, out, _ = await run("suspended", "list")
    assert code == 0 and out == "no suspended messages\n"


async def test_suspended_mail_page_for_agents_and_team_leads(stack: ComplaintStack):
    from tests.console_stack import console_on, signed_in, token
    message_id = await _suspend(stack, 3)
    async with console_on(stack) as console:
        async with signed_in(console, "fiona") as fiona:  # the finance manager
            assert (await fiona.get("/console/suspended")).status_code == 403
        async with signed_in(console, "tom") as tom:
            page = await tom.get("/console/suspended")
            assert page.status_code == 200 and message_id.strip("<>") in page.text
            assert "marked as spam upstream" in page.text
            no_csrf = await tom.post("/console/suspended/decide", data={
                "message_id": message_id, "decision": "release"})
            assert no_csrf.status_code == 403
            done = await tom.post("/console/suspended/decide", data={
                "csrf_token": token(page.text), "message_id": message_id,
                "decision": "release"})
            assert done.status_code == 303
            again = await tom.post("/console/suspended/decide", data={
                "csrf_token": token(page.text), "message_id": message_id,
                "decision": "reject"})
            assert again.status_code == 409
        row = await Channel(stack, None, 0, "").processed(message_id)  # type: ignore[arg-type]
        stack.started.append(row["crn"])
        assert row["outcome"] == "new_complaint"


async def test_a_guessable_message_id_from_before_threads_only_when_authenticated(trusted, zone):
    channel, _ = trusted
    stack = channel.stack
    legacy = add_domain(zone[0], "legacy.example", dmarc="none")
    msg = email(sender="Ann <ann@legacy.example>")
    assert (await deliver(channel, signed(legacy, msg), "ann@legacy.example"))["authenticated"]
    crn = complaint_reference("email", msg["Message-ID"])
    ack = await stack.mail_for(crn, "acknowledgement")
    # Mail sent before Message-IDs were random carried `<CRN.kind@domain>`, which anyone who
    # knows the CRN can write.
    old_id = f"<{crn}.acknowledgement@example.com>"
    async with stack.pool.acquire() as conn:
        await conn.execute("UPDATE email_outbox SET message_id = $2 WHERE crn = $1 AND "
                           "kind = 'acknowledgement'", crn, old_id)
    del ack["Message-ID"]
    ack["Message-ID"] = old_id
    unsigned = reply_to(ack, "Please close it.", sender="Ann <ann@legacy.example>")
    # Without the [CRN-…] in the subject (that path takes the customer's address, and the
    # reply is then recorded as unauthenticated): only the old id could thread it.
    del unsigned["Subject"]
    unsigned["Subject"] = "Re: your email"
    row = await deliver(channel, unsigned.as_bytes(), "ann@legacy.example")
    assert (row["outcome"], row["authenticated"]) == ("new_complaint", False)
    assert row["crn"] != crn
    proven = reply_to(ack, "Still broken.", sender="Ann <ann@legacy.example>")
    del proven["Subject"]
    proven["Subject"] = "Re: your email"
    row = await deliver(channel, signed(legacy, proven), "ann@legacy.example")
    assert (row["outcome"], row["crn"]) == ("reply", crn)


async def test_an_email_that_can_never_go_out_is_recorded_failed_and_the_owner_told(
        stack: ComplaintStack, tmp_path):
    """A broken template (or a header no charset encodes) fails without retries: the
    timeline records why, and the owner is emailed once so the customer is not left
    waiting for a message that never comes."""
    import shutil
    from dataclasses import replace

    from tests.scenarios import drive
    templates = tmp_path / "templates"
    shutil.copytree(stack.settings.templates_dir, templates)
    (templates / "email" / "customer_update.txt.j2").write_text(
        "Subject: [{{ crn }}] {{ no_such_field }}\n\nbody\n")
    stack.settings = replace(stack.settings, templates_dir=templates)
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        owner = state.owner or ""
        await stack.act(crn, "send_customer_update", m.CustomerUpdate(
            actor=owner, message="We are testing the export fix today."))
        told = await stack.mail_for(crn, "email_failed:customer_update:1")
        assert told["To"] == "sam@example.com" and "could not be" in str(told.get_body(
            preferencelist=("plain",)).get_content())
        failed = [e for e in (await stack.status(crn)).timeline if e.event == "email_failed"]
        assert [e.detail.split(":")[0] for e in failed] == ["customer_update"]
        assert "no_such_field" in (failed[0].reason or "")
    assert not stack.mails(crn, "customer_update")
