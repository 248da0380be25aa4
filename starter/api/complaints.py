"""`GET /complaints` (the list and search, from the complaint row in PostgreSQL) and
`GET /complaints/{crn}` (the `status` query)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query
from temporalio.client import Client

from database import desk
from starter import listing
from starter.api.deps import Database, Staff, Temporal
from starter.api.errors import ApiError, FieldProblem, in_time, invalid, responses
from starter.operations import get_status
from workflows.models import ComplaintState, Phase, Status

router = APIRouter(tags=["complaints"])

CRN_PATTERN = re.compile(r"^CRN-[A-Z2-7]{10}$")
Crn = Annotated[str, Path(description="the Complaint Reference Number, e.g. CRN-WKTLI5TNQT",
                          max_length=100)]


def known_crn(crn: str) -> None:
    """A CRN that cannot be one is 404 without asking Temporal."""
    if not CRN_PATTERN.match(crn):
        raise ApiError(404, "not_found", f"no complaint {crn} (a CRN looks like CRN-WKTLI5TNQT)")


async def complaint_state(client: Client, crn: str) -> ComplaintState:
    known_crn(crn)
    return await in_time(get_status(client, crn), f"status of {crn}")


@router.get(
    "/complaints", summary="List complaints, most urgent first, or search them",
    operation_id="list_complaints",
    description="From the complaint's row in PostgreSQL (written by its workflow a moment "
    "after each change). Most urgent first: the soonest next deadline, those with none last. "
    "Filters combine with AND; `open=true` leaves out closed and archived complaints. Pass "
    "`next_page_token` back as `page_token` for the next page.\n\n"
    "With `q`: a full-text search (websearch syntax: `\"a phrase\"`, `or`, `-word`) over the "
    "CRN, subject, description, customer name, email and company, order id, every email in "
    "and out and the internal notes, open and closed alike, best match first, each with "
    "where the words matched; only the complaints the caller's queue may show (the head of "
    "customer success: all). Pass `next_offset` back as `offset` for more.",
    responses=responses(401, 403, 422, 503),
)
async def list_complaints(
    principal: Staff,
    pool: Database,
    status: Annotated[Status | None, Query(description="ComplaintStatus")] = None,
    phase: Annotated[Phase | None, Query(description="ComplaintPhase")] = None,
    owner: Annotated[str | None, Query(description="owner's roster id, or 'unassigned'",
                                       min_length=1, max_length=200,
                                       pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    severity: Annotated[int | None, Query(ge=1, le=4)] = None,
    customer: Annotated[str | None, Query(description="the customer id", min_length=1,
                                          max_length=500,
                                          pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    breached: Annotated[bool | None, Query(description="an SLA was breached")] = None,
    open_only: Annotated[bool, Query(alias="open",
                                     description="only complaints not closed or archived")] = False,
    q: Annotated[str | None, Query(description="words to search for", max_length=500,
                                   pattern=r"^[^\x00-\x1f\x7f]*$")] = None,
    limit: Annotated[int | None, Query(
        ge=1, le=listing.MAX_LIMIT, description=f"default {listing.DEFAULT_LIMIT}; with q "
        f"{listing.SEARCH_LIMIT}")] = None,
    page_token: Annotated[str | None, Query(max_length=4000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000, description="with q: skip this many")] = 0,
) -> listing.QueuePage | listing.SearchPage:
    filters = listing.ListFilters(status=status, phase=phase, owner=owner,
                                  severity=severity, customer=customer, breached=breached)
    if q is not None:
        assert principal.staff is not None  # a staff key (Staff)
        try:
            return await in_time(listing.search_page(
                pool, q, filters, listing.scope_of(principal.staff),
                limit=limit or listing.SEARCH_LIMIT,
                offset=offset, open_only=open_only), "search")
        except desk.EmptySearch as err:
            raise invalid([FieldProblem(location="query", field="q",
                                        message=f"{err}: a name, an order id, a CRN or a "
                                        "word the customer wrote")]) from None
    try:
        return await in_time(listing.queue_page(
            pool, filters, desk.Scope(everything=True), limit=limit or listing.DEFAULT_LIMIT,
            page_token=page_token,
            open_only=open_only), "list")
    except listing.BadPageToken as err:
        raise _bad_page_token(str(err)) from None


def _bad_page_token(message: str) -> ApiError:
    return invalid([FieldProblem(location="query", field="page_token", message=message)])


@router.get("/complaints/{crn}", name="complaint_status", operation_id="complaint_status",
            summary="A complaint's state: deadlines, what it waits for, refund, timeline",
            responses=responses(401, 403, 404, 422, 503))
async def complaint_status(crn: Crn, principal: Staff, client: Temporal) -> ComplaintState:
    return await complaint_state(client, crn)
