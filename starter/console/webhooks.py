"""The console's Webhooks page (docs/integrations.md): the subscriptions with their backlog,
a form to add one (its secret shown once), test, enable, remove, and the delivery log with
each delivery's attempts and a Redeliver button. For the head of customer success and
engineers, as the API's /webhooks."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from database import webhooks as hooks
from database.webhook_targets import TargetRefused, check_target
from settings.webhooks import wake_deliveries
from starter.console.approvals import only_for
from starter.console.auth import CheckedForm, SignedIn
from starter.console.base import PREFIX, ConsoleError, answered, console, render
from workflows.models import Role
from workflows.webhook_events import SUBSCRIBABLE

log = logging.getLogger("complaints.console")
router = APIRouter(include_in_schema=False)
WEBHOOK_ROLES = frozenset({Role.head_of_cs, Role.engineer})


async def _wake(request: Request, ids: list[int]) -> None:
    c = console(request)
    try:
        await wake_deliveries(c.client, c.settings.task_queue, ids)
    except Exception as err:  # the worker starts every enabled subscription's delivery
        log.warning("webhook deliveries %s not woken: %s", ids, err)


async def _page(request: Request, session: SignedIn, status: int = 200,
                **extra: object) -> Response:
    pool = console(request).pool
    shown = request.query_params.get("attempts", "")
    attempts = await hooks.list_attempts(pool, int(shown)) if shown.isdigit() else None
    return render(request, "webhooks.html.j2", status=status, member=session.member,
                  csrf=session.csrf_token,
                  subscriptions=await answered(hooks.list_subscriptions(pool), "PostgreSQL"),
                  deliveries=await hooks.list_deliveries(pool, limit=100),
                  event_types=SUBSCRIBABLE, attempts=attempts, attempts_of=shown,
                  done=request.query_params.get("done"), **extra)


@router.get(f"{PREFIX}/webhooks")
async def webhooks_page(request: Request, session: SignedIn) -> Response:
    only_for(session.member, WEBHOOK_ROLES, "webhooks")
    return await _page(request, session)


@router.post(f"{PREFIX}/webhooks/add")
async def add(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    only_for(session.member, WEBHOOK_ROLES, "webhooks")
    c = console(request)
    url = str(form.get("url") or "").strip()
    events = [str(e) for e in form.getlist("events")]
    try:
        await check_target(url, c.settings.webhooks_allow_private)
        row = await hooks.add_subscription(
            c.pool, url, events, session.member.id,
            include_payload=form.get("include_payload") == "on",
            description=str(form.get("description") or "")[:500])
    except (TargetRefused, hooks.SubscriptionRefused) as err:
        return await _page(request, session, status=422, problem=str(err))
    await _wake(request, [row["id"]])
    # The secret once, on this page; never again.
    return await _page(request, session, status=201, created=row)


@router.post(f"{PREFIX}/webhooks/act")
async def act(request: Request, session: SignedIn, form: CheckedForm) -> Response:
    only_for(session.member, WEBHOOK_ROLES, "webhooks")
    pool = console(request).pool
    action, target = str(form.get("action") or ""), str(form.get("id") or "")
    if not target.isdigit() or int(target) > 2**62:
        raise ConsoleError(422, "Choose a subscription or a delivery.")
    ident = int(target)
    if action == "remove":
        found = await hooks.remove_subscription(pool, ident)
    elif action == "enable":
        found = await hooks.enable_subscription(pool, ident)
        await _wake(request, [ident])
    elif action == "test":
        found = await hooks.queue_test_event(pool, ident, datetime.now(UTC)) is not None
        await _wake(request, [ident])
    elif action == "redeliver":
        woken = await hooks.redeliver(pool, delivery_id=ident)
        found = bool(woken)
        await _wake(request, woken)
    else:
        raise ConsoleError(422, "Choose Test, Enable, Remove or Redeliver.")
    if not found:
        raise ConsoleError(409, "Nothing to do: unknown, or still pending. Nothing was changed.")
    return RedirectResponse(f"{PREFIX}/webhooks?done={action}", status_code=303)
