"""What a route depends on: the app's Temporal client, PostgreSQL pool and settings (set by
`create_app`), and who is calling (the API key's owner)."""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations.

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from database.keys import Principal, authenticate
from database.pool import Pool
from settings import Settings
from starter.api.errors import ApiError, forbidden
from starter.api.limits import AuthFailures
from starter.clients import client_address


def _client(request: Request) -> Client:
    return request.app.state.client


def _pool(request: Request) -> Pool:
    return request.app.state.pool


def _settings(request: Request) -> Settings:
    return request.app.state.settings


Temporal = Annotated[Client, Depends(_client)]
Database = Annotated[Pool, Depends(_pool)]
AppSettings = Annotated[Settings, Depends(_settings)]

bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                    description="an API key from `complaints keys create`")


async def caller(
    request: Request,
    pool: Database,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    failures: AuthFailures = request.app.state.auth_failures
    client = client_address(request, request.app.state.settings.forwarded_allow_ips)
    wait = await failures.retry_after(client)
    if wait is not None:  # too many bad keys from here: no key is even looked at
        raise ApiError(429, "too_many_requests", f"too many failed authentications from "
                       f"this client; try again in {wait} s", headers={"Retry-After": str(wait)})
    if credentials is None:
        raise ApiError(401, "unauthenticated", "send an API key: Authorization: Bearer "
                       "<key> (complaints keys create)", headers=challenge)
    principal = await authenticate(pool, credentials.credentials)
    if principal is None:
        await failures.failed(client)
        raise ApiError(401, "unauthenticated", "the API key is unknown or revoked",
                       headers=challenge)
    return principal


async def _staff_caller(principal: Annotated[Principal, Depends(caller)]) -> Principal:
    if principal.staff is None:
        raise forbidden(f"{principal.name!r} is an intake key: it may only submit complaints "
                        "(POST /complaints)")
    return principal


Caller = Annotated[Principal, Depends(caller)]
Staff = Annotated[Principal, Depends(_staff_caller)]
