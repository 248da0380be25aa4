"""Staff alerts counted per recipient and window (migration 0024), so a person is told once:
the first `after` alerts of a window go out on their own, the rest wait for one digest at
the window's end. activities/digest.py is the only caller.

Both functions hold a per-recipient advisory lock for their transaction: the n-th alert of
a window is counted once however many workers send at once, and an alert never joins a
window whose digest has already read its list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True)
class Admission:
    """What became of one alert: sent now, or waiting for its window's digest."""

    window_id: int
    ordinal: int
    coalesced: bool
    closes_at: datetime


async def _lock(conn: asyncpg.Connection, channel: str, recipient: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 24))",
                       f"{channel}\n{recipient.lower()}")


async def admit_alert(pool: asyncpg.Pool, *, channel: str, recipient: str, crn: str, kind: str,
                      at: datetime, summary: str, after: int, window: timedelta) -> Admission:
    """Count an alert for `recipient` at instant `at`: the same (channel, crn, kind) again
    (a retried activity) gets the answer it got the first time."""
    recipient = recipient.lower()
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, channel, recipient)
        row = await conn.fetchrow(
            """SELECT a.window_id, a.ordinal, a.coalesced, w.closes_at
                 FROM staff_alerts a JOIN staff_alert_windows w ON w.id = a.window_id
                WHERE a.channel = $1 AND a.crn = $2 AND a.kind = $3""", channel, crn, kind)
        if row is not None:
            return Admission(row["window_id"], row["ordinal"], row["coalesced"], row["closes_at"])
        open_window = await conn.fetchrow(
            """SELECT id, closes_at FROM staff_alert_windows
                WHERE channel = $1 AND recipient = $2 AND opened_at <= $3 AND closes_at > $3
                  AND digest_taken_at IS NULL
                ORDER BY closes_at DESC LIMIT 1""", channel, recipient, at)
        if open_window is None:
            open_window = await conn.fetchrow(
                """INSERT INTO staff_alert_windows (channel, recipient, opened_at, closes_at)
                   VALUES ($1, $2, $3, $4) RETURNING id, closes_at""",
                channel, recipient, at, at + window)
        window_id = open_window["id"]
        ordinal = 1 + await conn.fetchval(
            "SELECT count(*) FROM staff_alerts WHERE window_id = $1", window_id)
        coalesced = ordinal > after
        await conn.execute(
            """INSERT INTO staff_alerts (window_id, channel, crn, kind, at, ordinal, coalesced,
                                         summary)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            window_id, channel, crn, kind, at, ordinal, coalesced, summary[:500])
        return Admission(window_id, ordinal, coalesced, open_window["closes_at"])


@dataclass(frozen=True)
class DigestWindow:
    window_id: int
    channel: str
    recipient: str
    opened_at: datetime
    closes_at: datetime
    sent_on_their_own: int  # the window's first alerts, each sent when it happened
    alerts: list[asyncpg.Record]  # the coalesced ones: crn, kind, at, summary, ordinal


async def take_digest(pool: asyncpg.Pool, window_id: int) -> DigestWindow:
    """Close the window to newcomers (an alert after this opens a new window) and read what
    its digest lists; the same list again on a retry."""
    async with pool.acquire() as conn, conn.transaction():
        head = await conn.fetchrow("SELECT channel, recipient FROM staff_alert_windows "
                                   "WHERE id = $1", window_id)
        if head is None:
            raise LookupError(f"no staff alert window {window_id}")
        await _lock(conn, head["channel"], head["recipient"])
        w = await conn.fetchrow(
            """UPDATE staff_alert_windows SET digest_taken_at = coalesce(digest_taken_at, now())
                WHERE id = $1 RETURNING *""", window_id)
        rows = await conn.fetch(
            """SELECT crn, kind, at, summary, ordinal, coalesced FROM staff_alerts
                WHERE window_id = $1 ORDER BY ordinal""", window_id)
    return DigestWindow(window_id, w["channel"], w["recipient"], w["opened_at"], w["closes_at"],
                        sum(1 for r in rows if not r["coalesced"]),
                        [r for r in rows if r["coalesced"]])
