"""`/health` (liveness, for the container's health check) and `/me` (who a key stands for)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from fastapi import APIRouter
from pydantic import BaseModel, Field

from starter.api.deps import Caller
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


@router.get("/me", summary="Who this API key stands for", operation_id="me",
            responses=responses(401))
async def me(principal: Caller) -> Me:
    return Me(key_id=principal.key_id, kind=principal.kind, name=principal.name,
              role=principal.staff.role.value if principal.staff else None)
