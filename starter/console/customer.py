"""The customer's pages, under /c/ (README.md, "Complaints by email").

    GET  /c/{question}/{token}   the question (agreement, sign_off, survey, withdraw,
                                 information, reopen): changes nothing
    POST /c/{question}/{token}   the answer, as the customer's own action; the link works once
    GET  /c/status/{token}       where the complaint stands (read-only, 90 days; the messages
                                 exchanged without any link in them); while the
                                 complaint is open it links to the withdraw question, once
                                 resolved or closed (until archived) to the reopen question

Pages are in the complaint's language, else the browser's (`Accept-Language`), else English
(docs/languages.md): every sentence here is a catalog message, marked N_ where it is
defined and translated where the page is made.

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
from mail import language
from mail.language import N_
from mail.links import CustomerLinks, LinkRefused, LinkTarget
from settings import Settings
from starter.operations import ActionRefused, ComplaintNotFound, act, get_status
from workflows import refusals
from workflows.complaint import rules
from workflows.events import CUSTOMER_UPDATE, KB_ARTICLE, RND_FIX, Event, deadline_type
from workflows.models import ComplaintOutcome, ComplaintState, Reopen, Status, Withdrawal
from workflows.permissions import customer_actor

router = APIRouter(prefix="/c", include_in_schema=False)

QUESTIONS = ("agreement", "sign_off", "survey", "withdraw", "information", "reopen")
# What the customer reads when their answer is refused, by the refusal's kind
# (workflows/refusals.py; a kind without a row takes its nearest base's).
REFUSED: dict[type[refusals.Refused], tuple[int, str]] = {
    refusals.Refused: (409, N_("{reason}. Please reply to our email instead.")),
    refusals.StillRegistering: (409, N_("We are still registering this complaint; please try "
                                        "again in a minute.")),
    refusals.AlreadyWithdrawn: (409, N_("{reason}. There is nothing more to answer.")),
    refusals.ComplaintClosed: (409, N_("{reason}. There is nothing more to answer.")),
    refusals.PastReopening: (409, N_("{reason}. Reply to any of our emails and we will open a "
                                     "new complaint for it.")),
    refusals.InvalidValue: (422, N_("{reason}. Please correct it, or reply to our email "
                                    "instead.")),
}
STAGES = {
    Status.new: N_("We have received your complaint and are registering it."),
    Status.acknowledged: N_("We have acknowledged your complaint; a dedicated manager is "
                            "taking it on."),
    Status.under_investigation: N_("We are investigating your complaint."),
    Status.awaiting_customer: N_("We are waiting for your answer to our proposal."),
    Status.awaiting_approval: N_("The refund we agreed with you is being approved."),
    Status.fix_in_progress: N_("The fix we agreed with you is being made."),
    Status.resolved: N_("Your complaint is resolved. Thank you for confirming."),
    Status.closed: N_("Your complaint is resolved and closed."),
    Status.archived: N_("Your complaint is resolved and closed."),
}
WORKING = N_("We are working on your complaint.")
WITHDRAWN_STAGE = N_("You withdrew this complaint; we have stopped working on it.")
# How it ended, in plain words, whatever its status now (closed, archived).
ENDED = {
    ComplaintOutcome.confirmed: N_("Your complaint is resolved. Thank you for confirming."),
    ComplaintOutcome.unconfirmed: N_("We consider your complaint resolved, as we did not hear "
                                     "back from you. If it is not resolved, reply to any of "
                                     "our emails and we will pick it up again."),
    ComplaintOutcome.upheld: N_("We sent you our final response: we upheld your complaint."),
    ComplaintOutcome.partly_upheld: N_("We sent you our final response: we upheld your "
                                       "complaint in part."),
    ComplaintOutcome.not_upheld: N_("We sent you our final response: we did not uphold your "
                                    "complaint."),
    ComplaintOutcome.withdrawn: WITHDRAWN_STAGE,
    ComplaintOutcome.dismissed: N_("We closed this message: it was not something our "
                                   "complaints team handles."),
}
RESOLVED = (Status.resolved, Status.closed, Status.archived)
# What a team we handed the complaint to is doing for the customer (handoffs.py), and by when.
TEAM_WORK = {RND_FIX: N_("Our R&D team is making the fix we agreed with you, by {by}."),
             KB_ARTICLE: N_("Our quality team is updating our help articles, by {by}.")}
# Personal data, a token in the address: never cached, never sent on as a referrer.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
_envs: dict[str, jinja2.Environment] = {}


def page_language(request: Request, state: ComplaintState | None = None) -> str:
    """The shipped language a page is in: the complaint's when a catalog ships for it, else
    the first shipped one the browser asks for (`Accept-Language`), else English."""
    own = language.language_tag(state.language) if state is not None else None
    if own is not None and own.split("-")[0] in language.SHIPPED:
        return own.split("-")[0]
    return language.from_accept_language(request.headers.get("accept-language")) \
        or language.ENGLISH


def _(lang: str, message: str) -> str:
    """A message (marked N_ where it is defined) in the page's language."""
    return language.translations(lang).gettext(message)


def _page(request: Request, template: str, status_code: int = 200, *, lang: str,
          **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    if lang not in _envs:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
            autoescape=True, undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"])
        env.install_gettext_translations(  # type: ignore[attr-defined]
            language.translations(lang), newstyle=True)
        _envs[lang] = env
    html = _envs[lang].get_template(f"customer/{template}.html.j2").render(lang=lang, **context)
    headers = {**HEADERS, "Content-Language": lang}
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _refused(request: Request, reason: str, status_code: int, lang: str) -> HTMLResponse:
    return _page(request, "message", status_code, lang=lang,
                 title=_(lang, N_("This link cannot be used")), message=reason)


def _links(request: Request) -> CustomerLinks:
    settings: Settings = request.app.state.settings
    return CustomerLinks(settings.link_secret, settings.public_url)


async def _target(request: Request, question: str, token: str
                  ) -> tuple[LinkTarget, ComplaintState] | HTMLResponse:
    lang = page_language(request)
    if question not in (*QUESTIONS, "status"):
        return _refused(request, _(lang, N_("There is no such page.")), 404, lang)
    try:
        target = _links(request).read(question, token)
        state = await get_status(request.app.state.client, target.crn)
    except LinkRefused as err:
        return _refused(request, _capitalised(_(lang, str(err))) + ".",
                        410 if "expired" in str(err) else 403, lang)
    except ComplaintNotFound:
        return _refused(request, _(lang, N_("We cannot find this complaint.")), 404, lang)
    return target, state


# The workflow's refusals give their reason in English (they are the staff's words too): in
# another language the page says this instead of it.
REFUSED_IN_OTHER_WORDS = N_("This answer cannot be recorded now")


def _reason(err: ActionRefused, lang: str) -> str:
    return str(err) if lang == language.ENGLISH else _(lang, REFUSED_IN_OTHER_WORDS)


def _capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


@router.get("/status/{token}")
async def status_page(request: Request, token: str) -> HTMLResponse:
    found = await _target(request, "status", token)
    if isinstance(found, HTMLResponse):
        return found
    target, s = found
    lang = page_language(request, s)
    pool = request.app.state.pool
    updates = [d for d in s.deadlines if deadline_type(d.name) == CUSTOMER_UPDATE
               and d.met_at is None and not d.superseded]
    next_update = min((d.due_at for d in updates), default=None)
    if s.status == Status.awaiting_customer or s.status in RESOLVED or s.paused is not None:
        next_update = None  # our clock waits for them, or it has stopped
    stage = (ENDED[s.outcome] if s.outcome is not None else STAGES.get(s.status, WORKING))
    withdraw = _links(request).url(s.crn, "withdraw", target.email) if _open(s) else None
    reopen = (_links(request).url(s.crn, "reopen", target.email) if _reopenable(s)
              else None)
    handed = [(d, TEAM_WORK[deadline_type(d.name)]) for d in s.deadlines
              if deadline_type(d.name) in TEAM_WORK and d.met_at is None and not d.superseded]
    return _page(request, "status", lang=lang, crn=s.crn, subject=s.subject,
                 stage=_(lang, stage), withdraw_link=withdraw, reopen_link=reopen,
                 reopened=_when(s.reopened_at, lang),
                 handoffs=[_(lang, work).format(by=_when(d.due_at, lang)) for d, work in handed],
                 changes=changes_for_customer(s, lang),
                 owner=await mailbox.staff_name(pool, s.owner),
                 next_update=_when(next_update, lang), received=_when(s.received_at, lang),
                 messages=[{**m, "at": _when(m["at"], lang),
                            "subject": without_links(m["subject"]),
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
    lang = page_language(request, state)
    if question == "withdraw" and not _open(state):
        return _nothing_to_withdraw(request, state, 200, lang)
    if question == "reopen" and not _reopenable(state):
        return _nothing_to_reopen(request, 200, lang)
    if await mailbox.link_used(request.app.state.pool, target.crn, question, target.email):
        return _page(request, "message", lang=lang, title=_(lang, N_("Already answered")),
                     message=_(lang, N_("This link was used already; thank you. Reply to our "
                                        "email if you want to tell us more.")))
    return _page(request, "question", lang=lang, question=question, crn=state.crn,
                 subject=state.subject, error=None)


@router.post("/{question}/{token}")
async def answer(request: Request, question: str, token: str) -> HTMLResponse:
    if question == "status":
        lang = page_language(request)
        return _page(request, "message", 405, lang=lang, title=_(lang, N_("Nothing to send")),
                     message=_(lang, N_("This page only shows where your complaint stands.")))
    found = await _target(request, question, token)
    if isinstance(found, HTMLResponse):
        return found
    target, state = found
    lang = page_language(request, state)
    if question == "withdraw" and not _open(state):
        return _nothing_to_withdraw(request, state, 409, lang)
    if question == "reopen" and not _reopenable(state):
        return _nothing_to_reopen(request, 409, lang)
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    try:
        update, payload = _answer(question, form, customer_actor(state.customer_id))
    except ValueError as err:
        return _page(request, "question", 422, lang=lang, question=question, crn=state.crn,
                     subject=state.subject, error=_(lang, str(err)))
    pool = request.app.state.pool
    if not await mailbox.claim_link(pool, target.crn, question, target.email, form):
        return _page(request, "message", 409, lang=lang, title=_(lang, N_("Already answered")),
                     message=_(lang, N_("This link was used already; your earlier answer "
                                        "stands.")))
    try:
        await act(request.app.state.client, target.crn, update, payload)
    except ActionRefused as err:
        await mailbox.release_link(pool, target.crn, question, target.email)
        status, sentence = refusals.lookup(REFUSED, err.kind)
        return _page(request, "message", status, lang=lang,
                     title=_(lang, N_("We could not record this answer")),
                     message=_(lang, sentence).format(reason=_reason(err, lang)))
    return _page(request, "message", lang=lang, title=_(lang, N_("Thank you")),
                 message=_(lang, THANKS[question]))


THANKS = {
    "agreement": N_("Your answer is recorded; your case manager will be in touch."),
    "sign_off": N_("Thank you for confirming that your complaint is resolved."),
    "survey": N_("Thank you for telling us how we did."),
    "withdraw": N_("Your complaint is withdrawn. We have stopped working on it and will not "
                   "email you about it again. If anything changes, write to us and we will "
                   "open a new complaint."),
    "information": N_("Thank you: your case manager has your information, and our clocks run "
                      "again."),
    "reopen": N_("Your complaint is reopened: your case manager is looking into it again and "
                 "will be in touch."),
}


def _reopenable(s: ComplaintState) -> bool:
    """Whether the status page offers the customer to reopen it: resolved or closed, not
    archived, nor withdrawn or dismissed (the workflow checks the policy's window)."""
    try:
        rules.reopen(rules.ActionFacts(state=s),
                     Reopen(actor=customer_actor(s.customer_id), reason="asked"))
    except refusals.Refused:
        return False
    return True


def _nothing_to_reopen(request: Request, status_code: int, lang: str) -> HTMLResponse:
    return _page(request, "message", status_code, lang=lang,
                 title=_(lang, N_("Nothing to reopen")),
                 message=_(lang, N_("This complaint is not resolved or closed, or it is "
                                    "archived. Reply to any of our emails and we will pick it "
                                    "up.")))


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


def _nothing_to_withdraw(request: Request, s: ComplaintState, status_code: int,
                         lang: str) -> HTMLResponse:
    if s.outcome == ComplaintOutcome.withdrawn:
        message = N_("You withdrew this complaint already; there is nothing more to do.")
    elif s.status == Status.new:
        message = N_("We are still registering this complaint; please try again in a minute.")
    else:
        message = N_("This complaint is resolved, so there is nothing to withdraw.")
    return _page(request, "message", status_code, lang=lang,
                 title=_(lang, N_("Nothing to withdraw")), message=_(lang, message))


def _answer(question: str, form: dict[str, str], actor: str) -> tuple[str, dict[str, Any]]:
    """The update a form's answer is, and its payload; ValueError for a bad form."""
    comment = form.get("comment", "").strip()
    if question == "agreement":
        choice = form.get("answer")
        if choice not in ("agree", "disagree"):
            raise ValueError(N_("Please choose whether you agree."))
        return "record_customer_response", {
            "actor": actor, "agrees": choice == "agree",
            "message": comment or ("Agreed on the proposal page" if choice == "agree"
                                   else "Did not agree on the proposal page")}
    if question == "sign_off":
        if form.get("confirm") != "Resolution Confirmed":
            raise ValueError(N_("Please press \"Resolution Confirmed\" to confirm."))
        return "confirm_resolution", {
            "actor": actor,
            "confirmation_text": "Resolution Confirmed" + (f": {comment}" if comment else "")}
    if question == "withdraw":
        if form.get("confirm") != "withdraw":
            raise ValueError(N_("Please press \"Withdraw my complaint\" to withdraw it."))
        return "withdraw", {"actor": actor,
                            "reason": comment or "withdrawn by the customer on the status page"}
    if question == "information":
        if not comment:
            raise ValueError(N_("Please write the information we asked for."))
        return "record_customer_response", {"actor": actor, "agrees": None, "message": comment}
    if question == "reopen":
        if not comment:
            raise ValueError(N_("Please tell us what is still wrong."))
        return "reopen", {"actor": actor, "reason": comment}
    score = form.get("score", "")
    if score not in ("1", "2", "3", "4", "5"):
        raise ValueError(N_("Please choose a score from 1 to 5."))
    return "record_csat", {"actor": actor, "score": int(score), "comment": comment}


def _when(instant: datetime | None, lang: str) -> str | None:
    if instant is None:
        return None
    if lang == language.ENGLISH:
        return instant.astimezone(UTC).strftime("%d %B %Y, %H:%M UTC")
    return language.when(instant, "UTC", lang)


def changes_for_customer(s: ComplaintState, lang: str) -> list[str]:
    """What changed under way, in the customer's words and language
    (workflows/complaint/presentation.py says it for staff)."""
    lines: list[str] = []
    if s.outcome is None and s.status not in RESOLVED and s.paused is not None:
        lines.append(_(lang, N_("We are waiting for your information since {since}: reply to "
                                "our email with it. The time we take is paused meanwhile."))
                     .format(since=_when(s.paused.since, lang)))
    for e in s.timeline:
        if e.event == Event.retriaged and e.before and e.after:
            lines.append(_(lang, N_("The priority of your complaint changed on {on}: severity "
                                    "{before} became severity {after} (1 is the most urgent)."))
                         .format(on=_when(e.at, lang), before=_severity(e.before),
                                 after=_severity(e.after)))
        elif e.event == Event.policy_changed:
            lines.append(_(lang, N_("Our service standards changed on {on}; the times we "
                                    "promise you follow them from then."))
                         .format(on=_when(e.at, lang)))
    return lines


def _severity(triage: str) -> str:
    """The severity's number in a re-triage's timeline words ("severity 3, billing_dispute"),
    so that each language says the word "severity" itself."""
    return triage.split(",")[0].removeprefix("severity ").strip()
