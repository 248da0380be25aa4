"""A customer's data on request (`complaints export customer CUSTOMER_ID`, and the console's
action for the head of customer success): one zip archive of everything PostgreSQL holds
about one customer, the pair of erasure (database/erasure.py).

The archive holds `customer.json`, under `attachments/` the files they sent, and under
`messages/` each email of theirs whose text was never read (held aside, refused, failed),
as it arrived. The JSON
has the profile, their orders, credit notes and refunds, each complaint with its timeline,
its archived snapshot, the emails sent about it and received for it (with their
attachments), the answers given through links and (only when the policy's
`data_requests.notes_disclosable` says so) staff's internal notes; the emails received from
their address that no complaint took (suspended or refused); the records of erasures and
exports of their data. `tables` counts the rows taken from each table: every row once.

Which tables: database/personal_data.py, the list erasure works from too; an export that
left one out is refused before anything is written. Read in one REPEATABLE READ transaction
(one consistent picture), and recorded in `exports` (who, when, which complaints, how many
rows, the archive's SHA-256) in that same transaction: no archive without its record.
The archive is handed to whoever asked; the product keeps no copy.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from database.erasure import UnknownCustomer, complaints_of
from database.personal_data import CUSTOMER_TABLES, check_covered

FORMAT = "customer-data-export"
VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CustomerExport:
    id: int
    customer_id: str
    exported_by: str
    exported_at: datetime
    complaints: list[str]
    items: dict[str, int]  # rows per table
    archive: bytes  # the zip
    sha256: str


def _rows(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    # to_jsonb: PostgreSQL's own JSON of each row; numbers kept exact (as strings)
    return [json.loads(r["row"], parse_float=str) for r in records]


async def _fetch(conn: asyncpg.Connection, table: str, where: str, *args: Any,
                 drop: tuple[str, ...] = (), order: str = "") -> list[dict[str, Any]]:
    minus = "".join(f" - '{column}'" for column in drop)
    sql = (f"SELECT (to_jsonb(t){minus})::text AS row FROM {table} t "  # nosec B608 # names from the code
           f"WHERE {where} {order}")
    return _rows(await conn.fetch(sql, *args))


def _file_name(n: int, attachment: dict[str, Any]) -> str:
    name = _UNSAFE.sub("_", attachment.get("filename") or "attachment").strip("._") or "file"
    return f"attachments/{n:04d}-{name[:100]}"


async def export_customer(conn: asyncpg.Connection, customer_id: str, exported_by: str,
                          notes_disclosable: bool) -> CustomerExport:
    """Everything about `customer_id`, as a zip in memory, recorded in `exports`. Raises
    UnknownCustomer (and records nothing) when there is no profile and no complaint."""
    async with conn.transaction(isolation="repeatable_read"):
        profile = await _fetch(conn, "customers", "id = $1", customer_id)
        crns = await complaints_of(conn, customer_id)
        if not profile and not crns:
            raise UnknownCustomer(f"no customer {customer_id!r} and no complaint of theirs")
        record = await conn.fetchrow(
            "INSERT INTO exports (customer_id, exported_by, complaints, items, sha256) "
            "VALUES ($1, $2, $3, '{}', '') RETURNING id, exported_at",
            customer_id, exported_by, crns)
        addresses = sorted({a.lower() for a in [profile[0]["email"] if profile else None] if a}
                           | {r["e"].lower() for r in await conn.fetch(
                               "SELECT DISTINCT customer_email AS e FROM complaints "
                               "WHERE crn = ANY($1) AND customer_email IS NOT NULL", crns)})
        tables = list(CUSTOMER_TABLES)
        by_crn = "crn = ANY($1)"
        got: dict[str, list[dict[str, Any]]] = {
            "customers": profile,
            "orders": await _fetch(conn, "orders", "customer_id = $1", customer_id,
                                   order="ORDER BY id"),
            "credit_notes": await _fetch(
                conn, "credit_notes", "order_id IN (SELECT id FROM orders WHERE customer_id "
                "= $1) OR crn = ANY($2)", customer_id, crns, order="ORDER BY created_at, id"),
            "refunds": await _fetch(conn, "refunds", "customer_id = $1 OR crn = ANY($2)",
                                    customer_id, crns, order="ORDER BY applied_at, crn"),
            # Less the search index's document (their words again, as lexemes).
            "complaints": await _fetch(conn, "complaints", by_crn, crns, drop=("search",),
                                       order="ORDER BY crn"),
            "complaint_events": await _fetch(conn, "complaint_events", by_crn, crns,
                                             order="ORDER BY crn, seq"),
            "complaint_archive": await _fetch(conn, "complaint_archive", by_crn, crns),
            "email_outbox": await _fetch(conn, "email_outbox", by_crn, crns,
                                         order="ORDER BY created_at, id"),
            "inbound_messages": await _fetch(
                conn, "inbound_messages", "crn = ANY($1) OR lower(from_address) = ANY($2) "
                "OR lower(envelope_from) = ANY($2)", crns, addresses, drop=("raw",),
                order="ORDER BY received_at, message_id"),
            "webhook_events": await _fetch(conn, "webhook_events", by_crn, crns,
                                           order="ORDER BY id"),
            "staff_alerts": await _fetch(conn, "staff_alerts", by_crn, crns,
                                         order="ORDER BY id"),
            "customer_link_uses": await _fetch(conn, "customer_link_uses", by_crn, crns,
                                               order="ORDER BY used_at"),
            "erasures": await _fetch(conn, "erasures", "customer_id = $1", customer_id,
                                     order="ORDER BY id"),
            "exports": await _fetch(conn, "exports", "customer_id = $1 AND id <> $2",
                                    customer_id, record["id"], order="ORDER BY id"),
        }
        message_ids = [m["message_id"] for m in got["inbound_messages"]]
        attachments = await conn.fetch(
            "SELECT (to_jsonb(a) - 'content')::text AS row, content FROM inbound_attachments a "
            "WHERE message_id = ANY($1) ORDER BY message_id, n", message_ids)
        got["inbound_attachments"] = _rows(attachments)
        withheld = None
        if notes_disclosable:
            got["notes"] = await _fetch(conn, "notes", by_crn, crns)
        else:
            got["notes"] = []
            withheld = ("Staff's internal notes on these complaints are not disclosed "
                        "under the current policy (data_requests.notes_disclosable).")
        check_covered("export", tables, set(got))
        items = {name: len(rows) for name, rows in got.items()}
        files: dict[str, bytes] = {}
        # A message whose text was never recorded (held aside, refused, failed) is only in
        # its original bytes: those go in whole, as the .eml they arrived as.
        unread = [m["message_id"] for m in got["inbound_messages"] if m.get("body") is None]
        originals = {r["message_id"]: bytes(r["raw"]) for r in await conn.fetch(
            "SELECT message_id, raw FROM inbound_messages WHERE message_id = ANY($1)", unread)}
        for n, message in enumerate(got["inbound_messages"]):
            if message["message_id"] in originals:
                message["original"] = f"messages/{n + 1:04d}.eml"
                files[message["original"]] = originals[message["message_id"]]
        for n, (row, a) in enumerate(zip(got["inbound_attachments"], attachments, strict=True)):
            if a["content"] is not None:
                row["file"] = _file_name(n + 1, row)
                files[row["file"]] = bytes(a["content"])
            else:
                row["file"] = None  # over the size bound when it arrived: never stored
        document = _document(customer_id, record, exported_by, got, items, withheld)
        archive = _zip(document, files)
        digest = hashlib.sha256(archive).hexdigest()
        await conn.execute("UPDATE exports SET items = $2, sha256 = $3 WHERE id = $1",
                           record["id"], json.dumps(items), digest)
    return CustomerExport(record["id"], customer_id, exported_by, record["exported_at"], crns,
                          items, archive, digest)


def _document(customer_id: str, record: asyncpg.Record, exported_by: str,
              got: dict[str, list[dict[str, Any]]], items: dict[str, int],
              withheld: str | None) -> dict[str, Any]:
    """customer.json: the rows, each once, placed where a reader looks for them."""
    def of(table: str, crn: str) -> list[dict[str, Any]]:
        return [r for r in got[table] if r.get("crn") == crn]

    attachments: dict[str, list[dict[str, Any]]] = {}
    for a in got["inbound_attachments"]:
        attachments.setdefault(a["message_id"], []).append(a)
    received = [{**m, "attachments": attachments.get(m["message_id"], [])}
                for m in got["inbound_messages"]]
    crns = {c["crn"] for c in got["complaints"]}
    archived = {a["crn"]: a for a in got["complaint_archive"]}
    complaints = [{
        **c,
        "timeline": of("complaint_events", c["crn"]),
        "archived": archived.get(c["crn"]),
        "emails_sent": of("email_outbox", c["crn"]),
        "emails_received": [m for m in received if m.get("crn") == c["crn"]],
        "answers": of("customer_link_uses", c["crn"]),
        "refunds": of("refunds", c["crn"]),
        "notes": of("notes", c["crn"]),
    } for c in got["complaints"]]
    return {
        "format": FORMAT, "version": VERSION, "customer_id": customer_id,
        "export": {"id": record["id"], "exported_by": exported_by,
                   "exported_at": record["exported_at"].isoformat()},
        "profile": got["customers"][0] if got["customers"] else None,
        "orders": got["orders"],
        "credit_notes": got["credit_notes"],
        "refunds_without_complaint": [r for r in got["refunds"] if r["crn"] not in crns],
        "complaints": complaints,
        "emails_received_without_complaint": [m for m in received if m.get("crn") not in crns],
        "erasures": got["erasures"],
        "earlier_exports": got["exports"],
        "notes_withheld": withheld,
        "tables": items,
    }


def _zip(document: dict[str, Any], files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("customer.json", json.dumps(document, indent=2, ensure_ascii=False))
        for name, content in files.items():
            z.writestr(name, content)
    return out.getvalue()


def write_archive(export: CustomerExport, path: Path) -> None:
    """The archive to `path`, written whole or not at all (a temporary file renamed)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(export.archive)
    partial.replace(path)
