"""Every error the API answers, as JSON `{"error", "message", "fields"}`, and which status
each failure gets:

- 401 no valid key; 403 a role that may not act (`ActionNotPermitted`, `NotPermitted`);
- 404 unknown CRN (`ComplaintNotFound`) or route; 405 a method a route does not take;
- 409 an action the complaint refuses now (`ActionRefused`: wrong phase, already done), and
  422 one it refuses for a value in the body; chosen by the refusal's kind (`REFUSALS`);
- 413 a body over 1 MiB, refused before it is read whole (limits.py);
- 422 an invalid body or parameter, naming each field;
- 429 too many failed authentications from one client, with Retry-After (limits.py);
- 503 Temporal or PostgreSQL unavailable, or no worker answered in time (`in_time`), or
  the complaint's data is under a key this server lacks (`ComplaintUnreadable`, one line);
- 500 anything else, with a reference to the server log and never a stack trace.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
import logging
import secrets
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from database.pool import UNAVAILABLE
from starter.operations import (
    ActionRefused,
    ComplaintNotFound,
    ComplaintUnreadable,
)
from workflows import refusals
from workflows.permissions import NotPermitted

log = logging.getLogger("complaints.api")
T = TypeVar("T")

TEMPORAL_TIMEOUT = 10.0  # seconds a query or an update may take before we say 503


class FieldProblem(BaseModel):
    location: str = Field(description="body, query, path or header")
    field: str = Field(description="the field, dotted for nested ones (customer.email)")
    message: str


class ApiErrorBody(BaseModel):
    """Every error the API returns."""

    error: str = Field(description="unauthenticated | forbidden | not_found | conflict | "
                       "invalid | unavailable | internal | method_not_allowed | too_large | "
                       "too_many_requests")
    message: str = Field(description="one line a person can act on")
    fields: list[FieldProblem] = Field(default_factory=list)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str,
                 fields: list[FieldProblem] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.fields, self.headers = fields or [], headers


ERRORS = {
    401: ("no valid API key", "unauthenticated"),
    403: ("the key's owner may not do this", "forbidden"),
    404: ("no such complaint", "not_found"),
    409: ("the complaint refuses the action now (wrong phase, already done)", "conflict"),
    413: ("the body is over 1 MiB", "too_large"),
    422: ("an invalid body or parameter; `fields` names each one", "invalid"),
    429: ("too many failed authentications from this client; see Retry-After",
          "too_many_requests"),
    503: ("Temporal or PostgreSQL unavailable, or no worker answered in time", "unavailable"),
}


# The answer to each kind of refusal (workflows/refusals.py; a kind without a row takes its
# nearest base's): who acted is 403, a value in the body 422, the complaint's state 409.
REFUSALS: dict[type[refusals.Refused], tuple[int, str]] = {
    refusals.Refused: (409, "conflict"),
    refusals.NotPermitted: (403, "forbidden"),
    refusals.InvalidValue: (422, "invalid"),
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents in the OpenAPI schema; one that takes a key (401)
    may also answer 413 and 429 (limits.py), so every such route documents them too."""
    if 401 in codes:
        codes = tuple(sorted({*codes, 413, 429}))
    return {code: {"model": ApiErrorBody, "description": ERRORS[code][0]} for code in codes}


def invalid(problems: list[FieldProblem]) -> ApiError:
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return ApiError(422, "invalid", f"invalid request: {summary}", problems)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def refuse_unless(check: Any) -> None:
    """Run a role check (workflows/permissions.py); a refusal is 403."""
    try:
        check()
    except NotPermitted as err:
        raise forbidden(str(err)) from None


async def in_time(call: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(call, TEMPORAL_TIMEOUT)
    except TimeoutError:
        raise ApiError(503, "unavailable", f"{what}: no answer within {TEMPORAL_TIMEOUT:.0f} s "
                       "(is a worker running?)", headers={"Retry-After": "5"}) from None


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.error, exc.message, exc.fields, exc.headers)

    @app.exception_handler(ComplaintUnreadable)
    async def unreadable(request: Request, exc: ComplaintUnreadable) -> JSONResponse:
        return _error(503, "undecryptable", str(exc))

    @app.exception_handler(ComplaintNotFound)
    async def not_found(request: Request, exc: ComplaintNotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(ActionRefused)  # ActionNotPermitted too: its kind says 403
    async def refused(request: Request, exc: ActionRefused) -> JSONResponse:
        status, error = refusals.lookup(REFUSALS, exc.kind)
        return _error(status, error, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = invalid(_problems(list(exc.errors())))
        return _error(err.status, err.error, err.message, err.fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body FastAPI could not decode (not UTF-8 JSON)
            err = invalid([FieldProblem(location="body", field="(body)",
                                        message="not valid JSON (UTF-8)")])
            return _error(err.status, err.error, err.message, err.fields)
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
                 403: "forbidden", 413: "too_large"}
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

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return _error(503, "unavailable", "the database is unavailable; try again shortly",
                      headers={"Retry-After": "5"})

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, database_error)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request, exc)


def _internal(request: Request, exc: Exception) -> JSONResponse:
    reference = secrets.token_hex(4)
    log.error("internal error %s on %s %s", reference, request.method, request.url.path,
              exc_info=exc)
    return _error(500, "internal", f"internal error (reference {reference}); the server log "
                  "has the details")
