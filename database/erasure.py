"""Erasure on request (`complaints erase CUSTOMER_ID`): a customer's personal data leaves
PostgreSQL, and the numbers reports are made of stay.

What goes: the profile's name, email and phone; each complaint's customer name and email,
subject, description and external reference; the free text of every event (detail, reason);
the emails' recipients, subjects and bodies; the archive snapshots; the customer's inbound
messages (raw bytes, addresses, subject, body) and their attachments' names and contents;
the internal notes; the answers given through links; the personal part of webhook events
queued for them. What stays: ids, CRNs, dates, statuses, severities,
categories, deadlines and their outcomes, escalation levels, amounts, scores, sizes: every
count and sum a report computes.

Which tables hold a customer's data is one list, database/personal_data.py, that export
works from too: erasure handles each table on it (blanked, or kept as ids and numbers) and
refuses to finish if one was left out.

One transaction: all of it or nothing. `erasures` records who, when and which complaints;
the resolution log's append-only trigger admits this one change (0009_erasure.sql).
Complaints whose workflow still runs are refused (`StillOpen`, naming them): a running
complaint would write its data back. Temporal's copy (encrypted) leaves with the namespace's
retention period.

A customer the email channel created has an id derived from their address (an unsalted
hash, activities/inbound.py): anyone with a guess at the address could hash it and find
the erased record. Erasure gives such a customer a random id (`erased-<64 random bits>`)
everywhere PostgreSQL holds it (the profile, orders and refunds by cascade, complaints,
their own actions in the resolution log, the erasure record); an id from the CRM, which
says nothing about the address, stays.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

import asyncpg

from database.personal_data import CUSTOMER_TABLES, check_covered, table

ERASED = "[erased]"
ERASED_ID_PREFIX = "erased-"


def address_derived_id(address: str) -> str:
    """The id the email channel gives a sender it does not know (activities/inbound.py)."""
    return "email-" + hashlib.sha256(address.encode()).hexdigest()[:12]


def erased_id(customer_id: str, addresses: set[str]) -> str:
    """The id the customer keeps once erased: a random one in place of an id derived from
    one of their addresses (either case, as the channel saw it), else their own."""
    derived = {address_derived_id(a) for a in addresses}
    if customer_id in derived:
        return ERASED_ID_PREFIX + secrets.token_hex(8)
    return customer_id


class UnknownCustomer(LookupError):
    """No profile and no complaint under this customer id."""


@dataclass(frozen=True)
class Erasure:
    id: int
    customer_id: str  # the id they keep: a new random one if theirs came from their address
    complaints: list[str]
    rows_changed: dict[str, int]


async def complaints_of(conn: asyncpg.Connection, customer_id: str) -> list[str]:
    rows = await conn.fetch("SELECT crn FROM complaints WHERE customer_id = $1 ORDER BY crn",
                            customer_id)
    return [r["crn"] for r in rows]


async def erase_customer(conn: asyncpg.Connection, customer_id: str, erased_by: str) -> Erasure:
    """Erase now; the caller has made sure none of the complaints still runs."""
    async with conn.transaction():
        profile = await conn.fetchrow("SELECT email FROM customers WHERE id = $1 FOR UPDATE",
                                      customer_id)
        crns = await complaints_of(conn, customer_id)
        if profile is None and not crns:
            raise UnknownCustomer(f"no customer {customer_id!r} and no complaint of theirs")
        addresses = {a.lower() for a in [profile["email"] if profile else None] if a}
        addresses |= {r["e"].lower() for r in await conn.fetch(
            "SELECT DISTINCT customer_email AS e FROM complaints WHERE crn = ANY($1) "
            "AND customer_email IS NOT NULL", crns)}
        new_id = erased_id(customer_id, addresses)
        erasure_id = await conn.fetchval(
            "INSERT INTO erasures (customer_id, erased_by, complaints, rows_changed) "
            "VALUES ($1, $2, $3, '{}') RETURNING id", new_id, erased_by, crns)
        await conn.execute("SELECT set_config('complaints.erasure', $1, true)", str(erasure_id))
        changed: dict[str, int] = {}
        tables = list(CUSTOMER_TABLES)

        async def run(name: str, sql: str, *args) -> None:
            assert table(name).erased, f"{name} is kept by erasure (personal_data.py)"
            status = await conn.execute(sql, *args)
            changed[name] = changed.get(name, 0) + int(status.rsplit(" ", 1)[-1])

        for kept in tables:  # ids, amounts and dates only: they stay for the reports
            if not kept.erased:
                changed[kept.name] = 0

        await run("customers", "UPDATE customers SET name = $2, email = NULL, phone = NULL "
                  "WHERE id = $1", customer_id, ERASED)
        await run("complaints", """UPDATE complaints SET customer_name = NULL,
                  customer_email = NULL, subject = $2, description = $2,
                  external_ref = 'erased:' || crn WHERE crn = ANY($1)""", crns, ERASED)
        await run("complaint_events", """UPDATE complaint_events
                  SET detail = CASE WHEN detail = '' THEN '' ELSE $2 END,
                      reason = CASE WHEN reason IS NULL THEN NULL ELSE $2 END
                  WHERE crn = ANY($1) AND (detail <> '' OR reason IS NOT NULL)""", crns, ERASED)
        await run("email_outbox", """UPDATE email_outbox SET recipients = '{}', subject = $2,
                  body = $2, last_error = NULL WHERE crn = ANY($1)""", crns, ERASED)
        await run("notes", "UPDATE notes SET body = $2 WHERE crn = ANY($1)", crns, ERASED)
        await run("complaint_archive", """UPDATE complaint_archive
                  SET snapshot = jsonb_build_object('erasure', $2::bigint) WHERE crn = ANY($1)""",
                  crns, erasure_id)
        await run("customer_link_uses", "UPDATE customer_link_uses SET answer = '{}' "
                  "WHERE crn = ANY($1)", crns)
        # Webhook events queued with the personal payload (an HTTPS subscription that asked
        # for it) lose it; their customer id follows the erasure's.
        await run("staff_alerts", "UPDATE staff_alerts SET summary = $2 WHERE crn = ANY($1)",
                  crns, ERASED)
        await run("webhook_events", """UPDATE webhook_events
                  SET body = jsonb_set(body::jsonb #- '{data,personal}', '{data,customer_id}',
                                       to_jsonb($2::text), false)::text
                  WHERE crn = ANY($1)""", crns, new_id)
        inbound = """(crn = ANY($1) OR lower(from_address) = ANY($2)
                      OR lower(envelope_from) = ANY($2))"""
        await run("inbound_attachments", f"""UPDATE inbound_attachments SET filename = NULL,
                  content = NULL WHERE message_id IN (SELECT message_id FROM inbound_messages
                  WHERE {inbound})""", crns, sorted(addresses))  # nosec B608 # constant SQL
        await run("inbound_messages", f"""UPDATE inbound_messages SET raw = ''::bytea,
                  envelope_from = '', from_address = NULL, subject = NULL, body = NULL,
                  detail = NULL, helo = NULL, auth_reason = NULL WHERE {inbound}""", crns, sorted(addresses))  # nosec B608 # constant SQL
        if new_id != customer_id:
            await run("customers", "UPDATE customers SET id = $2 WHERE id = $1",
                      customer_id, new_id)  # orders and refunds follow (ON UPDATE CASCADE)
            await run("complaints", "UPDATE complaints SET customer_id = $2 "
                      "WHERE customer_id = $1", customer_id, new_id)
            await run("complaint_events", "UPDATE complaint_events SET actor = $3 "
                      "WHERE crn = ANY($1) AND actor = $2", crns, f"customer:{customer_id}",
                      f"customer:{new_id}")
            await conn.execute("UPDATE exports SET customer_id = $2 WHERE customer_id = $1",
                               customer_id, new_id)
        check_covered("erasure", tables, set(changed))  # raises: the transaction rolls back
        await conn.execute("UPDATE erasures SET rows_changed = $2 WHERE id = $1", erasure_id,
                           json.dumps(changed))
    return Erasure(erasure_id, new_id, crns, changed)
