"""Suspended mail over HTTP (docs/security.md, "Email you can trust"): what the mail gateway
held aside, for agents and team leads to list, release (processed as if it had just
arrived) or reject; the same as `complaints suspended` and the console's page."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from database.mailbox import decide_suspended, list_suspended
from starter.api.deps import AppSettings, Database, Staff, Temporal
from starter.api.errors import ApiError, forbidden, in_time, responses
from starter.operations import start_inbound
from workflows.models import Role

router = APIRouter(tags=["mail"])
MAIL_ROLES = frozenset({Role.agent, Role.team_lead, Role.head_of_cs})


class SuspendedMessage(BaseModel):
    message_id: str
    received_at: datetime
    from_address: str | None
    subject: str | None
    size: int
    suspended: str
    authenticated: bool
    dmarc: str | None
    dmarc_policy: str | None
    auth_reason: str | None
    peer_ip: str | None


class SuspendedDecision(BaseModel):
    message_id: str
    decision: Literal["release", "reject"]


def _mail_staff(principal: Staff) -> str:
    member = principal.staff
    if member is None or member.role not in MAIL_ROLES:
        raise forbidden("suspended mail is for agents, team leads and the head of customer "
                        "success")
    return member.id


@router.get("/mail/suspended", operation_id="list_suspended_mail",
            summary="Mail the gateway held aside (spam, a DMARC policy, an unknown sender's rate)",
            responses=responses(401, 403))
async def suspended(principal: Staff, pool: Database) -> list[SuspendedMessage]:
    _mail_staff(principal)
    return [SuspendedMessage(**r) for r in await list_suspended(pool)]


@router.post("/mail/suspended/decision", operation_id="decide_suspended_mail",
             summary="Release a suspended message (processed as if it had just arrived) or "
             "reject it", description="409 when the message is not suspended (unknown, or "
             "decided already); nothing changes.",
             responses=responses(401, 403, 409, 422, 503))
async def decide(body: SuspendedDecision, principal: Staff, pool: Database, client: Temporal,
                 settings: AppSettings) -> SuspendedDecision:
    by = _mail_staff(principal)
    if not await decide_suspended(pool, body.message_id, body.decision == "release", by):
        raise ApiError(409, "conflict", f"{body.message_id} is not a suspended message")
    if body.decision == "release":
        # Temporal away: the gateway's sweep starts it when Temporal is back.
        await in_time(start_inbound(client, settings.task_queue, body.message_id),
                      "starting the released message")
    return body
