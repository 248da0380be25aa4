"""A customer's data on request, for the head of customer success: the customer's id in, one
zip archive out (database/export.py says what it holds), the export recorded under the
signed-in member's id. The same archive as `complaints export customer ID`."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from fastapi import APIRouter, Request
from fastapi.responses import Response

from database.erasure import UnknownCustomer
from database.export import export_customer
from starter.console.approvals import only_for
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, console, render
from workflows.models import Role

router = APIRouter(include_in_schema=False)
HEAD_OF_CS = frozenset({Role.head_of_cs})
MAX_ID = 200


def _page(request: Request, session, status: int = 200, error: str | None = None,
          customer_id: str = "") -> Response:
    return render(request, "data_requests.html.j2", status=status, member=session.member,
                  csrf=session.csrf_token, error=error, customer_id=customer_id)


@router.get(f"{PREFIX}/data-requests")
async def data_requests(request: Request, session: SignedIn) -> Response:
    only_for(session.member, HEAD_OF_CS, "data requests")
    return _page(request, session)


@router.post(f"{PREFIX}/data-requests/export")
async def export(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    only_for(session.member, HEAD_OF_CS, "data requests")
    customer_id = str(form.get("customer_id") or "").strip()
    if not customer_id or len(customer_id) > MAX_ID:
        return _page(request, session, 422, "Enter the customer's id (as on their complaints).",
                     customer_id[:MAX_ID])
    c = console(request)
    async with c.pool.acquire() as conn:
        try:
            done = await export_customer(conn, customer_id, session.member.id,
                                         c.policy.data_requests.notes_disclosable)
        except UnknownCustomer:
            return _page(request, session, 404, f"No customer {customer_id!r} and no complaint "
                         "of theirs: nothing was exported.", customer_id)
    return Response(done.archive, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="customer-export-{done.id}.zip"',
        "X-Export-Sha256": done.sha256})
