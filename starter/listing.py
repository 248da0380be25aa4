"""Complaint lists from Temporal visibility, one page at a time (the API and the CLI).

The filters are the complaint search attributes (workflows/search_attributes.py). A page
token is opaque to callers: Temporal's own token, bound to the filters it was issued for,
so a token reused with other filters is refused instead of silently listing the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from reporting.spreadsheet import csv_text
from workflows import search_attributes as sa
from workflows.models import Phase, Status

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
    running: bool = Field(description="false once archived, terminated or failed")


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
