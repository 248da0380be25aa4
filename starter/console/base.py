"""What every console module stands on: the prefix, the console's parts (settings, Temporal
client, pool, policy, templates), rendering a page, and the two ways a request ends early
(a refusal shown as a page, or the sign-in page first)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from database.pool import Pool
from settings import Settings
from starter.operations import ComplaintNotFound, ComplaintUnreadable, get_status
from workflows.models import ComplaintState
from workflows.policy import SlaPolicy

PREFIX = "/console"
CRN_PATTERN = re.compile(r"^CRN-[A-Z2-7]{10}$")
TEMPORAL_TIMEOUT = 10.0  # seconds a query, a list or an update may take before we say 503
T = TypeVar("T")


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


async def answered(call: Awaitable[T], what: str) -> T:
    """Temporal's answer, or a page saying it did not come (503, try again shortly)."""
    try:
        return await asyncio.wait_for(call, TEMPORAL_TIMEOUT)
    except TimeoutError:
        raise ConsoleError(503, f"{what} did not answer within {TEMPORAL_TIMEOUT:.0f} s (is a "
                           "worker running?). Reload the page shortly to see where it stands.",
                           {"Retry-After": "5"}) from None
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise ConsoleError(503, "Temporal is unavailable; try again shortly.",
                               {"Retry-After": "5"}) from None
        raise
    except ComplaintUnreadable as err:  # a key missing here: say so, in the product's words
        raise ConsoleError(503, f"{str(err)[0].upper()}{str(err)[1:]}.") from None


async def state_of(request: Request, crn: str) -> ComplaintState:
    """The complaint a page is about: 404 for a CRN that cannot be one or is unknown."""
    if not CRN_PATTERN.match(crn):
        raise ConsoleError(404, f"There is no complaint {crn} (a CRN looks like CRN-WKTLI5TNQT).")
    try:
        return await answered(get_status(console(request).client, crn), crn)
    except ComplaintNotFound:
        raise ConsoleError(404, f"There is no complaint {crn}.") from None
