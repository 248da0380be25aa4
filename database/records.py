"""Reading the records a complaint is about: the roster member, the customer's profile, the
order with its credit notes, and the complaint's own row. The workflow's context activity
(store.py) and the staff console (starter/console/) read them the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from workflows.records import CreditNote, CustomerProfile, Order, StaffMember


def staff_member(row: asyncpg.Record) -> StaffMember:
    return StaffMember(
        id=row["id"], name=row["name"], email=row["email"], role=row["role"],
        skills=list(row["skills"]), available=row["available"], team=row["team"],
    )


async def read_profile(conn: asyncpg.Connection, customer_id: str) -> CustomerProfile | None:
    row = await conn.fetchrow("SELECT * FROM customers WHERE id = $1", customer_id)
    if row is None:
        return None
    return CustomerProfile(**{k: row[k] for k in CustomerProfile.model_fields})


async def read_order(conn: asyncpg.Connection, order_id: str | None) -> Order | None:
    """The order with its credit notes, oldest first; None for no order or an unknown one."""
    if not order_id:
        return None
    row = await conn.fetchrow("SELECT * FROM orders WHERE id = $1", order_id)
    if row is None:
        return None
    notes = await conn.fetch(
        "SELECT id, amount FROM credit_notes WHERE order_id = $1 ORDER BY created_at, id",
        order_id)
    return Order(id=row["id"], customer_id=row["customer_id"], net_amount=row["net_amount"],
                 tax_rate=row["tax_rate"], currency=row["currency"],
                 credit_notes=[CreditNote(id=n["id"], amount=n["amount"]) for n in notes])


@dataclass(frozen=True)
class Headline:
    """What a queue line shows that visibility does not hold: subject and customer name."""

    subject: str
    customer_name: str | None


async def headlines(pool: asyncpg.Pool, crns: list[str]) -> dict[str, Headline]:
    """One query for a page of complaints (a row appears a moment after intake)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT crn, subject, customer_name FROM complaints WHERE crn = ANY($1::text[])",
            crns)
    return {r["crn"]: Headline(r["subject"], r["customer_name"]) for r in rows}


@dataclass(frozen=True)
class EarlierComplaintLine:
    crn: str
    subject: str
    status: str
    received_at: datetime


@dataclass(frozen=True)
class ComplaintFile:
    """The complaint page's records: its description, the customer, the order, and the
    customer's other complaints (newest first)."""

    description: str | None
    customer_name: str | None
    customer_email: str | None
    profile: CustomerProfile | None
    order: Order | None
    earlier: list[EarlierComplaintLine]


async def complaint_file(pool: asyncpg.Pool, crn: str, customer_id: str) -> ComplaintFile:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT description, customer_name, customer_email, order_id FROM complaints "
            "WHERE crn = $1", crn)
        profile = await read_profile(conn, customer_id)
        order = await read_order(conn, row["order_id"] if row else None)
        earlier = await conn.fetch(
            """SELECT crn, subject, status, received_at FROM complaints
               WHERE customer_id = $1 AND crn <> $2 ORDER BY received_at DESC LIMIT 20""",
            customer_id, crn)
    return ComplaintFile(
        description=row["description"] if row else None,
        customer_name=row["customer_name"] if row else None,
        customer_email=row["customer_email"] if row else None,
        profile=profile, order=order,
        earlier=[EarlierComplaintLine(**dict(r)) for r in earlier])


async def roster(pool: asyncpg.Pool) -> list[StaffMember]:
    async with pool.acquire() as conn:
        return [staff_member(r) for r in await conn.fetch("SELECT * FROM staff ORDER BY id")]


async def staff_by_id(conn: asyncpg.Connection | asyncpg.Pool,
                      staff_id: str) -> StaffMember | None:
    """One member of the roster, or None."""
    row = await conn.fetchrow("SELECT * FROM staff WHERE id = $1", staff_id)
    return staff_member(row) if row else None
