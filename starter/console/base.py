"""What every console module stands on: the prefix, the console's parts (settings, Temporal
client, pool, policy, templates), rendering a page, and the two ways a request ends early
(a refusal shown as a page, or the sign-in page first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from temporalio.client import Client

from activities.db import Pool
from settings import Settings
from workflows.policy import SlaPolicy

PREFIX = "/console"


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
