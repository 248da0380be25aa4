"""The HTTP API's keys in PostgreSQL (the `api_keys` table): one per roster member, and one
per intake system. `complaints keys` creates and revokes them; the API authenticates with
them (starter/api/deps.py).

A key looks like `ck_3f9a1c0e_<43 random characters>`. Its first part (`ck_3f9a1c0e`) is
its public id, safe to show in lists and logs; PostgreSQL keeps only a SHA-256 of the
whole key, so the key itself is shown once, by `complaints keys create`. A key is 256
random bits, so a plain hash is enough (no password stretching needed).

A staff key's owner is the actor of every action taken with it. An intake key (an email
gateway, a web form) may only submit complaints.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from workflows.models import Role
from workflows.records import StaffMember

PREFIX = "ck_"
INTAKE = "intake"
STAFF = "staff"


class KeyRefused(ValueError):
    """A key that cannot be created or revoked; the message says why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a roster member (`staff` set) or an intake system."""

    key_id: str
    kind: str  # "staff" | "intake"
    name: str  # the staff id, or the intake system's name
    staff: StaffMember | None = None


@dataclass(frozen=True)
class KeyInfo:
    id: str
    kind: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _new_key() -> tuple[str, str]:
    key_id = PREFIX + secrets.token_hex(4)
    return key_id, f"{key_id}_{secrets.token_urlsafe(32)}"


async def create_key(conn: asyncpg.Connection, *, staff_id: str | None = None,
                     intake: str | None = None, replace: bool = False) -> tuple[KeyInfo, str]:
    """Create a key for a roster member or an intake system; returns it (shown once).

    Refused when the owner already has a live key, unless `replace` (then the old key is
    revoked in the same transaction).
    """
    if (staff_id is None) == (intake is None):
        raise KeyRefused("say whose key it is: a staff id or an intake system's name")
    kind, name = (STAFF, staff_id) if staff_id is not None else (INTAKE, intake)
    name = (name or "").strip()
    if not name:
        raise KeyRefused("the name must not be empty")
    async with conn.transaction():
        if kind == STAFF and not await conn.fetchval("SELECT 1 FROM staff WHERE id = $1", name):
            raise KeyRefused(f"{name!r} is not on the roster (complaints seed FILE loads it)")
        live = await conn.fetchval(
            "SELECT id FROM api_keys WHERE kind = $1 AND name = $2 AND revoked_at IS NULL "
            "FOR UPDATE", kind, name)
        if live is not None:
            if not replace:
                raise KeyRefused(f"{_owner(kind, name)} already has a key ({live}); revoke it "
                                "first, or create with --replace")
            await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", live)
        key_id, key = _new_key()
        row = await conn.fetchrow(
            "INSERT INTO api_keys (id, key_hash, kind, staff_id, name) VALUES ($1, $2, $3, $4, $5)"
            " RETURNING id, kind, name, created_at, revoked_at",
            key_id, hash_key(key), kind, name if kind == STAFF else None, name)
    return KeyInfo(**dict(row)), key


async def revoke_key(conn: asyncpg.Connection, *, key_id: str | None = None,
                     staff_id: str | None = None, intake: str | None = None) -> list[str]:
    """Revoke a key by its id, or the live key of a roster member or intake system.
    Returns the ids revoked; refuses when there is nothing live to revoke."""
    if key_id is not None:
        # The id (ck_3f9a1c0e) or the whole key, whose first part is its id.
        where, args = "id = $1", ["_".join(key_id.strip().split("_")[:2])]
    elif staff_id is not None:
        where, args = "kind = 'staff' AND name = $1", [staff_id]
    elif intake is not None:
        where, args = "kind = 'intake' AND name = $1", [intake]
    else:
        raise KeyRefused("say which key: its id, --staff ID or --intake NAME")
    rows = await conn.fetch(
        f"UPDATE api_keys SET revoked_at = now() WHERE {where} AND revoked_at IS NULL "  # nosec B608 # SQL from constants only; values are bound $n parameters
        "RETURNING id", *args)
    if not rows:
        raise KeyRefused("no live key matches; nothing was revoked")
    return [r["id"] for r in rows]


async def list_keys(conn: asyncpg.Connection, include_revoked: bool = False) -> list[KeyInfo]:
    rows = await conn.fetch(
        "SELECT id, kind, name, created_at, revoked_at FROM api_keys"  # nosec B608 # SQL from constants only; values are bound $n parameters
        + ("" if include_revoked else " WHERE revoked_at IS NULL")
        + " ORDER BY kind, name, created_at")
    return [KeyInfo(**dict(r)) for r in rows]


async def authenticate(pool: asyncpg.Pool, key: str) -> Principal | None:
    """The principal a key stands for; None for an unknown or revoked key. Read on every
    request, so a revoked key stops working at once."""
    if not key.startswith(PREFIX) or len(key) > 200:
        return None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT k.id, k.kind, k.name, s.id AS staff_id, s.name AS staff_name, s.email,
                      s.role, s.skills, s.available, s.team
               FROM api_keys k LEFT JOIN staff s ON s.id = k.staff_id
               WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
            hash_key(key))
    if row is None:
        return None
    staff = None
    if row["kind"] == STAFF:
        if row["staff_id"] is None:  # pragma: no cover - the foreign key prevents it
            return None
        staff = StaffMember(id=row["staff_id"], name=row["staff_name"], email=row["email"],
                            role=Role(row["role"]), skills=list(row["skills"]),
                            available=row["available"], team=row["team"])
    return Principal(key_id=row["id"], kind=row["kind"], name=row["name"], staff=staff)


def _owner(kind: str, name: str) -> str:
    return f"staff member {name!r}" if kind == STAFF else f"intake system {name!r}"


# --- failed authentications, shared by every API process (starter/api/limits.py) ---------

# Kept this long, then deleted as new failures come in (the limit looks back a minute).
AUTH_FAILURES_KEPT = timedelta(minutes=5)


async def record_auth_failure(pool: asyncpg.Pool, client: str) -> None:
    """One failed authentication from `client`, counted in the current second (one atomic
    upsert, so concurrent failures from several processes all count)."""
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO auth_failures (client, second, failures)
               VALUES ($1, date_trunc('second', now()), 1)
               ON CONFLICT (client, second)
               DO UPDATE SET failures = auth_failures.failures + 1""", client)
        await conn.execute("DELETE FROM auth_failures WHERE second < now() - $1::interval",
                           AUTH_FAILURES_KEPT)


async def recent_auth_failures(pool: asyncpg.Pool, client: str, within_seconds: int
                               ) -> tuple[datetime | None, list[tuple[datetime, int]]]:
    """(second, failures) for `client` in the last `within_seconds`, oldest first, and
    PostgreSQL's now when there are any (the database's clock: the same for every API
    process). One query, and nothing found for a client that has not failed."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT now() AS now, second, failures FROM auth_failures
               WHERE client = $1 AND second > now() - make_interval(secs => $2)
               ORDER BY second""", client, within_seconds)
    return (rows[0]["now"] if rows else None), [(r["second"], r["failures"]) for r in rows]
