"""A complaint's page and the actions taken from it.

GET shows the summary, the customer and order, the conversation with the reply and note
boxes (desk.py), every deadline with its countdown, what it waits for, the refund, the
whole timeline, and the forms of the actions this person may take now (forms.py). POST
sends one action as the workflow update of that name, with the signed-in member as the
actor: a role that may not take it is refused (403) before anything is sent; an action the
complaint refuses shows the reason on the page (409) and changes nothing.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from database.records import ComplaintFile, complaint_file, roster
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, answered, console, render, state_of
from starter.console.desk import DESK_FORMS, desk_for, draft_of, stale, update_id
from starter.console.forms import FORMS, Facts, offered, open_to, payload
from starter.console.views import countdowns, iso
from starter.operations import (
    ActionRefused,
    act,
    check_permission,
    decide_refund,
)
from workflows import refusals
from workflows.complaint import presentation as ui
from workflows.complaint.rules import OWNER_ROLES
from workflows.models import RefundDecision
from workflows.permissions import NotPermitted, check_actor
from workflows.records import StaffMember

router = APIRouter(include_in_schema=False)

# What the console answers to each kind of refusal (workflows/refusals.py; a kind without
# a row takes its nearest base's): who acted is a page of its own (403); the others show on
# the complaint's page, above the form.
REFUSED: dict[type[refusals.Refused], tuple[int, str]] = {
    refusals.Refused: (409, "{action} was refused: {reason}. Nothing was changed."),
    refusals.NotPermitted: (403, "You may not do this: {reason}. Nothing was changed."),
    refusals.InvalidValue: (422, "{action} was refused: {reason}. Nothing was changed; "
                                 "correct it and send it again."),
}


def refused(err: ActionRefused, action: str) -> tuple[int, str]:
    """The status and the sentence for a refusal, by its kind."""
    status, sentence = refusals.lookup(REFUSED, err.kind)
    return status, sentence.format(action=action, reason=err)


def facts(file: ComplaintFile) -> Facts:
    email = file.customer_email or (str(file.profile.email) if file.profile and
                                    file.profile.email else None)
    return Facts(customer_email=email, order=file.order)


async def _owners(request: Request) -> list[StaffMember]:
    return [m for m in await roster(console(request).pool) if m.role in OWNER_ROLES]


async def complaint_page(request: Request, session: SignedIn, crn: str, status: int = 200,
                         error: str | None = None, done: str | None = None,
                         drafts: dict[str, str] | None = None) -> Response:
    c = console(request)
    s = await state_of(request, crn)
    file = await complaint_file(c.pool, crn, s.customer_id)
    member = session.member
    forms = offered(member, s, facts(file))
    desk = await desk_for(request, s, file, drafts)  # the conversation, reply and note boxes
    may_decide = open_to("decide_refund", member, s, facts(file))
    owners = await _owners(request) if any(f.update == "reassign" for f in forms) else []
    cal = c.policy.calendar
    return render(request, "complaint.html.j2", status=status, member=member,
                  csrf=session.csrf_token, s=s, file=file, forms=forms, owners=owners,
                  deadlines=countdowns(s, cal), may_decide=may_decide, error=error,
                  desk=desk, desk_forms={f.update: f for f in forms if f.update in DESK_FORMS},
                  done=FORMS[done].button if done in FORMS else
                  ("Refund decision" if done == "decide_refund" else None),
                  local=lambda t: ui.local(t, cal), iso=iso, timezone=cal.timezone)


@router.get(PREFIX + "/complaints/{crn}")
async def complaint(request: Request, crn: str, session: SignedIn) -> Response:
    return await complaint_page(request, session, crn, done=request.query_params.get("done"))


@router.post(PREFIX + "/complaints/{crn}/actions/{update}")
async def take_action(request: Request, crn: str, update: str, session: SignedIn,
                      form: CheckedForm) -> Response:
    if update not in FORMS:
        raise ConsoleError(404, f"There is no action {update!r}.")
    s = await state_of(request, crn)
    try:
        check_permission(update, session.member, s)
        changed = stale(form, s, session.member, console(request).policy.calendar)
        if changed:  # someone acted since the page was loaded: nothing is sent
            return await complaint_page(request, session, crn, 409, changed,
                                        drafts=draft_of(update, form))
        await answered(act(console(request).client, crn, update,
                           payload(update, form, session.member.id), update_id(form)), crn)
    except ActionRefused as err:
        status, message = refused(err, FORMS[update].button)
        if status == 403:
            raise ConsoleError(status, message) from None
        return await complaint_page(request, session, crn, status, message,
                                    drafts=draft_of(update, form))
    return RedirectResponse(f"{PREFIX}/complaints/{crn}?done={update}", status_code=303)


def back_to(form: CheckedForm, crn: str) -> str:
    target = str(form.get("back") or "")
    return target if target == f"{PREFIX}/approvals" else f"{PREFIX}/complaints/{crn}"


@router.post(PREFIX + "/complaints/{crn}/refund-decision")
async def refund_decision(request: Request, crn: str, session: SignedIn,
                          form: CheckedForm) -> Response:
    """Approve or reject the refund awaiting a decision (the `decide_refund` update)."""
    member = session.member
    try:
        check_actor("decide_refund", member.id, {member.id: member})
    except NotPermitted as err:
        raise ConsoleError(403, f"Only the Finance Manager decides refunds: {err}. Nothing "
                           "was changed.") from None
    decision = str(form.get("decision") or "")
    if decision not in ("approve", "reject"):
        raise ConsoleError(422, "Choose Approve refund or Reject refund.")
    try:
        amount = Decimal(str(form.get("amount") or "").strip())
    except InvalidOperation:
        raise ConsoleError(422, "The amount must be a number, such as 600.00.") from None
    await state_of(request, crn)
    try:
        decided = RefundDecision(actor=member.id, approved=decision == "approve",
                                 amount=amount, note=str(form.get("note") or "").strip())
    except ValueError as err:
        raise ConsoleError(422, f"The decision is not valid: {err}") from None
    try:
        await answered(decide_refund(console(request).client, crn, decided), crn)
    except ActionRefused as err:
        status, message = refused(err, "The refund decision")
        if status == 403 or back_to(form, crn).endswith("/approvals"):
            raise ConsoleError(status, message) from None
        return await complaint_page(request, session, crn, status, message)
    return RedirectResponse(back_to(form, crn) + ("?done=decide_refund" if "complaints" in
                                                  back_to(form, crn) else f"?decided={crn}"),
                            status_code=303)
