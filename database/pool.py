"""PostgreSQL plumbing: the connection pool and versioned migrations (the seed file: seed.py).

Migrations are plain SQL files in `migrations/`, applied in name order, each
once, under an advisory lock so two processes starting at once don't race.

The client side (starter/) reaches PostgreSQL only through this package: it holds a
`Pool` or a `connection`, and catches `UNAVAILABLE`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x636F6D70  # any constant; "comp"

Pool = asyncpg.Pool
Connection = asyncpg.Connection
# PostgreSQL down, unreachable, or refusing: what a caller answers "try again later" to.
UNAVAILABLE: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError,
                                            OSError)


async def create_pool(database_url: str, **kwargs) -> asyncpg.Pool:
    kwargs.setdefault("min_size", 1)
    kwargs.setdefault("max_size", 10)
    kwargs.setdefault("reset", _end_open_transaction)
    return await asyncpg.create_pool(database_url, **kwargs)


async def ping(pool: asyncpg.Pool, timeout: float = 3.0) -> None:
    """Raises (one of UNAVAILABLE, or TimeoutError) unless PostgreSQL answers in time."""
    async with pool.acquire(timeout=timeout) as conn:
        await conn.fetchval("SELECT 1", timeout=timeout)


@asynccontextmanager
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection, for a command that runs a few statements and ends."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def on_roster(pool: asyncpg.Pool, staff_id: str) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT 1 FROM staff WHERE id = $1", staff_id))


async def _end_open_transaction(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool. asyncpg's default reset sends
    `RESET ALL; UNLISTEN *; CLOSE ALL; pg_advisory_unlock_all()` on every release, a round
    trip per activity for session state this code never sets (its advisory lock is
    transaction-scoped); an abandoned transaction is the one thing to end."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns their names. Safe to run again."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if path.stem in done:
                continue
            await conn.execute(path.read_text(encoding="utf-8"))
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
            applied_now.append(path.stem)
    return applied_now
