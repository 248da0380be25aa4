"""The HTTP API (`complaints serve`): intake systems submit, agents and managers act.

    POST /complaints                             a ComplaintIntake; 201 + CRN (200 if repeated)
    GET  /complaints                             list, filtered, paginated (Temporal visibility)
    GET  /complaints/{crn}                       the `status` query
    POST /complaints/{crn}/actions/{update}      one per workflow update
    POST /complaints/{crn}/refund-decision       the Finance Manager's decision (a signal)

Every request carries an API key (`Authorization: Bearer <key>`, from `complaints keys
create`). A staff key's owner is the actor of every action: the body never names one.
An intake key may only submit. Errors are JSON, `{"error", "message", "fields"}`:
401 no valid key, 403 a role that may not act, 404 unknown CRN, 409 an action the complaint
refuses now (wrong phase, already done), 422 an invalid body or parameter (naming the
field), 503 Temporal or PostgreSQL unavailable. No error carries a stack trace; the server
log has it, under the reference the 500 gives.

Permission is decided here, before anything is sent, with workflows/permissions.py and the
roster in PostgreSQL; the workflow checks again against the roster it started with.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, and
# the action bodies are models built at run time.

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings
from starter import listing
from starter.cli import ACTIONS
from starter.intake import submit
from starter.keys import Principal, authenticate
from starter.operations import ComplaintNotFound, get_status, signal
from workflows import models as m
from workflows.models import ComplaintIntake, ComplaintState, Phase, Status
from workflows.permissions import OWNER_ACTIONS, ROLES_FOR, NotPermitted, check_actor

log = logging.getLogger("complaints.api")
T = TypeVar("T")

CRN_PATTERN = re.compile(r"^CRN-[A-Z2-7]{10}$")
TEMPORAL_TIMEOUT = 10.0  # seconds a query or an update may take before we say 503
DECISION_WAIT = 10.0  # seconds to wait for the worker to handle a refund decision
# How far `received_at` may lie from now: the workflow computes every deadline from it, and
# a date decades away would breach everything at once (or overflow the calendar).
RECEIVED_WITHIN_PAST = timedelta(days=30)
RECEIVED_CLOCK_SKEW = timedelta(minutes=5)
# Actions an owner may take whatever their role; others need a role from ROLES_FOR.
OWNER_OR_ROLE = frozenset({"record_fix_deployed", "record_kb_article"})
# What each action is, for /docs (DESIGN.md, the public contract).
ACTION_DOCS = {
    "acknowledge_personally": "The personal (non-templated) acknowledgement of a formal "
    "complaint, emailed to the customer; ends the triage phase.",
    "record_phone_contact": "The owner's call to the customer: reached or not, summary, "
    "expectations set. Only a call that reached the customer meets the phone deadline.",
    "submit_internal_review": "The 3 Whys (root cause, process failure, communication "
    "failure) and the investigation checklist.",
    "submit_action_plan": "The steps: technical_fix, process_change, credit_offer, refund, "
    "replacement. A refund or credit names an amount the order allows.",
    "record_fix_deployed": "The technical fix is live.",
    "send_customer_update": "A substantive update, emailed; restarts the customer-update clock.",
    "propose_solution": "Asks the customer for explicit agreement (emailed); the update "
    "clock waits meanwhile.",
    "record_customer_response": "The customer agrees (true), disagrees (false) or just "
    "replies (null).",
    "confirm_resolution": 'The customer\'s written sign-off; must contain "Resolution Confirmed".',
    "submit_rca": "Root cause analysis, process failures, corrective actions, KB needed.",
    "record_kb_article": "The knowledge base article an RCA asked for is written.",
    "record_csat": "The customer's satisfaction, 1-5, with an optional comment.",
    "escalate": "Manual escalation one level up (customer asked for a manager, ...).",
    "reassign": "A new owner: a specialist, CSM or team lead on the roster.",
}


# --- errors --------------------------------------------------------------------------


class FieldProblem(BaseModel):
    location: str = Field(description="body, query, path or header")
    field: str = Field(description="the field, dotted for nested ones (customer.email)")
    message: str


class ApiErrorBody(BaseModel):
    """Every error the API returns."""

    error: str = Field(description="unauthenticated | forbidden | not_found | conflict | "
                       "invalid | unavailable | internal | method_not_allowed")
    message: str = Field(description="one line a person can act on")
    fields: list[FieldProblem] = Field(default_factory=list)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str,
                 fields: list[FieldProblem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.fields, self.headers = fields or [], headers


def _error(status: int, error: str, message: str, fields: list[FieldProblem] | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ApiErrorBody(error=error, message=message, fields=fields or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _problems(errors: list[dict[str, Any]]) -> list[FieldProblem]:
    problems = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        location, path = (loc[0], loc[1:]) if loc else ("body", [])
        message = e.get("msg", "invalid")
        if e.get("type") == "json_invalid":
            path, message = [], "not valid JSON: " + str((e.get("ctx") or {}).get("error", ""))
        elif e.get("type") == "extra_forbidden" and path == ["actor"] and location == "body":
            message = "leave it out: the actor is the owner of the API key"
        problems.append(FieldProblem(location=location, field=".".join(path) or f"({location})",
                                     message=message))
    return problems


def _invalid(problems: list[FieldProblem]) -> ApiError:
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return ApiError(422, "invalid", f"invalid request: {summary}", problems)


ERRORS = {
    401: ("no valid API key", "unauthenticated"),
    403: ("the key's owner may not do this", "forbidden"),
    404: ("no such complaint", "not_found"),
    409: ("the complaint refuses the action now (wrong phase, already done)", "conflict"),
    422: ("an invalid body or parameter; `fields` names each one", "invalid"),
    503: ("Temporal or PostgreSQL unavailable, or no worker answered in time", "unavailable"),
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ApiErrorBody, "description": ERRORS[code][0]} for code in codes}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.message, exc.fields, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = _invalid(_problems(list(exc.errors())))
        return _error(err.status, err.error, err.message, err.fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not decode (not UTF-8 JSON)
            err = _invalid([FieldProblem(location="body", field="(body)",
                                         message="not valid JSON (UTF-8)")])
            return _error(err.status, err.error, err.message, err.fields)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
                 403: "forbidden"}
        message = {404: f"no such endpoint: {request.method} {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(
                       exc.status_code, str(exc.detail))
        return _error(exc.status_code, codes.get(exc.status_code, "error"), message,
                      headers=getattr(exc, "headers", None))

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return _error(503, "unavailable", "Temporal is unavailable; try again shortly",
                          headers={"Retry-After": "5"})
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:  # e.g. its workflow task fails
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
            return _error(503, "unavailable", f"the complaint's workflow cannot answer now: "
                          f"{exc.message} (engineers: see the worker log)",
                          headers={"Retry-After": "30"})
        return _internal(request, exc)

    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(OSError)
    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return _error(503, "unavailable", "the database is unavailable; try again shortly",
                      headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request, exc)


def _internal(request: Request, exc: Exception) -> JSONResponse:
    reference = secrets.token_hex(4)
    log.error("internal error %s on %s %s", reference, request.method, request.url.path,
              exc_info=exc)
    return _error(500, "internal", f"internal error (reference {reference}); the server log "
                  "has the details")


# Intake fields that are one line: the subject goes into email headers.
SINGLE_LINE = frozenset({("subject",), ("external_ref",), ("customer", "id"),
                         ("customer", "name"), ("customer", "phone"), ("order_id",)})
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _strict_body(model: type[BaseModel], single_line: frozenset[tuple[str, ...]] = frozenset(),
                 ) -> Any:
    """Validate the raw JSON body strictly, as the OpenAPI schema says: `"received_at": 0`
    is not a date-time, `"score": "5"` not an integer (pydantic's lax mode would take both).
    NUL characters are refused (PostgreSQL cannot store them in the resolution log), and so
    are line breaks in one-line fields (an email header cannot carry them)."""

    async def parse(request: Request) -> BaseModel:
        raw = await request.body()
        try:
            value = model.model_validate_json(raw, strict=True)
        except ValidationError as err:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in err.errors()]) from None
        problems = []
        for path, text in _strings(value.model_dump()):
            if "\x00" in text:
                problems.append({"loc": ("body", *path), "type": "string_nul",
                                 "msg": "must not contain NUL characters"})
            elif path in single_line and CONTROL.search(text):
                problems.append({"loc": ("body", *path), "type": "string_one_line",
                                 "msg": "must be one line (no line breaks or control "
                                        "characters)"})
        if problems:
            raise RequestValidationError(problems)
        return value

    return Depends(parse)


def _strings(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, (*path, k))]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, (*path, i))]
    return []


async def _in_time(call: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(call, TEMPORAL_TIMEOUT)
    except TimeoutError:
        raise ApiError(503, "unavailable", f"{what}: no answer within {TEMPORAL_TIMEOUT:.0f} s "
                       "(is a worker running?)", headers={"Retry-After": "5"}) from None


# --- models of the API ----------------------------------------------------------------


class SubmissionOut(BaseModel):
    crn: str = Field(description="the Complaint Reference Number (also the workflow id)")
    created: bool = Field(description="false when this (source, external_ref) was already "
                          "submitted: the same complaint, nothing new started")
    url: str = Field(description="where its status is read")


class Me(BaseModel):
    key_id: str
    kind: str = Field(description="staff | intake")
    name: str
    role: str | None = Field(description="the roster role of a staff key")


class DecisionPending(BaseModel):
    crn: str
    message: str


def _body_model(model: type[BaseModel]) -> type[BaseModel]:
    """The update's payload model without `actor` (the key's owner is the actor)."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in model.model_fields.items()
                              if name != "actor"}
    return create_model(f"{model.__name__}Body", __base__=m.Model, __doc__=model.__doc__,
                        **fields)


def _who(update: str) -> str:
    if update in OWNER_ACTIONS:
        return "the complaint's owner, a team lead or the head of customer success"
    roles = ", ".join(sorted(r.value for r in ROLES_FOR[update]))
    return ("the owner, or one of: " if update in OWNER_OR_ROLE else "one of: ") + roles


# --- the app ------------------------------------------------------------------------------


def create_app(settings: Settings, client: Client, pool: asyncpg.Pool) -> FastAPI:
    app = FastAPIOffline(
        title="Complaint workflows API",
        version="1",
        description=(
            "Every customer complaint is a durable Temporal workflow. Intake systems submit "
            "complaints; agents and managers read and act on them.\n\n"
            "Authenticate with an API key: `Authorization: Bearer <key>` (created by "
            "`complaints keys create --staff ID` or `--intake NAME`). The key's owner is the "
            "actor of every action. Errors are JSON with `error`, `message` and `fields`."),
    )
    _install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                        description="an API key from `complaints keys create`")

    async def caller(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Principal:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise ApiError(401, "unauthenticated", "send an API key: Authorization: Bearer "
                           "<key> (complaints keys create)", headers=challenge)
        principal = await authenticate(pool, credentials.credentials)
        if principal is None:
            raise ApiError(401, "unauthenticated", "the API key is unknown or revoked",
                           headers=challenge)
        return principal

    async def staff_caller(principal: Annotated[Principal, Depends(caller)]) -> Principal:
        if principal.staff is None:
            raise ApiError(403, "forbidden", f"{principal.name!r} is an intake key: it may only "
                           "submit complaints (POST /complaints)")
        return principal

    Caller = Annotated[Principal, Depends(caller)]
    Staff = Annotated[Principal, Depends(staff_caller)]
    Crn = Annotated[str, Path(description="the Complaint Reference Number, e.g. CRN-WKTLI5TNQT",
                              max_length=100)]

    async def complaint(crn: str) -> ComplaintState:
        if not CRN_PATTERN.match(crn):
            raise ApiError(404, "not_found", f"no complaint {crn} (a CRN looks like "
                           "CRN-WKTLI5TNQT)")
        try:
            return await _in_time(get_status(client, crn), f"status of {crn}")
        except ComplaintNotFound:
            raise ApiError(404, "not_found", f"no complaint {crn}") from None

    @app.get("/health", tags=["service"], summary="Liveness: the API answers",
             operation_id="health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me", tags=["service"], summary="Who this API key stands for",
             operation_id="me", responses=_responses(401))
    async def me(principal: Caller) -> Me:
        return Me(key_id=principal.key_id, kind=principal.kind, name=principal.name,
                  role=principal.staff.role.value if principal.staff else None)

    @app.post(
        "/complaints", tags=["intake"], status_code=201, operation_id="submit_complaint",
        summary="Submit a complaint (any key, intake keys included)",
        description="Starts the complaint's workflow. The CRN is derived from `(source, "
        "external_ref)`: submitting the same complaint again answers 200 with the same CRN "
        "and starts nothing.",
        response_model=SubmissionOut,
        responses={200: {"model": SubmissionOut, "description": "already submitted: same CRN"},
                   **_responses(401, 422, 503)},
    )
    async def submit_complaint(intake: ComplaintIntake, principal: Caller, request: Request,
                               strict: Annotated[ComplaintIntake,
                                                 _strict_body(ComplaintIntake, SINGLE_LINE)],
                               ) -> JSONResponse:
        _check_received_at(strict)
        result = await submit(client, strict, settings.task_queue)
        url = str(request.url_for("complaint_status", crn=result.crn).path)
        log.info("%s submitted %s (%s)", principal.key_id, result.crn,
                 "new" if result.created else "repeat")
        out = SubmissionOut(crn=result.crn, created=result.created, url=url)
        return JSONResponse(out.model_dump(), status_code=201 if result.created else 200,
                            headers={"Location": url})

    @app.get(
        "/complaints", tags=["complaints"], summary="List complaints (Temporal visibility)",
        operation_id="list_complaints",
        description="Newest first. Filters combine with AND. Visibility lags the workflow by "
        "a moment. Pass `next_page_token` back as `page_token` for the next page.",
        responses=_responses(401, 403, 422, 503),
    )
    async def list_complaints(
        principal: Staff,
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
            return await _in_time(listing.list_page(client, filters, limit, page_token),
                                  "list")
        except listing.BadPageToken as err:
            raise _invalid([FieldProblem(location="query", field="page_token",
                                         message=str(err))]) from None
        except RPCError as err:
            if err.status == RPCStatusCode.INVALID_ARGUMENT:
                raise _invalid([FieldProblem(location="query", field="page_token",
                                             message="not a page token this server issued")
                                ]) from None
            raise

    @app.get("/complaints/{crn}", tags=["complaints"], name="complaint_status",
             operation_id="complaint_status",
             summary="A complaint's state: deadlines, what it waits for, refund, timeline",
             responses=_responses(401, 403, 404, 422, 503))
    async def complaint_status(crn: Crn, principal: Staff) -> ComplaintState:
        return await complaint(crn)

    def add_action(update: str, model: type[BaseModel]) -> None:
        body_model = _body_model(model)

        async def action(crn: Crn, principal: Staff, body: body_model,  # type: ignore[valid-type]
                         strict: Annotated[BaseModel, _strict_body(body_model)],
                         ) -> ComplaintState:
            body = strict
            state = await complaint(crn)
            member = principal.staff
            assert member is not None
            _check_permission(update, member, state)
            if update == "reassign":
                await _check_new_owner(pool, body.owner)  # type: ignore[attr-defined]
            payload = model.model_validate({**body.model_dump(), "actor": member.id})
            try:
                return await _in_time(_act(client, crn, update, payload), update)
            except ComplaintNotFound:
                raise ApiError(404, "not_found", f"no complaint {crn}") from None

        app.post(
            f"/complaints/{{crn}}/actions/{update}", tags=["actions"],
            name=update, summary=f"{update.replace('_', ' ').capitalize()} ({_who(update)})",
            operation_id=update,
            description=ACTION_DOCS.get(update, "") + "\n\nWho: " + _who(update) + ". The "
            "actor is the key's owner. Returns the complaint's state after the action "
            "(recent timeline only; GET the complaint for all of it).",
            responses=_responses(401, 403, 404, 409, 422, 503),
        )(action)

    for update, model in ACTIONS.values():
        add_action(update, model)

    decision_body = _body_model(m.RefundDecision)

    @app.post(
        "/complaints/{crn}/refund-decision", tags=["actions"], operation_id="refund_decision",
        summary="The Finance Manager approves or rejects the pending refund",
        description="Sent as the `refund_decision` signal, then read back: 200 with the "
        "complaint's state once the workflow took it, 409 if it did not count (nothing "
        "pending, amount above the maximum), 202 if no worker handled it within "
        f"{DECISION_WAIT:.0f} s.",
        responses={202: {"model": DecisionPending, "description": "sent, not handled yet"},
                   **_responses(401, 403, 404, 409, 422, 503)},
    )
    async def refund_decision(crn: Crn, principal: Staff,
                              body: decision_body,  # type: ignore[valid-type]
                              strict: Annotated[BaseModel, _strict_body(decision_body)],
                              ) -> ComplaintState:
        body = strict
        member = principal.staff
        assert member is not None
        _refuse_unless(lambda: check_actor("refund_decision", member.id, {member.id: member}))
        before = await complaint(crn)
        refund = before.refund
        if refund.status != "pending_approval":
            raise ApiError(409, "conflict", "no refund is waiting for a decision" + (
                f" (refund {refund.refund_id} is {refund.status})" if refund.refund_id else ""))
        decision = m.RefundDecision.model_validate({**body.model_dump(), "actor": member.id})
        try:
            await _in_time(signal(client, crn, "refund_decision", decision), "refund decision")
        except ComplaintNotFound:
            raise ApiError(409, "conflict", f"complaint {crn} is archived") from None
        seen = before.timeline[-1].seq if before.timeline else 0
        loop = asyncio.get_running_loop()
        give_up = loop.time() + DECISION_WAIT
        while loop.time() < give_up:
            state = await complaint(crn)
            mine = [e for e in state.timeline if e.seq > seen and e.actor == member.id
                    and e.event.startswith("refund_")]
            if mine:
                if mine[0].event == "refund_decision_rejected":
                    status = 403 if "not a finance manager" in mine[0].detail else 409
                    raise ApiError(status, "forbidden" if status == 403 else "conflict",
                                   f"decision not accepted: {mine[0].detail}")
                return state
            await asyncio.sleep(0.2)
        return JSONResponse(  # type: ignore[return-value]
            DecisionPending(crn=crn, message="decision sent; no worker has handled it yet "
                            "(GET the complaint to see it land)").model_dump(), status_code=202)

    return app


def _check_received_at(intake: ComplaintIntake) -> None:
    if intake.received_at is None:
        return
    now = datetime.now(UTC)
    if not now - RECEIVED_WITHIN_PAST <= intake.received_at <= now + RECEIVED_CLOCK_SKEW:
        raise _invalid([FieldProblem(
            location="body", field="received_at",
            message=f"must lie between {RECEIVED_WITHIN_PAST.days} days ago and now "
                    "(leave it out to mean now)")])


def _refuse_unless(check: Any) -> None:
    try:
        check()
    except NotPermitted as err:
        raise ApiError(403, "forbidden", str(err)) from None


def _check_permission(update: str, member: m.StaffMember, state: ComplaintState) -> None:
    """The role check the workflow's validator makes, decided here so that a role that may
    not act gets 403 whatever phase the complaint is in. Before an owner is assigned the
    workflow refuses owner actions for the phase (409)."""
    roster = {member.id: member}
    if update in OWNER_ACTIONS:
        if state.owner is not None:
            _refuse_unless(lambda: check_actor(update, member.id, roster, owner=state.owner))
    elif not (update in OWNER_OR_ROLE and member.id == state.owner):
        _refuse_unless(lambda: check_actor(update, member.id, roster))


async def _check_new_owner(pool: asyncpg.Pool, owner: str) -> None:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT 1 FROM staff WHERE id = $1", owner):
            raise _invalid([FieldProblem(location="body", field="owner",
                                         message=f"{owner!r} is not on the roster")])


async def _act(client: Client, crn: str, update: str, payload: BaseModel) -> ComplaintState:
    """Send the update; a refusal by role is 403, any other refusal 409."""
    try:
        return await client.get_workflow_handle(crn).execute_update(
            update, payload, result_type=ComplaintState)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = getattr(cause, "message", None) or str(cause or err)
        if getattr(cause, "type", None) == NotPermitted.__name__:
            raise ApiError(403, "forbidden", message) from None
        raise ApiError(409, "conflict", message) from None
    except RPCError as err:
        if err.status == RPCStatusCode.FAILED_PRECONDITION:  # its workflow task is failing
            raise ApiError(503, "unavailable", f"complaint {crn} cannot take actions now: "
                           f"{err.message} (engineers: see the worker log)",
                           headers={"Retry-After": "30"}) from None
        if err.status == RPCStatusCode.NOT_FOUND:
            if "completed" in err.message:
                raise ApiError(409, "conflict", f"complaint {crn} is archived; it takes no more "
                               "actions") from None
            raise ComplaintNotFound(crn) from None
        raise


# --- `complaints serve` -------------------------------------------------------------------


async def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    from activities.db import create_pool
    from settings import connect

    client = await connect(settings)
    pool = await create_pool(settings.database_url, min_size=1, max_size=10)
    try:
        app = create_app(settings, client, pool)
        config = uvicorn.Config(app, host=host, port=port, log_level="info",
                                proxy_headers=False, server_header=False)
        await uvicorn.Server(config).serve()
    finally:
        await pool.close()

