"""The Finance Manager's approvals (refunds awaiting a decision, with their computation)
and the supervisors' escalations (level, reason, time left to act). Each page is for its
roles only (403 otherwise); the decision itself is posted to pages.refund_decision."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from database.records import headlines
from starter.console.auth import SignedIn
from starter.console.base import PREFIX, ConsoleError, answered, console, render
from starter.console.views import Countdown, countdown, iso
from starter.listing import ComplaintSummary, most_urgent
from starter.operations import ComplaintNotFound, get_status
from workflows import search_attributes as sa
from workflows.complaint import presentation as ui
from workflows.events import ESCALATION, LEVEL_NAMES, REFUND_APPROVAL, Event
from workflows.models import ComplaintState, RefundStatus, Role, Status
from workflows.permissions import SUPERVISORS
from workflows.records import StaffMember

router = APIRouter(include_in_schema=False)


def only_for(member: StaffMember, roles: frozenset[Role], page: str) -> None:
    if member.role not in roles:
        names = " or ".join(sorted(r.value.replace("_", " ") for r in roles))
        raise ConsoleError(403, f"The {page} page is for the {names}; you are signed in as "
                           f"a {member.role.value.replace('_', ' ')}.")


@dataclass(frozen=True)
class Pending:
    state: ComplaintState
    subject: str
    customer: str
    clock: Countdown | None
    reason: str = ""


async def _states(request: Request, items: list[ComplaintSummary]) -> list[ComplaintState]:
    client = console(request).client

    async def one(crn: str) -> ComplaintState | None:
        try:
            return await get_status(client, crn)
        except ComplaintNotFound:  # archived between the list and the query
            return None

    found = await answered(asyncio.gather(*(one(s.crn) for s in items)), "Temporal")
    return [s for s in found if s is not None]


async def _pending(request: Request, query: str, clock_of, reason_of=lambda s: ""
                   ) -> list[Pending]:
    c = console(request)
    items = await answered(most_urgent(c.client, query), "Temporal visibility")
    heads = await headlines(c.pool, [s.crn for s in items])
    cal = c.policy.calendar
    out = []
    for s in await _states(request, items):
        d = clock_of(s)
        head = heads.get(s.crn)
        out.append(Pending(s, head.subject if head else s.subject,
                           (head.customer_name if head else None) or s.customer_id,
                           countdown(d, s.severity, cal) if d else None, reason_of(s)))
    return out


@router.get(f"{PREFIX}/approvals")
async def approvals(request: Request, session: SignedIn) -> Response:
    only_for(session.member, frozenset({Role.finance_manager}), "approvals")
    query = (f"WorkflowType = 'ComplaintWorkflow' AND "
             f"{sa.COMPLAINT_STATUS.name} = '{Status.awaiting_approval.value}'")
    pending = [p for p in await _pending(
        request, query, lambda s: s.deadline(ui.latest(s, REFUND_APPROVAL)))
        if p.state.refund.status == RefundStatus.pending_approval]
    return render(request, "approvals.html.j2", member=session.member, csrf=session.csrf_token,
                  pending=pending, decided=request.query_params.get("decided"), iso=iso)


def _escalation_clock(s: ComplaintState):
    return s.deadline(ui.latest(s, f"{ESCALATION}_{s.escalation_level}"))


def _escalation_reason(s: ComplaintState) -> str:
    last = next((e for e in reversed(s.timeline) if e.event == Event.escalated), None)
    return (last.reason or last.detail) if last else ""


@router.get(f"{PREFIX}/escalations")
async def escalations(request: Request, session: SignedIn) -> Response:
    only_for(session.member, SUPERVISORS, "escalations")
    query = f"WorkflowType = 'ComplaintWorkflow' AND {sa.ESCALATION_LEVEL.name} > 0"
    pending = await _pending(request, query, _escalation_clock, _escalation_reason)
    return render(request, "escalations.html.j2", member=session.member,
                  csrf=session.csrf_token, pending=pending, levels=LEVEL_NAMES, iso=iso)
