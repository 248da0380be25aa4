"""`/health` (liveness, for the container's health check), `/ready` (Temporal and PostgreSQL
answer: send traffic here) and `/me` (who a key stands for)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from database.pool import ping
from starter.api.deps import AppSettings, Caller, Database, Temporal
from starter.api.errors import responses

router = APIRouter(tags=["service"])


class Me(BaseModel):
    key_id: str
    kind: str = Field(description="staff | intake")
    name: str
    role: str | None = Field(description="the roster role of a staff key")


@router.get("/health", summary="Liveness: the API answers", operation_id="health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    status: str = Field(description="ready | unavailable")
    temporal: str = Field(description="ok, or why Temporal did not answer")
    postgresql: str = Field(description="ok, or why PostgreSQL did not answer")


READY_WITHIN = 3.0  # seconds each dependency gets to answer


@router.get("/ready", summary="Readiness: Temporal and PostgreSQL answer (503 otherwise)",
            operation_id="ready", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "a dependency did not answer"}})
async def ready(client: Temporal, pool: Database, settings: AppSettings) -> JSONResponse:
    async def temporal() -> None:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.namespace),
            timeout=timedelta(seconds=READY_WITHIN))

    temporal_ok, postgres_ok = await asyncio.gather(
        _answer(temporal()), _answer(ping(pool, READY_WITHIN)))
    ok = temporal_ok == postgres_ok == "ok"
    body = Readiness(status="ready" if ok else "unavailable", temporal=temporal_ok,
                     postgresql=postgres_ok)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


async def _answer(check) -> str:  # noqa: ANN001
    try:
        await asyncio.wait_for(check, READY_WITHIN + 1)
    except Exception as err:  # unreachable, refused, timed out: the reason, in one line
        return f"{type(err).__name__}: {err}"[:200] or type(err).__name__
    return "ok"


@router.get("/me", summary="Who this API key stands for", operation_id="me",
            responses=responses(401))
async def me(principal: Caller) -> Me:
    return Me(key_id=principal.key_id, kind=principal.kind, name=principal.name,
              role=principal.staff.role.value if principal.staff else None)
