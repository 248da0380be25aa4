"""The desk's reads of the complaint row (migrations/0020_desk_queue.sql): the queue, most
urgent first over every complaint with keyset pagination, and full-text search.

The row carries what the queue sorts and filters on, written by the workflow's single writer
(workflows/complaint/effects.py): `queue_at` is the next open deadline's instant (infinity for
none), so "most urgent first" is `ORDER BY queue_at, crn` on an index, for 10 or 100,000
complaints alike. A page's cursor is the last row's (queue_at, crn).

Who sees what is a `Scope` (starter/listing.py makes one from a roster member); filters are
the row's columns. Every value is a bound parameter; column names come from constants here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

OPEN = "c.status NOT IN ('closed', 'archived')"
# ListFilters' names -> the row's columns (owner None: unassigned).
FILTER_COLUMNS = {"status": "status", "phase": "phase", "owner": "owner",
                  "severity": "severity", "customer": "customer_id",
                  "breached": "sla_breached", "team": "team"}
# ts_headline's markers around a matched word: characters no stored text carries, so the
# caller can split on them and escape the rest.
MARK_START, MARK_STOP = "\x02", "\x03"
_HEADLINE = (f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxFragments=2, MinWords=6, "
             "MaxWords=18, FragmentDelimiter=\" … \"")
_COLUMNS = ("c.crn, c.status, c.phase, c.severity, c.escalation_level, c.owner, c.customer_id, "
            "c.category, c.sla_breached, c.retention_risk, c.next_deadline_at, "
            "c.next_deadline, c.queue_at, c.team, c.paused_since, c.received_at, c.closed_at, "
            "c.subject, c.customer_name")


class EmptySearch(ValueError):
    """A search with no word to look for."""


@dataclass(frozen=True)
class Scope:
    """Which complaints a person's queue and search show. `everything`: all of them; else
    those matching any of the set parts (their own as owner, their team's, a phase or a
    status their role acts on, the unassigned)."""

    everything: bool = False
    owner: str | None = None
    team: str | None = None
    phases: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    unassigned: bool = False

    def clause(self, params: list[Any]) -> str | None:
        if self.everything:
            return None
        parts: list[str] = []

        def bind(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if self.owner is not None:
            parts.append(f"c.owner = {bind(self.owner)}")
        if self.team is not None:
            parts.append(f"c.team = {bind(self.team)}")
        if self.phases:
            parts.append(f"c.phase = ANY({bind(list(self.phases))}::text[])")
        if self.statuses:
            parts.append(f"c.status = ANY({bind(list(self.statuses))}::text[])")
        if self.unassigned:
            parts.append("c.owner IS NULL")
        return "(" + " OR ".join(parts) + ")" if parts else "false"

    def key(self) -> str:
        """What a cursor is bound to besides the filters."""
        return repr(self)


@dataclass(frozen=True)
class DeskRow:
    """One complaint as the queue and search show it (the row's columns)."""

    crn: str
    status: str
    phase: str
    severity: int
    escalation_level: int
    owner: str | None
    customer_id: str
    category: str | None
    sla_breached: bool
    retention_risk: bool
    next_deadline_at: datetime | None
    next_deadline: str | None
    queue_at: datetime
    team: str | None
    paused_since: datetime | None
    received_at: datetime
    closed_at: datetime | None
    subject: str
    customer_name: str | None
    rank: float | None = None
    headline: list[tuple[str, bool]] = field(default_factory=list)


def _where(filters: Mapping[str, Any], scope: Scope, open_only: bool,
           params: list[Any]) -> list[str]:
    clauses = [OPEN] if open_only else []
    for name, value in filters.items():
        if value is None:
            continue
        column = FILTER_COLUMNS[name]
        if name == "owner" and value == "unassigned":
            clauses.append("c.owner IS NULL")
            continue
        params.append(value)
        clauses.append(f"c.{column} = ${len(params)}")
    mine = scope.clause(params)
    if mine:
        clauses.append(mine)
    return clauses


def _row(r: asyncpg.Record, headline: str | None = None) -> DeskRow:
    values = {k: r[k] for k in DeskRow.__dataclass_fields__ if k not in ("rank", "headline")}
    return DeskRow(**values, rank=r["rank"] if "rank" in r else None,
                   headline=split_headline(headline) if headline else [])


def split_headline(text: str) -> list[tuple[str, bool]]:
    """ts_headline's text as (text, matched) parts."""
    parts: list[tuple[str, bool]] = []
    for i, piece in enumerate(text.split(MARK_START)):
        matched, _, rest = piece.partition(MARK_STOP) if i else ("", "", piece)
        if matched:
            parts.append((matched, True))
        if rest:
            parts.append((rest, False))
    return parts


async def queue(pool: asyncpg.Pool, filters: Mapping[str, Any], scope: Scope, *,
                limit: int, after: tuple[datetime, str] | None = None,
                open_only: bool = True) -> list[DeskRow]:
    """Complaints most urgent first (the soonest next deadline; none last; then by CRN),
    `limit` of them after the cursor `after` (the last row's queue_at and crn)."""
    params: list[Any] = []
    clauses = _where(filters, scope, open_only, params)
    if after is not None:
        params += [after[0], after[1]]
        clauses.append(f"(c.queue_at, c.crn) > (${len(params) - 1}, ${len(params)})")
    params.append(limit)
    where = " AND ".join(clauses) or "true"
    sql = (f"SELECT {_COLUMNS} FROM complaints c WHERE {where} "  # nosec B608 # columns and clauses from constants; values are bound
           f"ORDER BY c.queue_at, c.crn LIMIT ${len(params)}")
    async with pool.acquire() as conn:
        return [_row(r) for r in await conn.fetch(sql, *params)]


# Search ranks at most this many matches: a word many complaints contain (a quarter of 100,000)
# would otherwise make every search read them all. Past it, the best of the first this many
# found are shown, and the caller is told to narrow the search.
RANK_CANDIDATES = 1000


@dataclass(frozen=True)
class Found:
    rows: list[DeskRow]
    matched: int  # how many matched, up to RANK_CANDIDATES
    capped: bool  # more matched than were ranked


async def search(pool: asyncpg.Pool, words: str, filters: Mapping[str, Any], scope: Scope, *,
                 limit: int, offset: int = 0, open_only: bool = False) -> Found:
    """Complaints whose words match `words` (websearch syntax: "a phrase", or, -not), best
    first (ts_rank), each with where the words matched (ts_headline). Open and closed alike
    unless `open_only`. EmptySearch when `words` holds no word."""
    params: list[Any] = [words]
    # The query inline, not from a CTE: the planner then estimates how many rows each word
    # matches (and picks the GIN index or a scope's index accordingly).
    clauses = ["c.search @@ websearch_to_tsquery('simple', $1)",
               *_where(filters, scope, open_only, params)]
    params += [RANK_CANDIDATES + 1, limit, offset]
    n = len(params)
    where = " AND ".join(clauses)
    # Rank the matches (up to the cap); the headline (reading the messages) for the page only.
    sql = (f"""WITH q AS (SELECT websearch_to_tsquery('simple', $1) AS query),
               matches AS MATERIALIZED (SELECT c.crn, c.search FROM complaints c
                                        WHERE {where} LIMIT ${n - 2}),
               hits AS (SELECT m.crn, ts_rank(m.search, q.query) AS rank FROM matches m, q
                        ORDER BY rank DESC, m.crn LIMIT ${n - 1} OFFSET ${n})
               SELECT {_COLUMNS}, hits.rank, (SELECT count(*) FROM matches) AS matched,
                      ts_headline('simple', complaint_search_text(c), q.query,
                                  '{_HEADLINE}') AS headline
               FROM hits JOIN complaints c USING (crn), q
               ORDER BY hits.rank DESC, hits.crn""")  # nosec B608 # as in queue()
    async with pool.acquire() as conn:
        rows = await conn.fetch(sql, *params)
        # Nothing found: say so when there was nothing to look for (one more query only then).
        if not rows and not await conn.fetchval(
                "SELECT numnode(websearch_to_tsquery('simple', $1)) > 0", words):
            raise EmptySearch("the search has no word to look for")
    matched = rows[0]["matched"] if rows else 0
    return Found([_row(r, r["headline"]) for r in rows], min(matched, RANK_CANDIDATES),
                 matched > RANK_CANDIDATES)


async def within(pool: asyncpg.Pool, crns: list[str], scope: Scope) -> list[str]:
    """Which of `crns` the scope shows (a team lead acts on their queue's complaints only)."""
    params: list[Any] = [crns]
    mine = scope.clause(params)
    sql = ("SELECT c.crn FROM complaints c WHERE c.crn = ANY($1::text[])"  # nosec B608 # clause from constants; values are bound
           + (f" AND {mine}" if mine else ""))
    async with pool.acquire() as conn:
        return [r["crn"] for r in await conn.fetch(sql, *params)]
