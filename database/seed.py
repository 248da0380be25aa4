"""The seed file (`complaints seed FILE`): the roster, customers and orders as JSON, checked
whole (every reference resolves) before any of it is written, then loaded in one
transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg
from pydantic import Field, ValidationError

from workflows.models import Model
from workflows.records import CustomerProfile, Order, StaffMember


class SeedData(Model):
    """The seed file: roster, customers and orders (`complaints seed FILE`; docs/design.md, the CLI)."""

    staff: list[StaffMember] = Field(default_factory=list)
    customers: list[CustomerProfile] = Field(default_factory=list)
    orders: list[Order] = Field(default_factory=list)


class SeedError(ValueError):
    """A seed file that cannot be loaded; nothing of it was written."""


def _record_label(data: dict, section: str, index: int) -> str:
    try:
        record_id = data[section][index].get("id")
    except (KeyError, IndexError, TypeError, AttributeError):
        record_id = None
    return f"{section}[{index}]" + (f" (id {record_id!r})" if record_id else "")


def parse_seed(text: str) -> SeedData:
    """Validate a seed file's JSON; the error names the record and the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SeedError(f"not valid JSON: {err}") from None
    try:
        seed = SeedData.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = list(e["loc"])
            if len(loc) >= 2 and isinstance(loc[1], int):
                where = _record_label(data, str(loc[0]), loc[1])
                field = ".".join(str(p) for p in loc[2:]) or "(record)"
                problems.append(f"{where}: {field}: {e['msg']}")
            else:
                problems.append(f"{'.'.join(map(str, loc)) or '(top level)'}: {e['msg']}")
        raise SeedError("; ".join(problems)) from None
    _check_references(seed)
    return seed


def _check_references(seed: SeedData) -> None:
    sections: tuple[tuple[str, Sequence[StaffMember | CustomerProfile | Order]], ...] = (
        ("staff", seed.staff), ("customers", seed.customers), ("orders", seed.orders))
    for section, records in sections:
        seen: set[str] = set()
        for i, record in enumerate(records):
            if record.id in seen:
                raise SeedError(f"{section}[{i}] (id {record.id!r}): id: appears twice")
            seen.add(record.id)
    # Credit note ids are one namespace across orders (the table's key): a repeat would be
    # silently dropped on load.
    notes: set[str] = set()
    for i, order in enumerate(seed.orders):
        for j, note in enumerate(order.credit_notes):
            if note.id in notes:
                raise SeedError(
                    f"orders[{i}] (id {order.id!r}): credit_notes.{j}.id: {note.id!r} appears twice"
                )
            notes.add(note.id)


async def load_seed(conn: asyncpg.Connection, seed: SeedData) -> dict[str, int]:
    """Upsert the roster, customers and orders in one transaction (all or nothing)."""
    async with conn.transaction():
        for s in seed.staff:
            await conn.execute(
                """INSERT INTO staff (id, name, email, role, skills, available, team)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, role = $4,
                       skills = $5, available = $6, team = $7""",
                s.id, s.name, s.email, s.role.value, [k.value for k in s.skills], s.available,
                s.team,
            )
        staff_ids = {r["id"] for r in await conn.fetch("SELECT id FROM staff")}
        for i, c in enumerate(seed.customers):
            if c.csm and c.csm not in staff_ids:
                raise SeedError(f"customers[{i}] (id {c.id!r}): csm: no staff member {c.csm!r}")
            await conn.execute(
                """INSERT INTO customers (id, name, email, phone, key_account, lifetime_value,
                                          loyalty_tier, csm, account_balance, language)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, phone = $4,
                       key_account = $5, lifetime_value = $6, loyalty_tier = $7, csm = $8,
                       language = $10""",
                c.id, c.name, c.email, c.phone, c.key_account, c.lifetime_value,
                c.loyalty_tier, c.csm, c.account_balance, c.language,
            )
        customer_ids = {r["id"] for r in await conn.fetch("SELECT id FROM customers")}
        for i, o in enumerate(seed.orders):
            if o.customer_id not in customer_ids:
                raise SeedError(
                    f"orders[{i}] (id {o.id!r}): customer_id: no customer {o.customer_id!r}"
                )
            await conn.execute(
                """INSERT INTO orders (id, customer_id, net_amount, tax_rate, currency)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (id) DO UPDATE SET customer_id = $2, net_amount = $3,
                       tax_rate = $4, currency = $5""",
                o.id, o.customer_id, o.net_amount, o.tax_rate, o.currency,
            )
            for j, note in enumerate(o.credit_notes):
                await conn.execute(
                    """INSERT INTO credit_notes (id, order_id, amount) VALUES ($1, $2, $3)
                       ON CONFLICT (id) DO NOTHING""",
                    note.id, o.id, note.amount,
                )
                owner = await conn.fetchval("SELECT order_id FROM credit_notes WHERE id = $1",
                                            note.id)
                if owner != o.id:  # an existing note of another order: not this one's
                    raise SeedError(f"orders[{i}] (id {o.id!r}): credit_notes.{j}.id: credit note "
                                    f"{note.id!r} belongs to order {owner!r}")
    # account_balance is only set when a customer is first loaded: later it is the
    # product's to change (refunds), and a re-seed must not undo them.
    return {"staff": len(seed.staff), "customers": len(seed.customers), "orders": len(seed.orders)}
