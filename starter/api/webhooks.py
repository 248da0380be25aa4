"""Webhook subscriptions over HTTP (docs/integrations.md): the same as `complaints webhooks`
and the console's Webhooks page, for the head of customer success and engineers. The
caller owns what they subscribe (and is emailed if it is disabled)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from database import webhooks as hooks
from database.webhook_targets import TargetRefused, check_target
from settings.webhooks import wake_deliveries
from starter.api.deps import AppSettings, Database, Staff, Temporal
from starter.api.errors import ApiError, FieldProblem, forbidden, in_time, invalid, responses
from workflows.models import Role
from workflows.webhook_events import SUBSCRIBABLE

router = APIRouter(tags=["webhooks"])
WEBHOOK_ROLES = frozenset({Role.head_of_cs, Role.engineer})
Id = Annotated[int, Path(ge=1, le=2**62, description="the subscription's id")]


class NewSubscription(BaseModel):
    url: str = Field(max_length=2000, description="http(s) URL on a public address")
    events: list[str] = Field(default_factory=lambda: list(SUBSCRIBABLE), max_length=20,
                              description=f"event types: {', '.join(SUBSCRIBABLE)}")
    include_payload: bool = Field(False, description="personal data too (https only)")
    description: str = Field("", max_length=500)


class Subscription(BaseModel):
    id: int
    kind: str
    url: str
    events: list[str]
    include_payload: bool
    enabled: bool
    owner: str | None
    description: str
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    pending: int = 0
    last_attempt_at: datetime | None = None


class CreatedSubscription(Subscription):
    secret: str = Field(description="signs every request (Standard Webhooks); shown once")


class Delivery(BaseModel):
    id: int
    subscription_id: int
    event_id: str
    event_type: str
    crn: str | None
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_attempt_at: datetime | None
    status_code: int | None
    latency_ms: int | None
    error: str | None
    next_retry_at: datetime | None


class Attempt(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None
    next_retry_at: datetime | None


class Redelivery(BaseModel):
    delivery_id: int | None = Field(None, ge=1, le=2**62)
    subscription_id: int | None = Field(None, ge=1, le=2**62)
    since: datetime | None = None
    until: datetime | None = None


class Queued(BaseModel):
    """The subscriptions an action touched (and the test event's id)."""

    subscriptions: list[int]
    event_id: str | None = None


def _webhook_staff(principal: Staff) -> str:
    member = principal.staff
    if member is None or member.role not in WEBHOOK_ROLES:
        raise forbidden("webhooks are for the head of customer success and engineers")
    return member.id


async def _wake(client: Temporal, settings: AppSettings, ids: list[int]) -> None:
    if ids:
        await in_time(wake_deliveries(client, settings.task_queue, ids), "starting the delivery")


@router.get("/webhooks", operation_id="list_webhooks", summary="Webhook subscriptions",
            responses=responses(401, 403))
async def list_webhooks(principal: Staff, pool: Database) -> list[Subscription]:
    _webhook_staff(principal)
    return [Subscription(**r) for r in await hooks.list_subscriptions(pool)]


@router.post("/webhooks", operation_id="add_webhook", status_code=201,
             summary="Subscribe a receiver to events; the answer holds its secret, once",
             responses=responses(401, 403, 422, 503))
async def add_webhook(body: NewSubscription, principal: Staff, pool: Database,
                      client: Temporal, settings: AppSettings) -> CreatedSubscription:
    owner = _webhook_staff(principal)
    try:
        await check_target(body.url, settings.webhooks_allow_private)
        row = await hooks.add_subscription(pool, body.url, body.events, owner,
                                           include_payload=body.include_payload,
                                           description=body.description)
    except (TargetRefused, hooks.SubscriptionRefused) as err:
        field = "url" if isinstance(err, TargetRefused) or "https" in str(err) else "events"
        raise invalid([FieldProblem(location="body", field=field, message=str(err))]) from None
    await _wake(client, settings, [row["id"]])
    return CreatedSubscription(**row)


@router.delete("/webhooks/{subscription_id}", operation_id="remove_webhook",
               summary="Remove a subscription with its outbox and log",
               responses=responses(401, 403, 404))
async def remove_webhook(subscription_id: Id, principal: Staff, pool: Database) -> Queued:
    _webhook_staff(principal)
    if not await hooks.remove_subscription(pool, subscription_id):
        raise ApiError(404, "not_found", f"no webhook subscription {subscription_id}")
    return Queued(subscriptions=[subscription_id])


@router.post("/webhooks/{subscription_id}/enable", operation_id="enable_webhook",
             summary="Turn a disabled subscription back on", responses=responses(401, 403, 404, 503))
async def enable_webhook(subscription_id: Id, principal: Staff, pool: Database,
                         client: Temporal, settings: AppSettings) -> Queued:
    _webhook_staff(principal)
    if not await hooks.enable_subscription(pool, subscription_id):
        raise ApiError(404, "not_found", f"no webhook subscription {subscription_id}")
    await _wake(client, settings, [subscription_id])
    return Queued(subscriptions=[subscription_id])


@router.post("/webhooks/{subscription_id}/test", operation_id="test_webhook", status_code=202,
             summary="Queue a webhook.test event for the subscription",
             responses=responses(401, 403, 404, 503))
async def test_webhook(subscription_id: Id, principal: Staff, pool: Database,
                       client: Temporal, settings: AppSettings) -> Queued:
    _webhook_staff(principal)
    event_id = await hooks.queue_test_event(pool, subscription_id, datetime.now().astimezone())
    if event_id is None:
        raise ApiError(404, "not_found", f"no webhook subscription {subscription_id}")
    await _wake(client, settings, [subscription_id])
    return Queued(subscriptions=[subscription_id], event_id=event_id)


@router.get("/webhooks/deliveries", operation_id="list_webhook_deliveries",
            summary="The delivery log, newest first", responses=responses(401, 403, 422))
async def deliveries(
    principal: Staff, pool: Database,
    subscription: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Delivery]:
    _webhook_staff(principal)
    return [Delivery(**r) for r in await hooks.list_deliveries(pool, subscription, limit)]


@router.get("/webhooks/deliveries/{delivery_id}/attempts", operation_id="list_webhook_attempts",
            summary="Every attempt of one delivery", responses=responses(401, 403, 422))
async def attempts(delivery_id: Annotated[int, Path(ge=1, le=2**62)], principal: Staff,
                   pool: Database) -> list[Attempt]:
    _webhook_staff(principal)
    return [Attempt(**r) for r in await hooks.list_attempts(pool, delivery_id)]


@router.post("/webhooks/redeliver", operation_id="redeliver_webhooks",
             summary="Send one delivery again, or a subscription's deliveries in a time range",
             description="409 when nothing matched (unknown, or still pending).",
             responses=responses(401, 403, 409, 422, 503))
async def redeliver(body: Redelivery, principal: Staff, pool: Database, client: Temporal,
                    settings: AppSettings) -> Queued:
    _webhook_staff(principal)
    try:
        woken = await hooks.redeliver(pool, delivery_id=body.delivery_id,
                                      subscription_id=body.subscription_id, since=body.since,
                                      until=body.until)
    except hooks.SubscriptionRefused as err:
        raise invalid([FieldProblem(location="body", field="delivery_id", message=str(err))]) from None
    if not woken:
        raise ApiError(409, "conflict", "nothing to redeliver (unknown, or still pending)")
    await _wake(client, settings, woken)
    return Queued(subscriptions=woken)
