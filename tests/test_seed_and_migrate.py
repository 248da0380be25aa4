"""database/pool.py: versioned migrations, the seed file's validation and the seed loader.

Real PostgreSQL (embedded), a fresh database per test.
"""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from database.pool import MIGRATIONS_DIR, migrate
from database.seed import SeedError, load_seed, parse_seed
from tests.conftest import ALL_MIGRATIONS, DEMO_SEED

DEMO = json.loads(DEMO_SEED.read_text())
TABLES = ("staff", "customers", "orders")


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


# --- migrations -----------------------------------------------------------------------


async def test_migrate_applies_each_migration_once(empty_database_url: str):
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await tables(conn) == set()
        first = await migrate(conn)
        assert first == ALL_MIGRATIONS and first[0] == "0001_foundation"
        assert {"staff", "customers", "orders", "credit_notes", "complaints",
                "complaint_events", "email_outbox", "schema_migrations"} <= await tables(conn)
        assert await migrate(conn) == []
        versions = [r["version"] for r in
                    await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == ALL_MIGRATIONS
    finally:
        await conn.close()


async def test_event_fields_are_filled_in_for_rows_written_before_they_existed(
        empty_database_url: str):
    """0006 gives the resolution log typed fields; rows logged before it get theirs from what
    their detail says, and the log stays append-only afterwards."""
    conn = await asyncpg.connect(empty_database_url)
    try:
        await conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY,"
                           " applied_at timestamptz NOT NULL DEFAULT now())")
        for version in ALL_MIGRATIONS[:ALL_MIGRATIONS.index("0006_event_fields")]:
            await conn.execute((MIGRATIONS_DIR / f"{version}.sql").read_text())
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        await conn.execute(
            """INSERT INTO complaints (crn, source, external_ref, customer_id, subject,
                   description, severity, severity_score, status, phase, policy_name, received_at)
               VALUES ('CRN-OLD', 'web', 'r', 'cust-kite', 's', 'd', 3, 0, 'resolved',
                       'post_mortem', 'default', now())""")
        old = [
            ("deadline_breached", "phone_contact_2: phone contact was due 2026-03-02 13:00 UTC"),
            ("deadline_met", "escalation_level_1: acted on the escalation (after its breach)"),
            ("deadline_met", "personal_acknowledgement: on time"),
            ("escalated", "level 2 (head of customer success): SLA breached: phone contact"),
            ("refund_approved", "600.00 GBP: goodwill"),
            ("refund_decision_rejected", "'sam' is not a finance manager on the roster"),
            ("received", "via web (r): s"),
        ]
        await conn.executemany(
            "INSERT INTO complaint_events (crn, seq, at, event, actor, detail) "
            "VALUES ('CRN-OLD', $1, now(), $2, 'system', $3)",
            [(i, event, detail) for i, (event, detail) in enumerate(old, 1)])
        assert await migrate(conn) == ALL_MIGRATIONS[ALL_MIGRATIONS.index("0006_event_fields"):]
        rows = await conn.fetch("SELECT event, deadline, level, reason, outcome, amount, currency "
                                "FROM complaint_events ORDER BY seq")
        assert [tuple(r) for r in rows] == [
            ("deadline_breached", "phone_contact_2", None, None, "breached", None, None),
            ("deadline_met", "escalation_level_1", None, None, "met_late", None, None),
            ("deadline_met", "personal_acknowledgement", None, None, "met", None, None),
            ("escalated", None, 2, "SLA breached: phone contact", None, None, None),
            ("refund_approved", None, None, None, "approved", Decimal("600.00"), "GBP"),
            ("refund_decision_rejected", None, None,
             "'sam' is not a finance manager on the roster", None, None, None),
            ("received", None, None, None, None, None, None),
        ]
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE complaint_events SET reason = 'x' WHERE seq = 1")
    finally:
        await conn.close()


async def test_migrate_on_the_fixture_database_is_already_done(database_url: str):
    conn = await asyncpg.connect(database_url)
    try:
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_two_processes_migrating_at_once_apply_it_once(empty_database_url: str):
    """The advisory lock: one connection applies, the other waits and finds nothing to do."""
    a = await asyncpg.connect(empty_database_url)
    b = await asyncpg.connect(empty_database_url)
    try:
        results = await asyncio.gather(migrate(a), migrate(b))
    finally:
        await a.close()
        await b.close()
    assert sorted(results, key=len) == [[], ALL_MIGRATIONS]


# --- parse_seed: the error names the record and the field -----------------------------


def demo(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(DEMO)
    data.update(changes)
    return data


def seed_error(data: Any) -> str:
    with pytest.raises(SeedError) as err:
        parse_seed(data if isinstance(data, str) else json.dumps(data))
    return str(err.value)


def test_demo_seed_parses():
    seed = parse_seed(DEMO_SEED.read_text())
    assert (len(seed.staff), len(seed.customers), len(seed.orders)) == (12, 3, 3)


def test_bad_staff_email_names_the_record_and_field():
    data = demo()
    data["staff"][1] = {**data["staff"][1], "id": "bob", "email": "bob-at-example"}
    message = seed_error(data)
    assert message.startswith("staff[1] (id 'bob'): email: ")
    assert "not a valid email address" in message


def test_unknown_role():
    data = demo()
    data["staff"][3]["role"] = "wizard"
    message = seed_error(data)
    assert message.startswith("staff[3] (id 'priya'): role: ")
    assert "'agent'" in message and "'finance_manager'" in message


def test_unknown_skill_names_the_list_position():
    data = demo()
    data["staff"][0]["skills"] = ["technical_bug", "juggling"]
    assert seed_error(data).startswith("staff[0] (id 'ana'): skills.1: ")


@pytest.mark.parametrize("currency", ["gbp", "POUND", "£", ""])
def test_bad_currency(currency: str):
    data = demo()
    data["orders"][2]["currency"] = currency
    message = seed_error(data)
    assert message.startswith("orders[2] (id 'ord-3001'): currency: ")
    assert "[A-Z]{3}" in message


@pytest.mark.parametrize(("rate", "words"), [("1.5", "less than or equal to 1"),
                                              ("-0.2", "greater than or equal to 0")])
def test_tax_rate_out_of_range(rate: str, words: str):
    data = demo()
    data["orders"][0]["tax_rate"] = rate
    message = seed_error(data)
    assert message.startswith("orders[0] (id 'ord-1001'): tax_rate: ")
    assert words in message


def test_negative_credit_note_names_the_note():
    data = demo()
    data["orders"][0]["credit_notes"][0]["amount"] = "-5"
    assert seed_error(data).startswith("orders[0] (id 'ord-1001'): credit_notes.0.amount: ")


@pytest.mark.parametrize("section", ["staff", "customers", "orders"])
def test_duplicate_id(section: str):
    data = demo()
    data[section].append(copy.deepcopy(data[section][0]))
    index, record_id = len(data[section]) - 1, data[section][0]["id"]
    assert seed_error(data) == f"{section}[{index}] (id {record_id!r}): id: appears twice"


def test_duplicate_credit_note_id_across_orders():
    """Credit note ids are the table's key: a second note with the same id would be dropped."""
    data = demo()
    data["orders"][1]["credit_notes"] = [{"id": "cn-1001-a", "amount": "7"}]
    assert seed_error(data) == (
        "orders[1] (id 'ord-2001'): credit_notes.0.id: 'cn-1001-a' appears twice")


def test_missing_field_and_unknown_field():
    data = demo()
    del data["customers"][1]["name"]
    data["customers"][2]["nickname"] = "Kitey"
    message = seed_error(data)
    assert "customers[1] (id 'cust-bloom'): name: Field required" in message
    assert "customers[2] (id 'cust-kite'): nickname: Extra inputs are not permitted" in message


def test_every_problem_is_reported_at_once():
    data = demo()
    data["staff"][0]["role"] = "wizard"
    data["orders"][1]["tax_rate"] = "1.5"
    message = seed_error(data)
    assert "staff[0] (id 'ana'): role" in message and "orders[1] (id 'ord-2001'): tax_rate" in message


def test_not_json_and_not_an_object():
    assert seed_error("{staff: [").startswith("not valid JSON")
    assert seed_error("[]").startswith("(top level): ")
    assert seed_error({"staff": {"id": "x"}}).startswith("staff: ")


# --- load_seed: references, all or nothing, idempotent --------------------------------


async def test_demo_seed_loads(pool: asyncpg.Pool):
    async with pool.acquire() as conn:
        loaded = await load_seed(conn, parse_seed(DEMO_SEED.read_text()))
        assert loaded == {"staff": 12, "customers": 3, "orders": 3}
        assert await counts(conn) == loaded
        acme = await conn.fetchrow("SELECT * FROM customers WHERE id = 'cust-acme'")
        assert acme["key_account"] is True and acme["csm"] == "carla"
        assert acme["lifetime_value"] == Decimal("250000.00")
        ana = await conn.fetchrow("SELECT * FROM staff WHERE id = 'ana'")
        assert ana["role"] == "agent" and list(ana["skills"]) == ["technical_bug", "billing_dispute"]
        order = await conn.fetchrow("SELECT * FROM orders WHERE id = 'ord-1001'")
        assert (order["net_amount"], order["tax_rate"], order["currency"]) == (
            Decimal("12000.00"), Decimal("0.2000"), "GBP")
        assert await conn.fetchval(
            "SELECT amount FROM credit_notes WHERE id = 'cn-1001-a' AND order_id = 'ord-1001'"
        ) == Decimal("500.00")


def _extended_demo() -> dict[str, Any]:
    """The demo seed plus new staff, a new customer and three new orders, with changes to
    existing records: what a failed load must not leave behind."""
    data = demo()
    data["staff"][0]["name"] = "Ana Renamed"
    data["staff"].append({"id": "zoe", "name": "Zoe New", "email": "zoe@example.com",
                          "role": "agent"})
    data["customers"].append({"id": "cust-new", "name": "New Co", "csm": "zoe"})
    data["orders"] += [
        {"id": "ord-9001", "customer_id": "cust-new", "net_amount": "10", "tax_rate": "0.2",
         "currency": "GBP", "credit_notes": [{"id": "cn-9001", "amount": "1"}]},
        {"id": "ord-9002", "customer_id": "cust-kite", "net_amount": "20", "tax_rate": "0.2",
         "currency": "EUR"},
        {"id": "ord-9003", "customer_id": "cust-ghost", "net_amount": "30", "tax_rate": "0.2",
         "currency": "GBP"},
    ]
    return data


async def test_order_for_an_unknown_customer_loads_nothing(seeded: asyncpg.Pool):
    data = _extended_demo()
    seed = parse_seed(json.dumps(data))  # well-formed: the reference is checked on load
    async with seeded.acquire() as conn:
        before = await counts(conn)
        with pytest.raises(SeedError) as err:
            await load_seed(conn, seed)
        index = len(data["orders"]) - 1
        assert str(err.value) == (
            f"orders[{index}] (id 'ord-9003'): customer_id: no customer 'cust-ghost'")
        assert await counts(conn) == before
        assert await conn.fetchval("SELECT name FROM staff WHERE id = 'ana'") == "Ana Lopez"
        assert await conn.fetchval("SELECT count(*) FROM staff WHERE id = 'zoe'") == 0
        assert await conn.fetchval("SELECT count(*) FROM customers WHERE id = 'cust-new'") == 0
        assert await conn.fetchval("SELECT count(*) FROM credit_notes WHERE id = 'cn-9001'") == 0


async def test_third_order_of_a_fresh_file_for_an_unknown_customer(pool: asyncpg.Pool):
    """The same on an empty database: the two orders before the bad one are not kept either."""
    data = demo()
    data["orders"][2]["customer_id"] = "cust-nobody"
    async with pool.acquire() as conn:
        with pytest.raises(SeedError, match=r"^orders\[2\] \(id 'ord-3001'\): customer_id: "):
            await load_seed(conn, parse_seed(json.dumps(data)))
        assert await counts(conn) == {"staff": 0, "customers": 0, "orders": 0}
        assert await conn.fetchval("SELECT count(*) FROM credit_notes") == 0


async def test_customer_whose_csm_is_not_staff_loads_nothing(pool: asyncpg.Pool):
    data = demo()
    data["customers"][1]["csm"] = "ana-who"
    async with pool.acquire() as conn:
        with pytest.raises(SeedError) as err:
            await load_seed(conn, parse_seed(json.dumps(data)))
        assert str(err.value) == "customers[1] (id 'cust-bloom'): csm: no staff member 'ana-who'"
        assert await counts(conn) == {"staff": 0, "customers": 0, "orders": 0}


async def test_references_may_point_at_records_loaded_earlier(seeded: asyncpg.Pool):
    """A seed file may add to what is there: an order for a customer loaded before."""
    data = {"customers": [{"id": "cust-later", "name": "Later Ltd", "csm": "carla"}],
            "orders": [{"id": "ord-later", "customer_id": "cust-acme", "net_amount": "5",
                        "tax_rate": "0", "currency": "USD"}]}
    async with seeded.acquire() as conn:
        assert await load_seed(conn, parse_seed(json.dumps(data))) == {
            "staff": 0, "customers": 1, "orders": 1}
        assert await counts(conn) == {"staff": 12, "customers": 4, "orders": 4}


async def test_loading_the_demo_seed_twice_is_idempotent(pool: asyncpg.Pool):
    seed = parse_seed(DEMO_SEED.read_text())
    async with pool.acquire() as conn:
        await load_seed(conn, seed)
        first = await counts(conn)
        notes = await conn.fetchval("SELECT count(*) FROM credit_notes")
        # The product changed a balance (a refund); a re-seed must not undo it.
        await conn.execute(
            "UPDATE customers SET account_balance = -123.45 WHERE id = 'cust-acme'")
        await load_seed(conn, seed)
        assert await counts(conn) == first == {"staff": 12, "customers": 3, "orders": 3}
        assert await conn.fetchval("SELECT count(*) FROM credit_notes") == notes == 1
        assert await conn.fetchval(
            "SELECT account_balance FROM customers WHERE id = 'cust-acme'") == Decimal("-123.45")
        assert await conn.fetchval(
            "SELECT account_balance FROM customers WHERE id = 'cust-bloom'") == Decimal("0.00")


async def test_credit_note_of_another_order_loads_nothing(seeded: asyncpg.Pool):
    """A seed that gives an existing credit note to another order is refused, not half-loaded."""
    data = {"customers": [{"id": "cust-new", "name": "New Co"}],
            "orders": [{"id": "ord-new", "customer_id": "cust-new", "net_amount": "5",
                        "tax_rate": "0", "currency": "GBP",
                        "credit_notes": [{"id": "cn-1001-a", "amount": "5"}]}]}
    async with seeded.acquire() as conn:
        before = await counts(conn)
        with pytest.raises(SeedError) as err:
            await load_seed(conn, parse_seed(json.dumps(data)))
        assert str(err.value) == ("orders[0] (id 'ord-new'): credit_notes.0.id: credit note "
                                  "'cn-1001-a' belongs to order 'ord-1001'")
        assert await counts(conn) == before
        assert await conn.fetchval(
            "SELECT order_id FROM credit_notes WHERE id = 'cn-1001-a'") == "ord-1001"


async def test_a_reseed_updates_reference_data(seeded: asyncpg.Pool):
    data = demo()
    data["staff"][1]["available"] = False
    data["customers"][2]["key_account"] = True
    data["orders"][1]["net_amount"] = "700.00"
    async with seeded.acquire() as conn:
        await load_seed(conn, parse_seed(json.dumps(data)))
        assert await conn.fetchval("SELECT available FROM staff WHERE id = 'ben'") is False
        assert await conn.fetchval(
            "SELECT key_account FROM customers WHERE id = 'cust-kite'") is True
        assert await conn.fetchval(
            "SELECT net_amount FROM orders WHERE id = 'ord-2001'") == Decimal("700.00")
