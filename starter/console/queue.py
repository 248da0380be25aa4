"""The queue: the complaints a person should act on, most urgent first (the soonest next
deadline, from the NextDeadlineAt search attribute), with the API's filters.

Whose complaints: their own (as owner) for everyone; new complaints awaiting a personal
acknowledgement for agents; refunds awaiting a decision for the Finance Manager; the
post-mortems for QA; fixes in progress for R&D; every open complaint for a team lead (the
roster has one support team) and for the head of customer success.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.


from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from database.records import headlines
from reporting.spreadsheet import CSV_MEDIA_TYPE
from starter.console.auth import SignedIn
from starter.console.base import PREFIX, ConsoleError, answered, console, render
from starter.console.views import iso, queue_line
from starter.listing import ListFilters, list_csv, most_urgent
from workflows import search_attributes as sa
from workflows.models import Phase, Role, Status
from workflows.permissions import SUPERVISORS
from workflows.records import StaffMember

router = APIRouter(include_in_schema=False)

_ROLE_SCOPE = {
    Role.agent: f"{sa.COMPLAINT_PHASE.name} = '{Phase.triage.value}'",
    Role.finance_manager: f"{sa.COMPLAINT_STATUS.name} = '{Status.awaiting_approval.value}'",
    Role.qa: f"{sa.COMPLAINT_PHASE.name} = '{Phase.post_mortem.value}'",
    Role.rnd: f"{sa.COMPLAINT_STATUS.name} = '{Status.fix_in_progress.value}'",
}


# A team lead of a team complaints are handed to sees that team's hand-offs (handoffs.py).
_TEAM_SCOPE = {"rnd": _ROLE_SCOPE[Role.rnd], "qa": _ROLE_SCOPE[Role.qa],
               "finance": _ROLE_SCOPE[Role.finance_manager]}


def scope(member: StaffMember) -> str | None:
    """The visibility clause for what this person should act on; None for everything."""
    if member.role == Role.team_lead and member.team in _TEAM_SCOPE:
        return _TEAM_SCOPE[member.team]
    if member.role in SUPERVISORS:
        return None
    mine = f"{sa.COMPLAINT_OWNER.name} = '{member.id.replace(chr(39), '')}'"
    extra = _ROLE_SCOPE.get(member.role)
    return f"({mine} OR {extra})" if extra else mine


FILTER_FIELDS = ("status", "phase", "owner", "severity", "customer", "breached")


def _filters(request: Request) -> ListFilters:
    raw = {k: v for k in FILTER_FIELDS if (v := request.query_params.get(k, "").strip())}
    try:
        return ListFilters.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConsoleError(422, f"These filters cannot be used: {problems}") from None


async def _queue(request: Request, member: StaffMember):
    c = console(request)
    filters = _filters(request)
    query = filters.query()
    mine = scope(member)
    if mine:
        query = f"{query} AND {mine}"
    items = await answered(most_urgent(c.client, query), "Temporal visibility")
    heads = await headlines(c.pool, [s.crn for s in items])
    return filters, mine, items, heads


@router.get(f"{PREFIX}/queue.csv")
async def queue_csv(request: Request, session: SignedIn) -> Response:
    """The queue as it is on the page (its filters, the person's scope), as CSV."""
    _, _, items, heads = await _queue(request, session.member)
    text = list_csv(items, {crn: (h.subject, h.customer_name) for crn, h in heads.items()})
    return Response(text, media_type=CSV_MEDIA_TYPE, headers={
        "Content-Disposition": 'attachment; filename="queue.csv"'})


@router.get(f"{PREFIX}/")
async def queue_page(request: Request, session: SignedIn) -> Response:
    c = console(request)
    filters, mine, items, heads = await _queue(request, session.member)
    cal = c.policy.calendar
    lines = [queue_line(s, heads[s.crn].subject if s.crn in heads else None,
                        heads[s.crn].customer_name if s.crn in heads else None, cal)
             for s in items]
    return render(request, "queue.html.j2", member=session.member, csrf=session.csrf_token,
                  lines=lines, filters=filters, statuses=[s.value for s in Status],
                  phases=[p.value for p in Phase], everything=mine is None, iso=iso,
                  timezone=cal.timezone, csv_query=request.url.query)
