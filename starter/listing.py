"""Complaint lists: the desk's (the queue, the API's list, search) from the complaint row in
PostgreSQL (database/desk.py), and the engineer's from Temporal visibility (`complaints list`).

The filters are the same for both: the complaint's status, phase, owner, severity, customer
and breached (the row's columns, the search attributes of workflows/search_attributes.py). A
page token is opaque to callers and bound to the filters (and the person's scope) it was
issued for, so a token reused with other filters is refused instead of silently listing the
wrong page. Who sees what in the desk is `scope_of(member)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from database import desk
from database.pool import Pool
from reporting.spreadsheet import csv_text
from workflows import search_attributes as sa
from workflows.actions import SUPERVISORS
from workflows.models import Phase, Role, Status
from workflows.records import StaffMember

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class BadPageToken(ValueError):
    """A page token this server did not issue, or one issued for other filters."""


class ListFilters(BaseModel):
    status: Status | None = None
    phase: Phase | None = None
    owner: str | None = None
    severity: int | None = Field(default=None, ge=1, le=4)
    customer: str | None = None
    breached: bool | None = None

    def columns(self) -> dict[str, Any]:
        """The filters as the complaint row's values (database/desk.py FILTER_COLUMNS)."""
        return {k: v.value if isinstance(v, Status | Phase) else v
                for k, v in self.model_dump().items() if v is not None}

    def query(self) -> str:
        """A Temporal visibility query over the complaint search attributes."""
        clauses = ["WorkflowType = 'ComplaintWorkflow'"]
        for key, value in ((sa.COMPLAINT_STATUS, self.status.value if self.status else None),
                           (sa.COMPLAINT_PHASE, self.phase.value if self.phase else None),
                           (sa.COMPLAINT_OWNER, self.owner), (sa.CUSTOMER_ID, self.customer)):
            if value is not None:
                clauses.append(f"{key.name} = {_quoted(value)}")
        if self.severity is not None:
            clauses.append(f"{sa.COMPLAINT_SEVERITY.name} = {int(self.severity)}")
        if self.breached is not None:
            clauses.append(f"{sa.SLA_BREACHED.name} = {'true' if self.breached else 'false'}")
        return " AND ".join(clauses)


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ComplaintSummary(BaseModel):
    """One complaint in a list: what its search attributes say."""

    crn: str
    status: str | None = Field(description="ComplaintStatus (new, acknowledged, ...)")
    phase: str | None = Field(description="ComplaintPhase (triage ... closed)")
    severity: int | None = Field(description="ComplaintSeverity, 1 (highest) to 4")
    escalation_level: int = Field(description="0 none, 1 team lead, 2 head of customer success")
    owner: str | None = Field(description="roster id of the owner; 'unassigned' before one")
    customer_id: str | None
    category: str | None
    sla_breached: bool
    retention_risk: bool
    next_deadline_at: datetime | None = Field(
        default=None, description="NextDeadlineAt: when its next open deadline falls due")
    received_at: datetime | None = Field(description="when the workflow started")
    closed_at: datetime | None = Field(description="when the workflow ended (archived)")
    running: bool = Field(description="false once closed or archived (visibility: once the "
                          "workflow ended)")


class ComplaintPage(BaseModel):
    items: list[ComplaintSummary]
    next_page_token: str | None = Field(
        description="pass as page_token for the next page; null on the last page")


def summarize(wf: WorkflowExecution) -> ComplaintSummary:
    attrs = wf.typed_search_attributes
    return ComplaintSummary(
        crn=wf.id, status=attrs.get(sa.COMPLAINT_STATUS), phase=attrs.get(sa.COMPLAINT_PHASE),
        severity=attrs.get(sa.COMPLAINT_SEVERITY),
        escalation_level=attrs.get(sa.ESCALATION_LEVEL) or 0,
        owner=attrs.get(sa.COMPLAINT_OWNER), customer_id=attrs.get(sa.CUSTOMER_ID),
        category=attrs.get(sa.COMPLAINT_CATEGORY),
        sla_breached=bool(attrs.get(sa.SLA_BREACHED)),
        retention_risk=bool(attrs.get(sa.RETENTION_RISK)),
        next_deadline_at=attrs.get(sa.NEXT_DEADLINE_AT),
        received_at=wf.start_time, closed_at=wf.close_time,
        running=wf.status == WorkflowExecutionStatus.RUNNING)


def _binding(query: str) -> bytes:
    return hashlib.sha256(query.encode()).digest()[:8]


def encode_token(query: str, raw: bytes) -> str:
    return base64.urlsafe_b64encode(_binding(query) + raw).decode().rstrip("=")


def decode_token(query: str, token: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise BadPageToken("not a page token this server issued") from None
    if len(data) <= 8:
        raise BadPageToken("not a page token this server issued")
    if data[:8] != _binding(query):
        raise BadPageToken("this page token was issued for other filters")
    return data[8:]


async def list_page(client: Client, filters: ListFilters, limit: int = DEFAULT_LIMIT,
                    page_token: str | None = None) -> ComplaintPage:
    """One page of complaints, newest first (Temporal visibility orders by start time)."""
    query = filters.query()
    raw = decode_token(query, page_token) if page_token else None
    it = client.list_workflows(query, page_size=limit, next_page_token=raw)
    await it.fetch_next_page()
    items = [summarize(wf) for wf in it.current_page or []]
    nxt = it.next_page_token
    return ComplaintPage(items=items, next_page_token=encode_token(query, nxt) if nxt else None)


QUEUE_LIMIT = 500


async def most_urgent(client: Client, query: str, limit: int = QUEUE_LIMIT
                      ) -> list[ComplaintSummary]:
    """The running complaints `query` matches, most urgent first: the soonest NextDeadlineAt
    first, those with none last. SQL visibility (the dev server, PostgreSQL) has no ORDER BY,
    so the sort is here, over what visibility returned: no complaint is queried."""
    items: list[ComplaintSummary] = []
    async for wf in client.list_workflows(f"({query}) AND ExecutionStatus = 'Running'",
                                          page_size=min(limit, MAX_LIMIT), limit=limit):
        items.append(summarize(wf))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda s: (s.next_deadline_at or far, s.crn))


# --- the desk: the complaint row in PostgreSQL -----------------------------------------------

# What each role acts on besides its own complaints (as owner).
_ROLE_SCOPE: dict[Role, desk.Scope] = {
    Role.agent: desk.Scope(phases=(Phase.triage.value,)),
    Role.finance_manager: desk.Scope(statuses=(Status.awaiting_approval.value,)),
    Role.qa: desk.Scope(phases=(Phase.post_mortem.value,)),
    Role.rnd: desk.Scope(statuses=(Status.fix_in_progress.value,)),
}


# A team lead of a team complaints are handed to (workflows/complaint/handoffs.py) also sees
# that team's hand-offs.
_TEAM_HANDOFFS: dict[str, desk.Scope] = {
    "rnd": _ROLE_SCOPE[Role.rnd], "qa": _ROLE_SCOPE[Role.qa],
    "finance": _ROLE_SCOPE[Role.finance_manager]}


def scope_of(member: StaffMember) -> desk.Scope:
    """What a person's queue and search show: the head of customer success everything; a team
    lead their team's complaints (the owner's team), the unassigned and their own, and the
    lead of a team complaints are handed to that team's hand-offs too (R&D: fixes in
    progress; QA: post-mortems; Finance: refunds awaiting a decision); everyone else their
    own (as owner) and what their role acts on: new complaints awaiting a personal
    acknowledgement for agents, refunds awaiting a decision for the Finance Manager, the
    post-mortems for QA, fixes in progress for R&D."""
    if member.role == Role.head_of_cs:
        return desk.Scope(everything=True)
    if member.role in SUPERVISORS:
        handed = _TEAM_HANDOFFS.get(member.team or "", desk.Scope())
        return desk.Scope(owner=member.id, team=member.team, unassigned=True,
                          phases=handed.phases, statuses=handed.statuses)
    extra = _ROLE_SCOPE.get(member.role, desk.Scope())
    return desk.Scope(owner=member.id, phases=extra.phases, statuses=extra.statuses)


class QueueItem(ComplaintSummary):
    """One complaint in the desk's list: its row."""

    next_deadline: str | None = Field(default=None, description="the next deadline's name")
    team: str | None = Field(default=None, description="the owner's team")
    paused_since: datetime | None = Field(
        default=None, description="waiting on the customer since (its clock paused)")
    subject: str = ""
    customer_name: str | None = None


class HeadlinePart(BaseModel):
    text: str
    matched: bool = Field(description="one of the searched words")


class SearchHit(QueueItem):
    rank: float = Field(description="ts_rank: higher matches better")
    headline: list[HeadlinePart] = Field(description="where the words matched, in context")


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_page_token: str | None = Field(
        description="pass as page_token for the next page; null on the last page")


class SearchPage(BaseModel):
    query: str
    items: list[SearchHit]
    next_offset: int | None = Field(description="pass as offset for more; null at the end")
    matched: int = Field(description="how many complaints matched (at most the cap)")
    capped: bool = Field(description=f"more than {desk.RANK_CANDIDATES} matched: the best of "
                         "the first found are shown; add a word or a filter")


def item(row: desk.DeskRow) -> QueueItem:
    return QueueItem(
        crn=row.crn, status=row.status, phase=row.phase, severity=row.severity,
        escalation_level=row.escalation_level, owner=row.owner or "unassigned",
        customer_id=row.customer_id, category=row.category or "uncategorised",
        sla_breached=row.sla_breached, retention_risk=row.retention_risk,
        next_deadline_at=row.next_deadline_at, received_at=row.received_at,
        closed_at=row.closed_at, running=row.status not in (Status.closed, Status.archived),
        next_deadline=row.next_deadline, team=row.team, paused_since=row.paused_since,
        subject=row.subject, customer_name=row.customer_name)


def _cursor_binding(filters: ListFilters, scope: desk.Scope, open_only: bool) -> str:
    return json.dumps([filters.columns(), scope.key(), open_only], sort_keys=True)


def encode_cursor(binding: str, row: desk.DeskRow) -> str:
    raw = json.dumps([row.queue_at.isoformat(), row.crn]).encode()
    return encode_token(binding, raw)


def decode_cursor(binding: str, token: str) -> tuple[datetime, str]:
    raw = decode_token(binding, token)
    try:
        at, crn = json.loads(raw)
        return datetime.fromisoformat(at), str(crn)
    except (ValueError, TypeError):
        raise BadPageToken("not a page token this server issued") from None


async def queue_page(pool: Pool, filters: ListFilters, scope: desk.Scope, *,
                     limit: int = DEFAULT_LIMIT, page_token: str | None = None,
                     open_only: bool = True) -> QueuePage:
    """One page of complaints, most urgent first (the soonest next deadline; none last),
    from the complaint row: right over every complaint, page after page."""
    binding = _cursor_binding(filters, scope, open_only)
    after = decode_cursor(binding, page_token) if page_token else None
    rows = await desk.queue(pool, filters.columns(), scope, limit=limit + 1, after=after,
                            open_only=open_only)
    more = len(rows) > limit
    rows = rows[:limit]
    return QueuePage(items=[item(r) for r in rows],
                     next_page_token=encode_cursor(binding, rows[-1]) if more else None)


# A search page: the best 20 (each with its headline, cut from the complaint's whole text).
SEARCH_LIMIT = 20


async def search_page(pool: Pool, words: str, filters: ListFilters,
                      scope: desk.Scope, *, limit: int = SEARCH_LIMIT, offset: int = 0,
                      open_only: bool = False) -> SearchPage:
    """Complaints matching `words` (open and closed alike), best first, with where they
    matched. Raises desk.EmptySearch when `words` holds no word."""
    found = await desk.search(pool, words, filters.columns(), scope, limit=limit + 1,
                              offset=offset, open_only=open_only)
    more = len(found.rows) > limit
    hits = [SearchHit(**item(r).model_dump(), rank=r.rank or 0.0,
                      headline=[HeadlinePart(text=t, matched=m) for t, m in r.headline])
            for r in found.rows[:limit]]
    return SearchPage(query=words, items=hits, next_offset=offset + limit if more else None,
                      matched=found.matched, capped=found.capped)
def list_csv(items: list[ComplaintSummary],
             headlines: dict[str, tuple[str | None, str | None]] | None = None) -> str:
    """A complaint list as CSV (`complaints list --format csv`, the console's download):
    the summary's fields, and the subject and customer name when `headlines` gives them
    (crn -> (subject, customer name)); every text cell safe to open in a spreadsheet."""
    columns = list(ComplaintSummary.model_fields)
    header = columns + (["subject", "customer_name"] if headlines is not None else [])
    rows = []
    for s in items:
        row = [getattr(s, c) for c in columns]
        if headlines is not None:
            row += list(headlines.get(s.crn, (None, None)))
        rows.append(row)
    return csv_text(header, rows)
