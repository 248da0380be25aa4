"""Suspended mail (docs/security.md, "Email you can trust"): messages the mail gateway held
aside (spam, a DMARC policy, an unknown sender's rate), for agents and team leads to release
(processed as if it had just arrived) or reject. Stored, never a complaint, never answered,
until someone here decides."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from database.mailbox import decide_suspended, list_suspended
from starter.console.approvals import only_for
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, answered, console, render
from starter.operations import start_inbound
from workflows.models import Role

log = logging.getLogger("complaints.console")
router = APIRouter(include_in_schema=False)
# Who sees the held mail and decides it: the people who triage what comes in.
MAIL_ROLES = frozenset({Role.agent, Role.team_lead, Role.head_of_cs})


@router.get(f"{PREFIX}/suspended")
async def suspended_page(request: Request, session: SignedIn) -> Response:
    only_for(session.member, MAIL_ROLES, "suspended mail")
    rows = await answered(list_suspended(console(request).pool), "PostgreSQL")
    return render(request, "suspended.html.j2", member=session.member,
                  csrf=session.csrf_token, rows=rows,
                  decided=request.query_params.get("decided"))


@router.post(f"{PREFIX}/suspended/decide")
async def decide(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    only_for(session.member, MAIL_ROLES, "suspended mail")
    message_id, decision = str(form.get("message_id") or ""), str(form.get("decision") or "")
    if decision not in ("release", "reject"):
        raise ConsoleError(422, "Choose Release or Reject.")
    c = console(request)
    if not await answered(decide_suspended(c.pool, message_id, decision == "release",
                                           session.member.id), "PostgreSQL"):
        raise ConsoleError(409, "That message is not suspended (decided already?). Nothing "
                           "was changed.")
    if decision == "release":
        # Temporal away: the gateway's sweep starts the released message when it is back.
        try:
            await start_inbound(c.client, c.settings.task_queue, message_id)
        except Exception as err:
            log.warning("released %s; the gateway's sweep will start it: %s", message_id, err)
    return RedirectResponse(f"{PREFIX}/suspended?decided={decision}", status_code=303)
