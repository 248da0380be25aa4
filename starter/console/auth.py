"""Signing in and out, and who is asking.

The session cookie (`console_session`) carries the session's random token, signed with
itsdangerous (the key lives in PostgreSQL, so every server of one database agrees), and is
HttpOnly and SameSite=Lax; it is Secure when PUBLIC_URL is https. The server side of a
session (database/console_auth.py) decides whether it is still live on every request.

Every form that changes something carries the session's CSRF token (`csrf_token`); a POST
without it, or with another session's, is refused (403) before anything is read. The
sign-in form has its own token, in a short-lived cookie of its own (double submit).

Single sign-on (OIDC_ISSUER, starter/console/oidc.py): "Sign in with your company account"
leaves for the provider with a state, a nonce and a PKCE verifier kept in a signed cookie
of ten minutes (`console_oidc`, this path only); the callback checks them, and the roster
member the provider's claim names gets the same session a password would give. Someone the
roster does not know, or who is unavailable, gets a page that says so (403) and no session.
Signing out ends the console session, then the provider's when it has an end-session
endpoint. CONSOLE_PASSWORDS=off hides the password form and refuses its posts.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import hmac
import json
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, Signer, TimestampSigner
from starlette.datastructures import FormData

from database.console_auth import (
    IDLE_TIMEOUT,
    Session,
    SignInThrottled,
    cookie_secret,
    current_session,
    end_session,
    member_named_by,
    open_session,
    sign_in,
)
from starter.clients import client_address
from starter.console import oidc
from starter.console.base import PREFIX, ConsoleError, NeedsSignIn, console, render

router = APIRouter(include_in_schema=False)
SESSION_COOKIE = "console_session"
SIGN_IN_COOKIE = "console_sign_in"
OIDC_COOKIE = "console_oidc"
OIDC_FLOW_SECONDS = 600
MAX_FIELD = 1000
REFRESH_HEADER = "X-Console-Refresh"


async def _signer(request: Request, salt: str) -> Signer:
    c = console(request)
    if c.signing_key is None:
        c.signing_key = await cookie_secret(c.pool)
    return Signer(c.signing_key, salt=salt)


async def _timed_signer(request: Request, salt: str) -> TimestampSigner:
    await _signer(request, salt)  # the key, read once
    key = console(request).signing_key
    assert key is not None
    return TimestampSigner(key, salt=salt)


def _secure(request: Request) -> bool:
    return console(request).settings.public_url.startswith("https://")


async def _session(request: Request) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        token = (await _signer(request, "session")).unsign(cookie).decode()
    except BadSignature:
        return None
    refresh = request.headers.get(REFRESH_HEADER) == "1"  # console.js polling the page
    return await current_session(console(request).pool, token, touch=not refresh)


async def session_of(request: Request) -> Session | None:
    """The caller's live console session, or None (the codec server accepts one)."""
    return await _session(request)


async def signed_in(request: Request) -> Session:
    """The caller's live session, or to the sign-in page (and back afterwards)."""
    session = await _session(request)
    if session is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsSignIn(back if request.method == "GET" else f"{PREFIX}/")
    request.state.member, request.state.csrf = session.member, session.csrf_token
    return session


SignedIn = Annotated[Session, Depends(signed_in)]


async def checked_form(request: Request, session: SignedIn) -> FormData:
    """The POSTed form, once its CSRF token is this session's."""
    form = await request.form(max_files=1, max_fields=100)
    sent = form.get("csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session.csrf_token):
        raise ConsoleError(403, "This form's security token is missing or out of date, so "
                           "nothing was changed. Reload the page and try again.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def _safe_next(target: str | None) -> str:
    """Back to a console page only: never to another site."""
    if not target:
        return f"{PREFIX}/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{PREFIX}/"):
        return f"{PREFIX}/"
    return target


def _sign_in_page(request: Request, token: str, status: int = 200, error: str | None = None,
                  login: str = "", next_url: str = "") -> Response:
    settings = console(request).settings
    response = render(request, "sign_in.html.j2", status=status, error=error, login=login,
                      next_url=_safe_next(next_url or request.query_params.get("next")),
                      sign_in_token=token, member=None, csrf="", sso=oidc.enabled(settings),
                      passwords=settings.console_passwords)
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=_secure(request), path=f"{PREFIX}/sign-in")
    return response


@router.get(f"{PREFIX}/sign-in")
async def sign_in_page(request: Request) -> Response:
    if await _session(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _sign_in_page(request, secrets.token_urlsafe(32))


@router.post(f"{PREFIX}/sign-in")
async def sign_in_submit(request: Request) -> Response:
    if not console(request).settings.console_passwords:
        return _sign_in_page(request, secrets.token_urlsafe(32), 403, "Console passwords are "
                             "switched off here: sign in with your company account.")
    form = await request.form(max_files=0, max_fields=10)
    login, password = str(form.get("login") or "")[:MAX_FIELD], str(form.get("password") or "")
    next_url = str(form.get("next") or "")
    token = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = str(form.get("sign_in_token") or "")
    if not token or not hmac.compare_digest(token, sent):
        return _sign_in_page(request, secrets.token_urlsafe(32), 403,
                             "The sign-in form was out of date; please sign in again.",
                             login, next_url)
    if not login.strip() or not password:
        return _sign_in_page(request, token, 422, "Enter your roster id or email, and your "
                             "password.", login, next_url)
    c = console(request)
    client = client_address(request, c.settings.forwarded_allow_ips)
    try:
        member = await sign_in(c.pool, login, password, client)
    except SignInThrottled as throttled:
        response = _sign_in_page(request, token, 429, f"Too many failed sign-ins. Try again "
                                 f"in {throttled.retry_after} seconds.", login, next_url)
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    if member is None:
        return _sign_in_page(request, token, 401, "That id or email and password do not "
                             "match an available member of the roster.", login, next_url)
    response = await _session_for(request, member.id, next_url)
    response.delete_cookie(SIGN_IN_COOKIE, path=f"{PREFIX}/sign-in")
    return response


async def _session_for(request: Request, staff_id: str, next_url: str,
                       id_token: str | None = None) -> Response:
    """A new console session for a member who just signed in, and on to where they were going."""
    session_token, _ = await open_session(console(request).pool, staff_id, id_token)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    signed = (await _signer(request, "session")).sign(session_token).decode()
    response.set_cookie(SESSION_COOKIE, signed, max_age=int(IDLE_TIMEOUT.total_seconds()),
                        httponly=True, samesite="lax", secure=_secure(request), path=PREFIX)
    return response


# --- single sign-on -------------------------------------------------------------------


def _refused(request: Request, status: int, message: str, advice: str) -> Response:
    response = render(request, "sign_in_refused.html.j2", status=status, message=message,
                      advice=advice, member=None, csrf="")
    response.delete_cookie(OIDC_COOKIE, path=f"{PREFIX}/sign-in/oidc")
    return response


@router.get(f"{PREFIX}/sign-in/oidc")
async def oidc_start(request: Request) -> Response:
    settings = console(request).settings
    if not oidc.enabled(settings):
        raise ConsoleError(404, "Single sign-on is not set up here (OIDC_ISSUER).")
    try:
        url, flow = await oidc.authorization(settings)
    except oidc.ProviderError as err:
        raise ConsoleError(503, f"Sign-in is not possible just now: {err}. Try again "
                           "shortly.", {"Retry-After": "30"}) from None
    kept = json.dumps({"state": flow.state, "nonce": flow.nonce, "verifier": flow.verifier,
                       "next": _safe_next(request.query_params.get("next"))})
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(OIDC_COOKIE, (await _timed_signer(request, "oidc")).sign(kept).decode(),
                        max_age=OIDC_FLOW_SECONDS, httponly=True, samesite="lax",
                        secure=_secure(request), path=f"{PREFIX}/sign-in/oidc")
    return response


@router.get(f"{PREFIX}/sign-in/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    c = console(request)
    if not oidc.enabled(c.settings):
        raise ConsoleError(404, "Single sign-on is not set up here (OIDC_ISSUER).")
    again = "Start again from the sign-in page."
    try:
        kept = json.loads((await _timed_signer(request, "oidc")).unsign(
            request.cookies.get(OIDC_COOKIE, ""), max_age=OIDC_FLOW_SECONDS))
    except (BadSignature, ValueError):
        return _refused(request, 400, "This sign-in was started in another browser, or took "
                        "longer than ten minutes.", again)
    params = request.query_params
    if params.get("error"):
        described = params.get("error_description") or params["error"]
        return _refused(request, 403, f"Your identity provider did not sign you in: "
                        f"{described[:300]}.", again)
    if not hmac.compare_digest(str(params.get("state", "")), kept["state"]) \
            or not params.get("code"):
        return _refused(request, 400, "This sign-in answer does not belong to the sign-in "
                        "this browser started.", again)
    flow = oidc.Flow(kept["state"], kept["nonce"], kept["verifier"])
    try:
        who = await oidc.identity(c.settings, str(params["code"]), flow)
    except oidc.ProviderError as err:
        return _refused(request, 502, f"The sign-in could not be completed: {err}.", again)
    claim = c.settings.oidc_roster_claim
    member = (await member_named_by(c.pool, who.value, email_only=claim == "email")
              if who.value else None)
    if member is None:
        named = f"{claim} {who.value}" if who.value else f"no {claim} the roster could use"
        return _refused(request, 403, f"Your company account ({named}) is not an available "
                        "member of the complaints roster, so the console cannot let you in.",
                        "Ask the head of customer success to add you to the roster, or to "
                        "mark you available again; then sign in once more.")
    response = await _session_for(request, member.id, kept["next"], who.id_token)
    response.delete_cookie(OIDC_COOKIE, path=f"{PREFIX}/sign-in/oidc")
    return response


@router.get(f"{PREFIX}/sign-in/oidc/signed-out")
async def oidc_signed_out() -> Response:
    """Where the provider sends the browser back after its own sign-out."""
    return RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303)


@router.post(f"{PREFIX}/sign-out")
async def sign_out(request: Request, form: CheckedForm) -> Response:
    c = console(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    token = (await _signer(request, "session")).unsign(cookie).decode()
    id_token = await end_session(c.pool, token)
    provider_out = (await oidc.sign_out_url(c.settings, id_token)
                    if id_token and oidc.enabled(c.settings) else None)
    response = RedirectResponse(provider_out or f"{PREFIX}/sign-in?signed_out=1",
                                status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
