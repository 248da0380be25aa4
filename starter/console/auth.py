"""Signing in and out, and who is asking.

The session cookie (`console_session`) carries the session's random token, signed with
itsdangerous (the key lives in PostgreSQL, so every server of one database agrees), and is
HttpOnly and SameSite=Lax; it is Secure when PUBLIC_URL is https. The server side of a
session (database/console_auth.py) decides whether it is still live on every request.

Every form that changes something carries the session's CSRF token (`csrf_token`); a POST
without it, or with another session's, is refused (403) before anything is read. The
sign-in form has its own token, in a short-lived cookie of its own (double submit).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, Signer
from starlette.datastructures import FormData

from database.console_auth import (
    IDLE_TIMEOUT,
    Session,
    SignInThrottled,
    cookie_secret,
    current_session,
    end_session,
    open_session,
    sign_in,
)
from starter.clients import client_address
from starter.console.base import PREFIX, ConsoleError, NeedsSignIn, console, render

router = APIRouter(include_in_schema=False)
SESSION_COOKIE = "console_session"
SIGN_IN_COOKIE = "console_sign_in"
MAX_FIELD = 1000
REFRESH_HEADER = "X-Console-Refresh"


async def _signer(request: Request, salt: str) -> Signer:
    c = console(request)
    if c.signing_key is None:
        c.signing_key = await cookie_secret(c.pool)
    return Signer(c.signing_key, salt=salt)


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
    response = render(request, "sign_in.html.j2", status=status, error=error, login=login,
                      next_url=_safe_next(next_url or request.query_params.get("next")),
                      sign_in_token=token, member=None, csrf="")
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
    session_token, _ = await open_session(c.pool, member.id)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    signed = (await _signer(request, "session")).sign(session_token).decode()
    response.set_cookie(SESSION_COOKIE, signed, max_age=int(IDLE_TIMEOUT.total_seconds()),
                        httponly=True, samesite="lax", secure=_secure(request), path=PREFIX)
    response.delete_cookie(SIGN_IN_COOKIE, path=f"{PREFIX}/sign-in")
    return response


@router.post(f"{PREFIX}/sign-out")
async def sign_out(request: Request, form: CheckedForm) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    token = (await _signer(request, "session")).unsign(cookie).decode()
    await end_session(console(request).pool, token)
    response = RedirectResponse(f"{PREFIX}/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
