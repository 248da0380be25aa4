"""`GET /complaints` (the list, from Temporal visibility) and `GET /complaints/{crn}` (the
`status` query)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from starter import listing
from starter.api.deps import Staff, Temporal
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
    "/complaints", summary="List complaints (Temporal visibility)",
    operation_id="list_complaints",
    description="Newest first. Filters combine with AND. Visibility lags the workflow by "
    "a moment. Pass `next_page_token` back as `page_token` for the next page.",
    responses=responses(401, 403, 422, 503),
)
async def list_complaints(
    principal: Staff,
    client: Temporal,
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
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = listing.DEFAULT_LIMIT,
    page_token: Annotated[str | None, Query(max_length=4000)] = None,
) -> listing.ComplaintPage:
    filters = listing.ListFilters(status=status, phase=phase, owner=owner,
                                  severity=severity, customer=customer, breached=breached)
    try:
        return await in_time(listing.list_page(client, filters, limit, page_token), "list")
    except listing.BadPageToken as err:
        raise _bad_page_token(str(err)) from None
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise _bad_page_token("not a page token this server issued") from None
        raise


def _bad_page_token(message: str) -> ApiError:
    return invalid([FieldProblem(location="query", field="page_token", message=message)])


@router.get("/complaints/{crn}", name="complaint_status", operation_id="complaint_status",
            summary="A complaint's state: deadlines, what it waits for, refund, timeline",
            responses=responses(401, 403, 404, 422, 503))
async def complaint_status(crn: Crn, principal: Staff, client: Temporal) -> ComplaintState:
    return await complaint_state(client, crn)
