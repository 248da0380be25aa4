"""The agent's desk on the complaint page (docs/desk.md): the conversation, the reply box
(the `send_customer_update` action, with the canned replies filled in for this complaint)
and the note box (`add_note`); a customer email's full original; attachments as
downloads; and the canned replies page of the head of customer success.

Every action form carries what the page was rendered for: `seen`, the last timeline event
it showed, and `update_id`, a fresh id for this one submission. A form that comes back
after someone else acted meanwhile is refused with what changed (nothing is sent); the
same form submitted twice is one action (the update's id).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
import re
import uuid
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from database import conversation as talk
from database.records import ComplaintFile, roster
from mail.original import read_original
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, console, render, state_of
from starter.desk import REPLY_KEEPERS, attachment_response, changed_since, describe_changes, filled
from workflows.models import ComplaintState
from workflows.policy import CalendarPolicy
from workflows.records import StaffMember

router = APIRouter(include_in_schema=False)
REPLY, NOTE = "send_customer_update", "add_note"
DESK_FORMS = (REPLY, NOTE)  # shown with the conversation, not among the other actions
_UPDATE_ID = re.compile(r"^[0-9a-f]{32}$")
_REF = re.compile(r"^[0-9a-f]{24}$")
# A customer email's full original: its sanitised HTML loads nothing (no image at all).
ORIGINAL_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'none'; "
                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class Offer:
    name: str
    text: str  # filled in for this complaint


@dataclass
class Desk:
    """What the complaint page shows of the desk."""

    messages: list[talk.ConversationMessage]
    seen: int  # the last timeline event the page shows
    update_id: str  # this rendering's id for the form it sends
    offers: list[Offer] = field(default_factory=list)
    drafts: dict[str, str] = field(default_factory=dict)  # form -> text to show in its box


async def desk_for(request: Request, s: ComplaintState, file: ComplaintFile,
                   drafts: dict[str, str] | None = None) -> Desk:
    c = console(request)
    staff = {m.id: m for m in await roster(c.pool)}
    offers = [Offer(r.name, filled(r.body, s, file, staff, c.policy.calendar))
              for r in await talk.canned_replies(c.pool)]
    drafts = dict(drafts or {})
    chosen = request.query_params.get("reply")
    if chosen and REPLY not in drafts:  # "Use this reply" without a script: filled here
        drafts[REPLY] = next((o.text for o in offers if o.name == chosen), "")
    return Desk(messages=await talk.conversation(c.pool, s.crn),
                seen=s.timeline[-1].seq if s.timeline else 0, update_id=uuid.uuid4().hex,
                offers=offers, drafts=drafts)


def stale(form: CheckedForm, s: ComplaintState, member: StaffMember,
          cal: CalendarPolicy) -> str | None:
    """Why a form the page loaded earlier may not be sent now: what others did since."""
    seen = str(form.get("seen") or "")
    if not seen.isdigit():
        return None  # a form from before the page carried it (or a script): the rules decide
    changes = changed_since(s, int(seen), member.id)
    if not changes:
        return None
    return ("Not sent: the complaint changed since you loaded this page: "
            f"{describe_changes(changes, cal)}. Nothing was sent; read what changed, then "
            "send it again.")


def update_id(form: CheckedForm) -> str | None:
    value = str(form.get("update_id") or "")
    return value if _UPDATE_ID.match(value) else None


def draft_of(update: str, form: CheckedForm) -> dict[str, str]:
    """The text a refused reply or note keeps in its box."""
    name = {REPLY: "message", NOTE: "text"}.get(update)
    return {update: str(form.get(name) or "")} if name else {}


# --- a customer email in full, an attachment ----------------------------------------------


@router.get(PREFIX + "/complaints/{crn}/messages/{ref}/original")
async def original(request: Request, crn: str, ref: str, session: SignedIn) -> Response:
    await state_of(request, crn)
    raw = await talk.customer_message(console(request).pool, crn, ref) \
        if _REF.match(ref) else None
    if raw is None:
        raise ConsoleError(404, f"Complaint {crn} has no such email.")
    found = await asyncio.to_thread(read_original, raw)
    response = render(request, "original.html.j2", member=session.member,
                      csrf=session.csrf_token, crn=crn, email=found)
    response.headers["Content-Security-Policy"] = ORIGINAL_CSP
    return response


@router.get(PREFIX + "/complaints/{crn}/attachments/{ref}/{n}")
async def attachment(request: Request, crn: str, ref: str, n: str, session: SignedIn) -> Response:
    await state_of(request, crn)
    found = await talk.attachment(console(request).pool, crn, ref, int(n)) \
        if _REF.match(ref) and n.isdigit() and len(n) < 6 else None
    if found is None:
        raise ConsoleError(404, f"Complaint {crn} has no such attachment.")
    if found.content is None:
        raise ConsoleError(404, "This attachment was over the size bound when it came: only "
                           "its name, type and size were kept.")
    return attachment_response(found)


# --- canned replies -------------------------------------------------------------------------


def _keeper(member: StaffMember) -> None:
    if member.role not in REPLY_KEEPERS:
        raise ConsoleError(403, "Only the head of customer success keeps the canned replies.")


async def _replies_page(request: Request, session: SignedIn, status: int = 200,
                        error: str | None = None, done: str | None = None,
                        draft: dict[str, str] | None = None) -> Response:
    return render(request, "replies.html.j2", status=status, member=session.member,
                  csrf=session.csrf_token, replies=await talk.canned_replies(console(request).pool),
                  placeholders=talk.PLACEHOLDERS, error=error, done=done, draft=draft or {},
                  may_keep=session.member.role in REPLY_KEEPERS)


@router.get(PREFIX + "/replies")
async def replies(request: Request, session: SignedIn) -> Response:
    return await _replies_page(request, session, done=request.query_params.get("done"))


@router.post(PREFIX + "/replies")
async def add_reply(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    _keeper(session.member)
    draft = {"name": str(form.get("name") or "").strip(), "body": str(form.get("body") or "")}
    try:
        reply = talk.CannedReply(name=draft["name"], body=draft["body"].strip())
        await talk.save_canned_reply(console(request).pool, reply, session.member.id)
    except ValueError as err:  # pydantic's ValidationError and UnknownPlaceholder alike
        message = str(err).splitlines()[0] if isinstance(err, talk.UnknownPlaceholder) else \
            "A reply needs a name (up to 100 characters) and a text."
        return await _replies_page(request, session, 422, f"Not saved: {message}", draft=draft)
    return RedirectResponse(f"{PREFIX}/replies?done=saved", status_code=303)


@router.post(PREFIX + "/replies/remove")
async def remove_reply(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    _keeper(session.member)
    name = str(form.get("name") or "")
    if not await talk.remove_canned_reply(console(request).pool, name):
        return await _replies_page(request, session, 404, f"There is no reply {name!r}.")
    return RedirectResponse(f"{PREFIX}/replies?done=removed", status_code=303)
