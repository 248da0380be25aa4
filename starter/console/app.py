"""Mounting the console on the app (`create_app` calls `mount_console`), its templates, its
static assets (shipped in the wheel) and the headers every console page carries:

- a Content-Security-Policy that admits only this origin's scripts and styles (no inline
  script), `frame-ancestors 'none'` (no clickjacking) and `form-action 'self'`;
- `Cache-Control: no-store` on every page: they hold personal data;
- errors as HTML pages that say what to do, with the status the API would give.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from database.pool import Pool
from mail import language
from settings import Settings
from starter.console import approvals, auth, data_requests, desk, pages, queue, reports, suspended
from starter.console.base import PREFIX, Console, ConsoleError, NeedsSignIn, render
from workflows.complaint.presentation import closed_as

STATIC_DIR = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _templates(settings: Settings) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["ended_as"] = closed_as  # how a complaint ended, in the team's words
    env.globals["language_of"] = language.described  # the customer's (docs/languages.md)
    return env


def security_headers_for(settings: Settings) -> dict[str, str]:
    """SECURITY_HEADERS; with single sign-on, the sign-out form may also lead to the identity
    provider's end-session page (a form's redirects are held to form-action too)."""
    if not settings.oidc_issuer:
        return SECURITY_HEADERS
    parts = urlsplit(settings.oidc_issuer)
    csp = CSP.replace("form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}")
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


def mount_console(app: FastAPI, settings: Settings, client: Client, pool: Pool) -> None:
    headers = security_headers_for(settings)
    app.state.console = Console(settings, client, pool, settings.policy(), _templates(settings))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    for area in (auth, queue, pages, desk, approvals, reports, suspended, data_requests):
        app.include_router(area.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        if request.url.path.startswith(PREFIX):
            for name, value in headers.items():  # a page may be stricter (reports)
                response.headers.setdefault(name, value)
            if not request.url.path.startswith(f"{PREFIX}/static/"):
                response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(ConsoleError)
    async def refused(request: Request, exc: ConsoleError) -> Response:
        response = render(request, "error.html.j2", status=exc.status, message=exc.message,
                          member=getattr(request.state, "member", None),
                          csrf=getattr(request.state, "csrf", ""))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(NeedsSignIn)
    async def sign_in_first(request: Request, exc: NeedsSignIn) -> Response:
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(exc.back_to)}", status_code=303)
