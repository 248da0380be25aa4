"""What the worker's gauges read from PostgreSQL: open complaints by status and the email
backlog (outbox rows not yet sent). Counted in one statement each, so a gauge never shows
half of a change."""

from __future__ import annotations

import asyncpg

from workflows.models import Status

# Open as the reports count it (reporting/figures.py): not yet resolved.
OPEN_STATUSES = tuple(s.value for s in Status
                      if s not in (Status.resolved, Status.closed, Status.archived))


async def open_complaints_by_status(pool: asyncpg.Pool) -> dict[str, int]:
    """Every open status, zero where no complaint has it (a gauge must come back to 0)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM complaints WHERE status = ANY($1::text[]) "
            "GROUP BY status", list(OPEN_STATUSES))
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


async def email_backlog(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM email_outbox WHERE sent_at IS NULL")
