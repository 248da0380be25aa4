"""Activities that read and write PostgreSQL.

Every write is idempotent: a retried activity (the worker died after the
commit, the reply was lost) leaves the database as one attempt would.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
from temporalio import activity

from database.records import read_order, read_profile, staff_member
from database.webhooks import queue_events
from workflows import activity_types
from workflows.messages import (
    AgentRequest,
    ComplaintProgress,
    ContextRequest,
    OwnerAssignment,
    OwnerRequest,
)
from workflows.records import ComplaintContext, EarlierComplaint, StaffMember
from workflows.webhook_events import FROM_TIMELINE

log = logging.getLogger("complaints.store")
# Told which webhook subscriptions were queued events (after the commit), to wake their
# delivery workflows; a failure only delays them until they look by themselves.
WakeDeliveries = Callable[[list[int]], Awaitable[None]]

_OPEN = "('resolved', 'closed', 'archived')"


# The complaint row's columns after crn; those a later write may set (the rest are only
# ever inserted).
_ROW_COLUMNS = (
    "source", "external_ref", "customer_id", "customer_name", "customer_email", "subject",
    "description", "category", "impact", "order_id", "severity", "severity_score", "status",
    "phase", "owner", "handling_agent", "escalation_level", "retention_risk", "sla_breached",
    "recurrent_of", "policy_name", "received_at", "acknowledged_at", "resolved_at",
    "closed_at", "archived_at", "csat_score", "outcome", "duplicate_of", "policy_version",
    "adopted_policy_version", "next_deadline_at", "next_deadline", "team", "paused_since",
)
_CHANGING = frozenset(_ROW_COLUMNS) - {
    "source", "external_ref", "customer_id", "customer_name", "customer_email", "subject",
    "description", "order_id", "policy_name", "received_at", "policy_version"}
# Column names from the constants above only; values are bound $n parameters.
_INSERT_ROW = (
    f"INSERT INTO complaints (crn, {', '.join(_ROW_COLUMNS)}) "  # nosec B608
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_ROW_COLUMNS) + 2))}) "
    "ON CONFLICT (crn) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ROW_COLUMNS if c in _CHANGING)
    + ", updated_at = now()")


class StoreActivities(activity_types.StoreActivities):
    def __init__(self, pool: asyncpg.Pool, console_url: str = "http://localhost:8000/console",
                 wake_deliveries: WakeDeliveries | None = None) -> None:
        self.pool = pool
        self.console_url = console_url
        self.wake_deliveries = wake_deliveries

    @activity.defn
    async def fetch_complaint_context(self, req: ContextRequest) -> ComplaintContext:
        """The complaint management process, steps 2 and 7: the customer's profile, the
        related order, earlier complaints within the repeat window, and the roster the
        workflow checks actors against."""
        async with self.pool.acquire() as conn:
            profile = await read_profile(conn, req.customer_id)
            order = await read_order(conn, req.order_id)
            earlier = await conn.fetch(
                """SELECT crn, category, received_at, status FROM complaints
                   WHERE customer_id = $1 AND crn <> $2
                     AND received_at >= $3::timestamptz - make_interval(days => $4)
                     AND received_at <= $3::timestamptz
                   ORDER BY received_at DESC""",
                req.customer_id, req.crn, req.received_at, req.repeat_window_days,
            )
            roster = await conn.fetch("SELECT * FROM staff ORDER BY id")
        return ComplaintContext(
            profile=profile,
            order=order,
            earlier_complaints=[EarlierComplaint(**dict(r)) for r in earlier],
            roster=[staff_member(r) for r in roster],
        )

    @activity.defn
    async def assign_handling_agent(self, req: AgentRequest) -> StaffMember | None:
        """The L1 agent named in the acknowledgement: an available agent, skilled in the
        category when one is, with the fewest open complaints (ties by id, so it is stable)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""SELECT s.*, (SELECT count(*) FROM complaints c
                                 WHERE c.handling_agent = s.id AND c.crn <> $2
                                   AND c.status NOT IN {_OPEN}) AS workload
                    FROM staff s WHERE s.role = 'agent' AND s.available
                    ORDER BY ($1::text IS NOT NULL AND $1 = ANY(s.skills)) DESC, workload, s.id
                    LIMIT 1""",  # nosec B608 # SQL from constants only; values are bound $n parameters
                req.category.value if req.category else None, req.crn,
            )
        return staff_member(row) if row else None

    @activity.defn
    async def save_progress(self, progress: ComplaintProgress) -> None:
        """Write the complaint row (whole, or what changed) and append the new resolution-log
        events, in one transaction. Events are keyed by (crn, seq): a retry appends nothing
        twice. The webhook events they make are queued in the same transaction
        (database/webhooks.py), so an event is never recorded without them nor queued twice."""
        r = progress.record
        for_webhooks = "status" in r.model_fields_set or any(
            e.event in FROM_TIMELINE for e in progress.events)
        woken: list[int] = []
        async with self.pool.acquire() as conn, conn.transaction():
            status_before = await conn.fetchval(
                "SELECT status FROM complaints WHERE crn = $1 FOR UPDATE", r.crn
            ) if for_webhooks else None
            if r.inserts:  # a run's first write: the whole row
                await conn.execute(_INSERT_ROW, r.crn,
                                   *(r.changed().get(column) for column in _ROW_COLUMNS))
            elif changed := {k: v for k, v in r.changed().items() if k in _CHANGING}:
                # A later write: only what changed since the one before.
                columns = list(changed)
                sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
                updated = await conn.execute(
                    f"UPDATE complaints SET {sets}, updated_at = now() WHERE crn = $1",  # nosec B608 # column names from _CHANGING only; values are bound $n parameters
                    r.crn, *changed.values())
                if updated == "UPDATE 0":
                    raise RuntimeError(f"complaint {r.crn} has no row to update yet")
            if progress.events:
                await conn.executemany(
                    """INSERT INTO complaint_events (crn, seq, at, event, actor, detail,
                           deadline, level, reason, outcome, amount, currency, before, after)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                       ON CONFLICT (crn, seq) DO NOTHING""",
                    [(r.crn, e.seq, e.at, e.event, e.actor, e.detail, e.deadline, e.level,
                      e.reason, e.outcome, e.amount, e.currency, e.before, e.after)
                     for e in progress.events],
                )
            if for_webhooks:
                woken = await queue_events(conn, r.crn, [e.model_dump() for e in progress.events],
                                           status_before, self.console_url)
        if woken and self.wake_deliveries is not None:
            try:
                await self.wake_deliveries(woken)
            except Exception as err:  # they look for pending events by themselves too
                log.warning("webhook deliveries %s not woken: %s", woken, err)

    @activity.defn
    async def assign_owner(self, req: OwnerRequest) -> OwnerAssignment | None:
        """CRR-001 2.1: the customer's CSM when available; else an available specialist
        skilled in the category with the fewest open complaints; else a team lead."""
        async with self.pool.acquire() as conn:
            if req.keep:  # a reopened complaint: its owner, while available
                row = await conn.fetchrow(
                    "SELECT * FROM staff WHERE id = $1 AND available", req.keep)
                if row is not None:
                    return OwnerAssignment(owner=staff_member(row), how="kept")
            if req.customer_csm:
                row = await conn.fetchrow(
                    "SELECT * FROM staff WHERE id = $1 AND available", req.customer_csm)
                if row is not None:
                    return OwnerAssignment(owner=staff_member(row), how="csm")
            if req.category is not None:
                row = await conn.fetchrow(
                    f"""SELECT s.*, (SELECT count(*) FROM complaints c
                                     WHERE c.owner = s.id AND c.crn <> $2
                                       AND c.status NOT IN {_OPEN}) AS workload
                        FROM staff s
                        WHERE s.role = 'specialist' AND s.available AND $1 = ANY(s.skills)
                        ORDER BY workload, s.id LIMIT 1""",  # nosec B608 # SQL from constants only; values are bound $n parameters
                    req.category.value, req.crn,
                )
                if row is not None:
                    return OwnerAssignment(owner=staff_member(row), how="specialist")
            row = await conn.fetchrow(
                """SELECT * FROM staff WHERE role = 'team_lead' AND team = 'support'
                   ORDER BY available DESC, id LIMIT 1""")
        return OwnerAssignment(owner=staff_member(row), how="team_lead") if row else None

    @activity.defn
    async def archive_complaint(self, crn: str) -> None:
        """The complaint management process, step 16: move the closed complaint out of the
        active queue."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO complaint_archive (crn, archived_at, snapshot)
                   SELECT crn, now(), to_jsonb(c) - 'search' FROM complaints c
                   WHERE crn = $1
                   ON CONFLICT (crn) DO NOTHING""", crn)
