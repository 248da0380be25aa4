"""`POST /complaints`: an intake system (or a staff member) submits a complaint."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from settings.tracing import tag_current_span
from starter.api.bodies import strict_body
from starter.api.deps import AppSettings, Caller, Temporal
from starter.api.errors import ApiError, FieldProblem, in_time, invalid, responses
from starter.intake import submit
from workflows.models import ComplaintIntake

log = logging.getLogger("complaints.api")
router = APIRouter(tags=["intake"])

# How far `received_at` may lie from now: the workflow computes every deadline from it, and
# a date decades away would breach everything at once (or overflow the calendar).
RECEIVED_WITHIN_PAST = timedelta(days=30)
RECEIVED_CLOCK_SKEW = timedelta(minutes=5)
# Seconds a caller is asked to wait when intake is full (`API_MAX_PENDING_INTAKES`).
INTAKE_RETRY_AFTER = 5
# Intake fields that are one line: the subject goes into email headers.
SINGLE_LINE = frozenset({("subject",), ("external_ref",), ("customer", "id"),
                         ("customer", "name"), ("customer", "phone"), ("order_id",)})


class SubmissionOut(BaseModel):
    crn: str = Field(description="the Complaint Reference Number (also the workflow id)")
    created: bool = Field(description="false when this (source, external_ref) was already "
                          "submitted: the same complaint, nothing new started")
    url: str = Field(description="where its status is read")


@router.post(
    "/complaints", status_code=201, operation_id="submit_complaint",
    summary="Submit a complaint (any key, intake keys included)",
    description="Starts the complaint's workflow. The CRN is derived from `(source, "
    "external_ref)`: submitting the same complaint again answers 200 with the same CRN "
    "and starts nothing.",
    response_model=SubmissionOut,
    responses={200: {"model": SubmissionOut, "description": "already submitted: same CRN"},
               **responses(401, 422, 503)},
)
async def submit_complaint(intake: ComplaintIntake, principal: Caller, request: Request,
                           strict: Annotated[ComplaintIntake,
                                             strict_body(ComplaintIntake, SINGLE_LINE)],
                           client: Temporal, settings: AppSettings) -> JSONResponse:
    _check_received_at(strict)
    pending = getattr(request.app.state, "pending_intakes", 0)
    if pending >= settings.api_max_pending_intakes:
        # Temporal is slow: the caller waits outside rather than piling up here (a retry
        # with the same external_ref is the same complaint, never a second one).
        raise ApiError(503, "unavailable", f"{pending} complaints are being submitted already; "
                       "try again shortly", headers={"Retry-After": str(INTAKE_RETRY_AFTER)})
    request.app.state.pending_intakes = pending + 1
    try:
        result = await in_time(submit(client, strict, settings.task_queue), "submitting")
    finally:
        request.app.state.pending_intakes -= 1
    tag_current_span(result.crn)
    url = str(request.url_for("complaint_status", crn=result.crn).path)
    log.info("%s submitted %s (%s)", principal.key_id, result.crn,
             "new" if result.created else "repeat")
    out = SubmissionOut(crn=result.crn, created=result.created, url=url)
    return JSONResponse(out.model_dump(), status_code=201 if result.created else 200,
                        headers={"Location": url})


def _check_received_at(intake: ComplaintIntake) -> None:
    if intake.received_at is None:
        return
    now = datetime.now(UTC)
    if not now - RECEIVED_WITHIN_PAST <= intake.received_at <= now + RECEIVED_CLOCK_SKEW:
        raise invalid([FieldProblem(
            location="body", field="received_at",
            message=f"must lie between {RECEIVED_WITHIN_PAST.days} days ago and now "
                    "(leave it out to mean now)")])
