"""The queue: the complaints a person should act on, most urgent first (the soonest next
deadline), with the API's filters; search over every complaint; and a team lead's
reassignment of several complaints at once.

The queue and search read the complaint row in PostgreSQL (database/desk.py), which the
workflow's writer keeps: right over every open complaint, page after page. Whose complaints:
`starter.listing.scope_of` (their own as owner for everyone; new complaints awaiting a
personal acknowledgement for agents; refunds awaiting a decision for the Finance Manager; the
post-mortems for QA; fixes in progress for R&D; a team lead's team and the unassigned; every
complaint for the head of customer success).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from database import desk
from database.records import roster
from reporting.spreadsheet import CSV_MEDIA_TYPE
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, answered, console, render
from starter.console.views import iso, queue_line
from starter.listing import (
    BadPageToken,
    ListFilters,
    QueueItem,
    list_csv,
    queue_page,
    scope_of,
    search_page,
)
from starter.operations import ActionRefused, ComplaintNotFound, act
from workflows.actions import SUPERVISORS
from workflows.complaint.rules import OWNER_ROLES
from workflows.models import Phase, Reassignment, Status
from workflows.records import StaffMember

router = APIRouter(include_in_schema=False)

FILTER_FIELDS = ("status", "phase", "owner", "severity", "customer", "breached")
QUEUE_PAGE = 50
MAX_BULK = 200  # complaints one reassignment may name


def _filters(request: Request) -> ListFilters:
    raw = {k: v for k in FILTER_FIELDS if (v := request.query_params.get(k, "").strip())}
    try:
        return ListFilters.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConsoleError(422, f"These filters cannot be used: {problems}") from None


def _next_href(request: Request, token: str | None) -> str | None:
    if token is None:
        return None
    kept = {k: v for k in FILTER_FIELDS if (v := request.query_params.get(k, "").strip())}
    return "?" + urlencode({**kept, "page_token": token})


def _lines(request: Request, items: list[QueueItem]) -> list:
    cal = console(request).policy.calendar
    return [queue_line(s, s.subject, s.customer_name, cal) for s in items]


async def _owners(request: Request) -> list[StaffMember]:
    return [m for m in await roster(console(request).pool) if m.role in OWNER_ROLES]


def _common(request: Request, session: SignedIn, filters: ListFilters) -> dict:
    return dict(member=session.member, csrf=session.csrf_token, filters=filters,
                statuses=[s.value for s in Status], phases=[p.value for p in Phase],
                iso=iso, timezone=console(request).policy.calendar.timezone)


@router.get(f"{PREFIX}/")
async def queue_view(request: Request, session: SignedIn) -> Response:
    c = console(request)
    filters = _filters(request)
    scope = scope_of(session.member)
    token = request.query_params.get("page_token") or None
    try:
        page = await queue_page(c.pool, filters, scope, limit=QUEUE_PAGE, page_token=token)
    except BadPageToken as err:
        raise ConsoleError(422, f"This page link cannot be used ({err}); start from the "
                           "queue's first page.") from None
    bulk = session.member.role in SUPERVISORS
    return render(request, "queue.html.j2", lines=_lines(request, page.items),
                  next_href=_next_href(request, page.next_page_token), first_page=token is None,
                  everything=scope.everything, team=scope.team, bulk=bulk,
                  owners=await _owners(request) if bulk else [],
                  csv_query=request.url.query, **_common(request, session, filters))


CSV_MAX = 10_000  # rows of the queue one download holds


@router.get(f"{PREFIX}/queue.csv")
async def queue_csv(request: Request, session: SignedIn) -> Response:
    """The queue as on the page (its filters, the person's scope), every page of it up to
    CSV_MAX rows, most urgent first, as CSV."""
    c = console(request)
    filters, scope = _filters(request), scope_of(session.member)
    items: list[QueueItem] = []
    token: str | None = None
    while len(items) < CSV_MAX:
        page = await queue_page(c.pool, filters, scope, limit=200, page_token=token)
        items += page.items
        token = page.next_page_token
        if token is None:
            break
    text = list_csv(list(items[:CSV_MAX]), {i.crn: (i.subject, i.customer_name) for i in items})
    return Response(text, media_type=CSV_MEDIA_TYPE, headers={
        "Content-Disposition": 'attachment; filename="queue.csv"'})


@router.get(f"{PREFIX}/search")
async def search_view(request: Request, session: SignedIn) -> Response:
    filters = _filters(request)
    words = request.query_params.get("q", "").strip()
    context = _common(request, session, filters)
    if not words:
        return render(request, "search.html.j2", status=422, q="", hits=[],
                      error="Type a word to search for: a name, an order id, a CRN or a "
                      "word the customer wrote.", **context)
    if len(words) > 500:
        raise ConsoleError(422, "A search is at most 500 characters.")
    try:
        page = await search_page(console(request).pool, words, filters,
                                 scope_of(session.member))
    except desk.EmptySearch:
        return render(request, "search.html.j2", status=422, q=words, hits=[],
                      error="That search has no word to look for: type a name, an order "
                      "id, a CRN or a word the customer wrote.", **context)
    return render(request, "search.html.j2", q=words, hits=page.items, error=None,
                  more=page.next_offset is not None, matched=page.matched,
                  capped=page.capped, **context)


@dataclass(frozen=True)
class Reassigned:
    crn: str
    done: bool
    what: str


async def _reassign_one(request: Request, crn: str, payload: Reassignment) -> Reassigned:
    try:
        await answered(act(console(request).client, crn, "reassign", payload), crn)
    except ActionRefused as err:
        return Reassigned(crn, False, f"refused: {err}")
    except ComplaintNotFound:
        return Reassigned(crn, False, "no such complaint")
    except ConsoleError as err:
        return Reassigned(crn, False, err.message)
    return Reassigned(crn, True, f"reassigned to {payload.owner}")


@router.post(f"{PREFIX}/reassign")
async def reassign_several(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    """A team lead (or the head of customer success) reassigns the complaints ticked in the
    queue: the `reassign` update sent to each, and what happened to each reported."""
    member = session.member
    if member.role not in SUPERVISORS:
        raise ConsoleError(403, "Only a team lead or the head of customer success reassigns "
                           "complaints. Nothing was changed.")
    crns = list(dict.fromkeys(str(v) for v in form.getlist("crn")))
    owner = str(form.get("owner") or "").strip()
    if not crns:
        raise ConsoleError(422, "Tick at least one complaint to reassign. Nothing was changed.")
    if len(crns) > MAX_BULK:
        raise ConsoleError(422, f"At most {MAX_BULK} complaints at once. Nothing was changed.")
    if owner not in {m.id for m in await _owners(request)}:
        raise ConsoleError(422, "Choose the new owner from the roster. Nothing was changed.")
    payload = Reassignment(actor=member.id, owner=owner)
    mine = set(await desk.within(console(request).pool, crns, scope_of(member)))
    outside = [Reassigned(crn, False, "not in your queue: nothing was sent")
               for crn in crns if crn not in mine]
    sent = await asyncio.gather(*(_reassign_one(request, crn, payload)
                                  for crn in crns if crn in mine))
    results = sorted([*sent, *outside], key=lambda r: crns.index(r.crn))
    return render(request, "reassigned.html.j2", results=results, owner=owner,
                  member=member, csrf=session.csrf_token)
