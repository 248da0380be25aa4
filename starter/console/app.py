"""Mounting the console on the app (`create_app` calls `mount_console`), its templates, its
static assets (shipped in the wheel) and the headers every console page carries:

- a Content-Security-Policy that admits only this origin's scripts and styles (no inline
  script), `frame-ancestors 'none'` (no clickjacking) and `form-action 'self'`;
- `Cache-Control: no-store` on every page: they hold personal data;
- errors as HTML pages that say what to do, with the status the API would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from temporalio.client import Client

from activities.db import Pool
from settings import Settings
from workflows.policy import SlaPolicy

PREFIX = "/console"
STATIC_DIR = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ConsoleError(Exception):
    """A request the console refuses; shown as a page with the reason."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class NeedsSignIn(Exception):
    """No live session: to the sign-in page, then back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


@dataclass
class Console:
    settings: Settings
    client: Client
    pool: Pool
    policy: SlaPolicy
    templates: jinja2.Environment
    signing_key: bytes | None = None  # read from PostgreSQL on first use (auth.py)


def console(request: Request) -> Console:
    return request.app.state.console


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = console(request).templates.get_template(f"console/{template}").render(
        request=request, prefix=PREFIX, **context)
    return HTMLResponse(html, status_code=status)


def _templates(settings: Settings) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(settings.templates_dir)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env


def mount_console(app: FastAPI, settings: Settings, client: Client, pool: Pool) -> None:
    from starter.console import approvals, auth, pages, queue, reports

    app.state.console = Console(settings, client, pool, settings.policy(), _templates(settings))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    for area in (auth, queue, pages, approvals, reports):
        app.include_router(area.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        if request.url.path.startswith(PREFIX):
            response.headers.update(SECURITY_HEADERS)
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
        from urllib.parse import quote
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(exc.back_to)}", status_code=303)
