"""Past complaints as the database recorded them, for the policy what-if (`workflows/whatif.py`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from workflows.models import Category, Impact
from workflows.whatif import LoggedEvent, PastComplaint

SUPERVISOR_LEVELS = {"team_lead": 1, "head_of_cs": 2}


async def load_past_complaints(conn: asyncpg.Connection, since: datetime | None = None
                               ) -> list[PastComplaint]:
    """Complaints received at or after `since` (all when None), oldest first, each with its
    resolution log in order."""
    rows = await conn.fetch(
        """SELECT crn, received_at, impact, category, resolved_at FROM complaints
           WHERE $1::timestamptz IS NULL OR received_at >= $1 ORDER BY received_at, crn""",
        since)
    events = await conn.fetch(
        """SELECT e.crn, e.at, e.event, e.actor, e.detail, e.reason, e.after
           FROM complaint_events e
           JOIN complaints c ON c.crn = e.crn
           WHERE $1::timestamptz IS NULL OR c.received_at >= $1 ORDER BY e.crn, e.seq""",
        since)
    log: dict[str, list[LoggedEvent]] = {}
    for e in events:
        log.setdefault(e["crn"], []).append(
            LoggedEvent(at=e["at"], event=e["event"], actor=e["actor"], detail=e["detail"],
                        reason=e["reason"], after=e["after"]))
    return [PastComplaint(crn=r["crn"], received_at=r["received_at"],
                          impact=Impact(r["impact"]) if r["impact"] else None,
                          category=Category(r["category"]) if r["category"] else None,
                          resolved_at=r["resolved_at"], events=tuple(log.get(r["crn"], [])))
            for r in rows]


async def load_supervisors(conn: asyncpg.Connection) -> dict[str, int]:
    """Roster ids of the people whose action answers an escalation: team leads (level 1)
    and heads of customer success (level 2)."""
    rows = await conn.fetch("SELECT id, role FROM staff WHERE role = ANY($1::text[])",
                            list(SUPERVISOR_LEVELS))
    return {r["id"]: SUPERVISOR_LEVELS[r["role"]] for r in rows}
