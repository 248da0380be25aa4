"""A customer's data on request through the real parts: complaints by API and by email (the
gateway, the worker on the time-skipping server, PostgreSQL, the SMTP sink), a refund, then
`complaints export customer` (the CLI, in-process): every item once in the archive; then
`complaints erase`, after which the archive is the only copy. And the coverage: erasure and
export work from one list of tables (database/personal_data.py), and every table with
personal-looking columns is on it or named as holding no customer's data."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from database.erasure import erase_customer
from database.export import export_customer
from database.personal_data import CUSTOMER_TABLES, NOT_CUSTOMER_DATA
from tests import mail_channel
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack
from tests.mail_channel import Channel, email, reply_to
from tests.personal_search import where_it_appears
from tests.scenarios import agree_to_refund
from workflows.events import Event
from workflows.models import complaint_reference

BLOOM = "hello@bloom.example"  # cust-bloom in the demo seed: Bloom Florists, ord-2001
PDF = b"%PDF-1.4 the duplicate invoice INV-7731"
TOTALS = b"invoice,amount\nINV-7731,768.00\n"
SUBJECT = "Invoiced twice for March"
FIRST = "We were invoiced twice for March; the invoice is attached."
SECOND = "Here are the totals as our bookkeeper sees them."
HELD = "Bloom Florists: spring order enquiry"  # held aside (suspended) as spam
PERSONAL = ("Bloom Florists", "Mia Bloom", BLOOM, "+44 20 7946 0002", SUBJECT, FIRST[:40],
            SECOND[:30], "INV-7731", HELD)
channel = mail_channel.channel  # the fixture: the gateway, the worker and the pages
# Column names that say a table may hold a person's data.
PERSONAL_LOOKING = re.compile(
    r"customer|email|address|name|phone|body|subject|description|raw|content|answer|"
    r"snapshot|recipients|^text$|detail|reason|message|note|helo|peer_ip")


@pytest.fixture
def cli_env(stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
    monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)


async def _bloom_by_email(channel: Channel) -> tuple[str, list[str]]:
    """A complaint by email with a PDF, a reply with a CSV, and a message held aside as spam;
    (crn, the message ids)."""
    stack = channel.stack
    first = email(sender=f"Mia Bloom <{BLOOM}>", subject=SUBJECT, body=FIRST)
    first.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    assert await channel.deliver(first, envelope_from=BLOOM) == "new_complaint"
    crn = complaint_reference("email", first["Message-ID"])
    ack = await stack.mail_for(crn, "acknowledgement")
    second = reply_to(ack, SECOND, sender=f"Mia Bloom <{BLOOM}>")
    second.add_attachment(TOTALS, maintype="text", subtype="csv", filename="totals.csv")
    assert await channel.deliver(second, envelope_from=BLOOM) == "reply"
    await stack.until(crn, lambda s: {Event.attachments_received, Event.customer_replied}
                      <= {e.event for e in s.timeline})
    held = email(sender=f"Mia Bloom <{BLOOM}>", subject=HELD, body="Seen as spam upstream.",
                 X_Spam_Flag="YES")
    assert await channel.deliver(held, envelope_from=BLOOM) == "suspended"
    return crn, [r["message_id"] for r in await stack.rows(
        "SELECT message_id FROM inbound_messages ORDER BY received_at")]


def _read(archive: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(archive) as z:
        files = {n: z.read(n) for n in z.namelist()}
    return json.loads(files.pop("customer.json")), files


async def test_an_export_holds_each_item_once_and_after_erasure_is_the_only_copy(
        channel: Channel, cli_env: None, capsys: Any, tmp_path: Path):
    stack = channel.stack
    refunded, _ = await agree_to_refund(stack, "40.00")
    await stack.until(refunded, lambda s: s.refund.status == "applied")
    emailed, message_ids = await _bloom_by_email(channel)
    assert len(message_ids) == 3
    assert {r["customer_id"] for r in await stack.rows("SELECT customer_id FROM complaints")} \
        == {"cust-bloom"}
    await stack.settle()

    out = tmp_path / "bloom.zip"
    code, printed, err = await Cli(capsys)("export", "customer", "cust-bloom", "--out",
                                           str(out), "--by", "dpo-helen")
    assert code == 0, err
    assert "exported cust-bloom" in printed and "2 complaint(s)" in printed
    doc, files = _read(out)

    # The profile, and each complaint once with its whole timeline, in order.
    assert doc["profile"]["name"] == "Bloom Florists" and doc["profile"]["email"] == BLOOM
    assert sorted(c["crn"] for c in doc["complaints"]) == sorted([refunded, emailed])
    for c in doc["complaints"]:
        logged = await stack.rows("SELECT seq FROM complaint_events WHERE crn = $1 "
                                  "ORDER BY seq", c["crn"])
        assert [e["seq"] for e in c["timeline"]] == [r["seq"] for r in logged]
    # Messages in: both emails, once each, on the complaint they belong to, each with its file.
    received = [m for c in doc["complaints"] for m in c["emails_received"]]
    received += doc["emails_received_without_complaint"]
    assert sorted(m["message_id"] for m in received) == sorted(message_ids)
    assert {m["crn"] for m in received} == {emailed, None}
    # The one held aside as spam: its text was never read, so it is there as it arrived.
    suspended = doc["emails_received_without_complaint"]
    assert [m["outcome"] for m in suspended] == ["suspended"]
    original = files[suspended[0]["original"]]
    assert HELD.encode() in original and b"X-Spam-Flag: YES" in original
    assert [m["body"] for m in received if m["subject"] == SUBJECT][0].startswith(FIRST)
    exported_files = [a["file"] for m in received for a in m["attachments"]]
    attachments = {n: f for n, f in files.items() if n.startswith("attachments/")}
    assert sorted(exported_files) == sorted(attachments) and len(attachments) == 2  # once
    assert sorted(attachments.values()) == sorted([PDF, TOTALS])
    assert sorted(files) == sorted([*attachments, suspended[0]["original"]])
    # Messages out: every outbox row of both complaints, once.
    sent = Counter(e["id"] for c in doc["complaints"] for e in c["emails_sent"])
    outbox = await stack.rows("SELECT id FROM email_outbox WHERE crn = ANY($1)",
                              [refunded, emailed])
    assert sent == Counter(r["id"] for r in outbox) and len(outbox) >= 3
    # The refund, once, on its complaint.
    refunds = [r for c in doc["complaints"] for r in c["refunds"]]
    refunds += doc["refunds_without_complaint"]
    assert [(r["crn"], r["amount"]) for r in refunds] == [(refunded, "40.00")]
    # The index counts what PostgreSQL holds, table by table.
    assert doc["tables"]["complaints"] == 2 and doc["tables"]["inbound_attachments"] == 2
    assert doc["tables"]["refunds"] == 1 and doc["tables"]["customers"] == 1
    assert doc["notes_withheld"] is None or "not disclosed" in doc["notes_withheld"]
    # The export is recorded: who, when, which complaints, which file.
    record = (await stack.rows("SELECT * FROM exports"))[0]
    assert (record["customer_id"], record["exported_by"], sorted(record["complaints"])) == (
        "cust-bloom", "dpo-helen", sorted([refunded, emailed]))
    assert record["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert doc["export"]["id"] == record["id"]

    async with stack.pool.acquire() as conn:
        for needle in PERSONAL:
            assert await where_it_appears(conn, needle), needle  # the search finds them
    code, printed, err = await Cli(capsys)("erase", "cust-bloom", "--yes", "--by", "dpo-helen",
                                           "--withdraw-open")
    assert code == 0, err
    async with stack.pool.acquire() as conn:
        for needle in PERSONAL:
            assert await where_it_appears(conn, needle) == [], needle
        assert await where_it_appears(conn, "INV-7731,768.00") == []
    # ... and the archive still holds all of it, unchanged: the only copy.
    assert hashlib.sha256(out.read_bytes()).hexdigest() == record["sha256"]
    doc_after, files_after = _read(out)
    assert json.dumps(doc_after) == json.dumps(doc) and files_after == files
    dumped = json.dumps(doc, ensure_ascii=False)
    for needle in PERSONAL:
        assert needle in dumped or any(needle.encode() in f for f in files.values()), needle


async def test_exporting_a_customer_nobody_knows_is_refused_and_records_nothing(
        stack: ComplaintStack, cli_env: None, capsys: Any, tmp_path: Path):
    out = tmp_path / "nobody.zip"
    code, _, err = await Cli(capsys)("export", "customer", "cust-nobody", "--out", str(out))
    assert code != 0 and "no customer 'cust-nobody'" in err and "nothing was exported" in err
    assert not out.exists() and await stack.rows("SELECT * FROM exports") == []
    out.write_bytes(b"someone's earlier file")
    code, _, err = await Cli(capsys)("export", "customer", "cust-bloom", "--out", str(out))
    assert code != 0 and "exists already" in err
    assert out.read_bytes() == b"someone's earlier file"
    assert await stack.rows("SELECT * FROM exports") == []


async def test_every_table_with_personal_data_is_covered_by_both_erasure_and_export(
        seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        columns = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'")
        looking = {c["table_name"] for c in columns if PERSONAL_LOOKING.search(c["column_name"])}
        listed = {t.name for t in CUSTOMER_TABLES}
        assert "notes" in listed  # staff's notes: covered as soon as the table exists
        assert not listed & set(NOT_CUSTOMER_DATA)
        unclassified = looking - listed - set(NOT_CUSTOMER_DATA)
        assert unclassified == set(), (
            f"{sorted(unclassified)} may hold a customer's personal data: add each to "
            "database/personal_data.py (and teach erasure and export) or to NOT_CUSTOMER_DATA")
        assert {"customers", "complaints", "inbound_messages", "staff"} <= looking
        # Both cover the same tables: every one of the list this database has.
        present = {t.name for t in CUSTOMER_TABLES}
        exported = await export_customer(conn, "cust-kite", "test", notes_disclosable=True)
        erased = await erase_customer(conn, "cust-kite", "test")
        assert set(exported.items) == set(erased.rows_changed) == present


NOTE = "Mia said on the phone that her solicitor is involved"


async def test_notes_are_exported_only_when_disclosable_and_erased_with_the_rest(
        seeded: asyncpg.Pool):
    """Staff's internal notes (the desk's notes table) go into an export only when the
    policy discloses them, and an erasure blanks them with the rest."""
    async with seeded.acquire() as conn:
        await conn.execute(
            """INSERT INTO complaints (crn, source, external_ref, customer_id, customer_name,
               subject, description, severity, severity_score, status, phase, policy_name,
               received_at) VALUES ('CMP-NOTE-1', 'api', 'n-1', 'cust-bloom', 'Mia Bloom',
               'Late delivery', 'The flowers came late', 3, 30, 'new', 'triage', 'default',
               now())""")
        await conn.execute("INSERT INTO notes (crn, request_id, author, body) "
                           "VALUES ('CMP-NOTE-1', 'r-1', 'ana', $1)", NOTE)
        withheld = await export_customer(conn, "cust-bloom", "dpo", notes_disclosable=False)
        disclosed = await export_customer(conn, "cust-bloom", "dpo", notes_disclosable=True)
        for export, has_note in ((withheld, False), (disclosed, True)):
            with zipfile.ZipFile(io.BytesIO(export.archive)) as z:
                doc = json.loads(z.read("customer.json"))
            notes = [n["body"] for c in doc["complaints"] for n in c["notes"]]
            assert notes == ([NOTE] if has_note else [])
            assert (doc["notes_withheld"] is None) is has_note
        erased = await erase_customer(conn, "cust-bloom", "dpo")
        assert erased.rows_changed["notes"] == 1
        assert await where_it_appears(conn, "solicitor") == []
