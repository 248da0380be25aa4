"""The customer's pages, under /c/ (README.md, "Complaints by email").

    GET  /c/{question}/{token}   the question (agreement, sign_off, survey, withdraw): changes
                                 nothing
    POST /c/{question}/{token}   the answer, as the customer's own action; the link works once
    GET  /c/status/{token}       where the complaint stands (read-only, 90 days; the messages
                                 exchanged without any link in them); while the
                                 complaint is open it links to the withdraw question

A link is signed for one complaint and one question and expires (mail/links.py);
mail scanners open links, so only the form's POST records anything. A refused answer
(the complaint moved on, a bad score) changes nothing and leaves the link usable.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations.

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from database import mailbox
from mail.links import CustomerLinks, LinkRefused, LinkTarget
from settings import Settings
from starter.operations import ActionRefused, ComplaintNotFound, act, get_status
from workflows import refusals
from workflows.complaint import rules
from workflows.events import CUSTOMER_UPDATE, Event, deadline_type
from workflows.models import ComplaintOutcome, ComplaintState, Status, Withdrawal
from workflows.permissions import customer_actor

router = APIRouter(prefix="/c", include_in_schema=False)

QUESTIONS = ("agreement", "sign_off", "survey", "withdraw", "information")
# What the customer reads when their answer is refused, by the refusal's kind
# (workflows/refusals.py; a kind without a row takes its nearest base's).
REFUSED: dict[type[refusals.Refused], tuple[int, str]] = {
    refusals.Refused: (409, "{reason}. Please reply to our email instead."),
    refusals.StillRegistering: (409, "We are still registering this complaint; please try "
                                     "again in a minute."),
    refusals.AlreadyWithdrawn: (409, "{reason}. There is nothing more to answer."),
    refusals.ComplaintClosed: (409, "{reason}. There is nothing more to answer."),
    refusals.InvalidValue: (422, "{reason}. Please correct it, or reply to our email instead."),
}
STAGES = {
    Status.new: "We have received your complaint and are registering it.",
    Status.acknowledged: "We have acknowledged your complaint; a dedicated manager is taking "
                         "it on.",
    Status.under_investigation: "We are investigating your complaint.",
    Status.awaiting_customer: "We are waiting for your answer to our proposal.",
    Status.awaiting_approval: "The refund we agreed with you is being approved.",
    Status.fix_in_progress: "The fix we agreed with you is being made.",
    Status.resolved: "Your complaint is resolved. Thank you for confirming.",
    Status.closed: "Your complaint is resolved and closed.",
    Status.archived: "Your complaint is resolved and closed.",
}
WITHDRAWN_STAGE = "You withdrew this complaint; we have stopped working on it."
# How it ended, in plain words, whatever its status now (closed, archived).
ENDED = {
    ComplaintOutcome.confirmed: "Your complaint is resolved. Thank you for confirming.",
    ComplaintOutcome.unconfirmed: "We consider your complaint resolved, as we did not hear "
                                  "back from you. If it is not resolved, reply to any of our "
                                  "emails and we will pick it up again.",
    ComplaintOutcome.upheld: "We sent you our final response: we upheld your complaint.",
    ComplaintOutcome.partly_upheld: "We sent you our final response: we upheld your "
                                    "complaint in part.",
    ComplaintOutcome.not_upheld: "We sent you our final response: we did not uphold your "
                                 "complaint.",
    ComplaintOutcome.withdrawn: WITHDRAWN_STAGE,
    ComplaintOutcome.dismissed: "We closed this message: it was not something our complaints "
                                "team handles.",
}
RESOLVED = (Status.resolved, Status.closed, Status.archived)
# Personal data, a token in the address: never cached, never sent on as a referrer.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
_env: jinja2.Environment | None = None


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    global _env
    settings: Settings = request.app.state.settings
    if _env is None:
        _env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
            autoescape=True, undefined=jinja2.StrictUndefined)
    html = _env.get_template(f"customer/{template}.html.j2").render(**context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def _refused(request: Request, reason: str, status_code: int) -> HTMLResponse:
    return _page(request, "message", status_code, title="This link cannot be used",
                 message=reason)


def _links(request: Request) -> CustomerLinks:
    settings: Settings = request.app.state.settings
    return CustomerLinks(settings.link_secret, settings.public_url)


async def _target(request: Request, question: str, token: str
                  ) -> tuple[LinkTarget, ComplaintState] | HTMLResponse:
    if question not in (*QUESTIONS, "status"):
        return _refused(request, "There is no such page.", 404)
    try:
        target = _links(request).read(question, token)
        state = await get_status(request.app.state.client, target.crn)
    except LinkRefused as err:
        return _refused(request, str(err).capitalize() + ".", 410 if "expired" in str(err) else 403)
    except ComplaintNotFound:
        return _refused(request, "We cannot find this complaint.", 404)
    return target, state


@router.get("/status/{token}")
async def status_page(request: Request, token: str) -> HTMLResponse:
    found = await _target(request, "status", token)
    if isinstance(found, HTMLResponse):
        return found
    target, s = found
    pool = request.app.state.pool
    updates = [d for d in s.deadlines if deadline_type(d.name) == CUSTOMER_UPDATE
               and d.met_at is None and not d.superseded]
    next_update = min((d.due_at for d in updates), default=None)
    if s.status == Status.awaiting_customer or s.status in RESOLVED or s.paused is not None:
        next_update = None  # our clock waits for them, or it has stopped
    stage = (ENDED[s.outcome] if s.outcome is not None
             else STAGES.get(s.status, "We are working on your complaint."))
    withdraw = _links(request).url(s.crn, "withdraw", target.email) if _open(s) else None
    return _page(request, "status", crn=s.crn, subject=s.subject, stage=stage,
                 withdraw_link=withdraw, changes=changes_for_customer(s),
                 owner=await mailbox.staff_name(pool, s.owner),
                 next_update=_when(next_update), received=_when(s.received_at),
                 messages=[{**m, "at": _when(m["at"]), "subject": without_links(m["subject"]),
                            "body": without_links(m["body"])}
                           for m in await mailbox.messages_exchanged(pool, s.crn)])


# Anything a browser or a reader could follow: a scheme's URL, or a bare www. address.
_LINK = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"']+")


def without_links(text: str | None) -> str:
    """A message as the status page shows it: no links at all. Our emails carry signed links
    (agreement, sign-off, survey) that a forwarded status link must not open, and a
    sender's own links have no place on our domain."""
    return _LINK.sub("[link removed]", text or "")


@router.get("/{question}/{token}")
async def question_page(request: Request, question: str, token: str) -> HTMLResponse:
    found = await _target(request, question, token)
    if isinstance(found, HTMLResponse):
        return found
    target, state = found
    if question == "withdraw" and not _open(state):
        return _nothing_to_withdraw(request, state, 200)
    if await mailbox.link_used(request.app.state.pool, target.crn, question, target.email):
        return _page(request, "message", title="Already answered",
                     message="This link was used already; thank you. Reply to our email if "
                             "you want to tell us more.")
    return _page(request, "question", question=question, crn=state.crn, subject=state.subject,
                 error=None)


@router.post("/{question}/{token}")
async def answer(request: Request, question: str, token: str) -> HTMLResponse:
    if question == "status":
        return _page(request, "message", 405, title="Nothing to send",
                     message="This page only shows where your complaint stands.")
    found = await _target(request, question, token)
    if isinstance(found, HTMLResponse):
        return found
    target, state = found
    if question == "withdraw" and not _open(state):
        return _nothing_to_withdraw(request, state, 409)
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    try:
        update, payload = _answer(question, form, customer_actor(state.customer_id))
    except ValueError as err:
        return _page(request, "question", 422, question=question, crn=state.crn,
                     subject=state.subject, error=str(err))
    pool = request.app.state.pool
    if not await mailbox.claim_link(pool, target.crn, question, target.email, form):
        return _page(request, "message", 409, title="Already answered",
                     message="This link was used already; your earlier answer stands.")
    try:
        await act(request.app.state.client, target.crn, update, payload)
    except ActionRefused as err:
        await mailbox.release_link(pool, target.crn, question, target.email)
        status, sentence = refusals.lookup(REFUSED, err.kind)
        return _page(request, "message", status, title="We could not record this answer",
                     message=sentence.format(reason=err))
    return _page(request, "message", title="Thank you", message=THANKS[question])


THANKS = {
    "agreement": "Your answer is recorded; your case manager will be in touch.",
    "sign_off": "Thank you for confirming that your complaint is resolved.",
    "survey": "Thank you for telling us how we did.",
    "information": "Thank you: your case manager has your information, and our clocks run "
                   "again.",
    "withdraw": "Your complaint is withdrawn. We have stopped working on it and will not "
                "email you about it again. If anything changes, write to us and we will "
                "open a new complaint.",
}


def _open(s: ComplaintState) -> bool:
    """Whether the page offers the customer to withdraw: what the workflow's rule accepts
    from them (rules.withdraw), until the complaint is resolved (the rule also takes a
    closed one, to archive it at once: that is for staff and erasure, not this page)."""
    if s.status in RESOLVED:
        return False
    try:
        rules.withdraw(rules.ActionFacts(state=s, registered=s.status != Status.new),
                       Withdrawal(actor=customer_actor(s.customer_id), reason="asked"))
    except refusals.Refused:
        return False
    return True


def _nothing_to_withdraw(request: Request, s: ComplaintState, status_code: int) -> HTMLResponse:
    if s.outcome == ComplaintOutcome.withdrawn:
        message = "You withdrew this complaint already; there is nothing more to do."
    elif s.status == Status.new:
        message = "We are still registering this complaint; please try again in a minute."
    else:
        message = "This complaint is resolved, so there is nothing to withdraw."
    return _page(request, "message", status_code, title="Nothing to withdraw", message=message)


def _answer(question: str, form: dict[str, str], actor: str) -> tuple[str, dict[str, Any]]:
    """The update a form's answer is, and its payload; ValueError for a bad form."""
    comment = form.get("comment", "").strip()
    if question == "agreement":
        choice = form.get("answer")
        if choice not in ("agree", "disagree"):
            raise ValueError("Please choose whether you agree.")
        return "record_customer_response", {
            "actor": actor, "agrees": choice == "agree",
            "message": comment or ("Agreed on the proposal page" if choice == "agree"
                                   else "Did not agree on the proposal page")}
    if question == "sign_off":
        if form.get("confirm") != "Resolution Confirmed":
            raise ValueError("Please press \"Resolution Confirmed\" to confirm.")
        return "confirm_resolution", {
            "actor": actor,
            "confirmation_text": "Resolution Confirmed" + (f": {comment}" if comment else "")}
    if question == "withdraw":
        if form.get("confirm") != "withdraw":
            raise ValueError("Please press \"Withdraw my complaint\" to withdraw it.")
        return "withdraw", {"actor": actor,
                            "reason": comment or "withdrawn by the customer on the status page"}
    if question == "information":
        if not comment:
            raise ValueError("Please write the information we asked for.")
        return "record_customer_response", {"actor": actor, "agrees": None, "message": comment}
    score = form.get("score", "")
    if score not in ("1", "2", "3", "4", "5"):
        raise ValueError("Please choose a score from 1 to 5.")
    return "record_csat", {"actor": actor, "score": int(score), "comment": comment}


def changes_for_customer(s: ComplaintState) -> list[str]:
    """What changed under way, in the customer's words (workflows/complaint/presentation.py
    says it for staff)."""
    if s.outcome is not None or s.status in RESOLVED:
        lines = []
    elif s.paused is not None:
        lines = [f"We are waiting for your information since {_when(s.paused.since)}: "
                 "reply to our email with it. The time we take is paused meanwhile."]
    else:
        lines = []
    for e in s.timeline:
        if e.event == Event.retriaged and e.before and e.after:
            lines.append(f"The priority of your complaint changed on {_when(e.at)}: "
                         f"{e.before.split(',')[0]} became {e.after.split(',')[0]} (1 is the "
                         "most urgent).")
        elif e.event == Event.policy_changed:
            lines.append(f"Our service standards changed on {_when(e.at)}; the times we "
                         "promise you follow them from then.")
    return lines


def _when(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).strftime("%d %B %Y, %H:%M UTC") if instant else None
