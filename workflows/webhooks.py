"""Webhook delivery (docs/integrations.md): one small workflow per subscription.

The complaint's writer queues events in PostgreSQL in the same transaction as its
resolution log (database/webhooks.py, the outbox), then signals this workflow
(`events_pending`; it also looks every `poll_every` by itself, so a lost signal only delays).
The workflow reads the oldest pending events and posts each with one activity that Temporal
retries with backoff (initial `retry_initial`, doubling up to `retry_maximum`) until
`give_up_after` (three days in production). Events of one complaint go one after the
other, in the order they were queued; complaints go side by side. A worker that dies
mid-delivery loses nothing: the event is pending until a receiver said 2xx. When an event's
retries run out, the subscription is disabled and its owner emailed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.activity_types import EmailActivities
    from workflows.messages import ClearText, EmailRequest

WORKFLOW_NAME = "WebhookDeliveryWorkflow"
EVENTS_PENDING = "events_pending"
# Batches one run handles before it continues as new (its history stays short).
BATCHES_PER_RUN = 100
ACTIVITY_TIMEOUT = timedelta(seconds=30)
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(minutes=1))


class WebhookDeliveryStart(BaseModel):
    subscription_id: int


class DeliveryRetry(BaseModel):
    """How a delivery is retried (WEBHOOKS_RETRY_INITIAL, WEBHOOKS_RETRY_MAXIMUM,
    WEBHOOKS_GIVE_UP_AFTER): read by the activity, so a changed setting applies at the next
    batch."""

    initial: timedelta = timedelta(seconds=30)
    maximum: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=3)
    attempt_timeout: timedelta = timedelta(seconds=30)
    poll_every: timedelta = timedelta(minutes=1)


class PendingDelivery(BaseModel):
    id: int  # webhook_events.id
    crn: str | None = None


class PendingDeliveries(BaseModel):
    enabled: bool  # False: the subscription is disabled or gone, the workflow ends
    deliveries: list[PendingDelivery] = []
    retry: DeliveryRetry = DeliveryRetry()


class DeliveryGivenUp(BaseModel):
    delivery_id: int
    reason: str


class OwnerNotice(BaseModel):
    """The owner to email about a disabled subscription (None when there is nobody)."""

    email: EmailRequest | None = None


class WebhookActivities:
    @activity.defn
    async def pending_webhook_deliveries(self, subscription_id: int) -> PendingDeliveries:
        """The subscription's oldest pending events, in order, and its retry settings."""
        raise NotImplementedError

    @activity.defn
    async def deliver_webhook(self, delivery_id: int) -> int:
        """POST one event, signed; returns the status code; raises (retried) otherwise."""
        raise NotImplementedError

    @activity.defn
    async def give_up_webhook(self, given_up: DeliveryGivenUp) -> OwnerNotice:
        """Mark the event failed and disable the subscription; the owner's email."""
        raise NotImplementedError


def delivery_workflow_id(task_queue: str, subscription_id: int) -> str:
    return f"{task_queue}-webhooks-{subscription_id}"


@workflow.defn(name=WORKFLOW_NAME)
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._nudged = False

    @workflow.signal(name=EVENTS_PENDING)
    def events_pending(self) -> None:
        self._nudged = True

    @workflow.run
    async def run(self, start: WebhookDeliveryStart) -> None:
        sub = start.subscription_id
        for _ in range(BATCHES_PER_RUN):
            self._nudged = False
            batch = await workflow.execute_activity_method(
                WebhookActivities.pending_webhook_deliveries, sub,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=LOOKUP_RETRY,
                summary=ClearText(f"Pending events of subscription {sub}"))
            if not batch.enabled:
                return
            if not batch.deliveries:
                await self._wait_for_events(batch.retry.poll_every)
                continue
            by_complaint: dict[str, list[PendingDelivery]] = {}
            for d in batch.deliveries:
                by_complaint.setdefault(d.crn or f"#{d.id}", []).append(d)
            given_up = await asyncio.gather(*(self._deliver_in_order(ds, batch.retry)
                                              for ds in by_complaint.values()))
            failed = [g for g in given_up if g is not None]
            if failed:
                await self._disable(failed[0])
                return
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(start)

    async def _wait_for_events(self, poll_every: timedelta) -> None:
        try:
            await workflow.wait_condition(lambda: self._nudged, timeout=poll_every,
                                          timeout_summary="look for pending events")
        except TimeoutError:
            pass

    async def _deliver_in_order(self, deliveries: list[PendingDelivery],
                                retry: DeliveryRetry) -> DeliveryGivenUp | None:
        """One complaint's events, each delivered before the next is tried."""
        for d in deliveries:
            try:
                await workflow.execute_activity_method(
                    WebhookActivities.deliver_webhook, d.id,
                    start_to_close_timeout=retry.attempt_timeout,
                    schedule_to_close_timeout=retry.give_up_after,
                    retry_policy=RetryPolicy(initial_interval=retry.initial,
                                             backoff_coefficient=2.0,
                                             maximum_interval=retry.maximum),
                    summary=ClearText(f"Deliver event {d.id}" + (f" of {d.crn}" if d.crn else "")))
            except ActivityError as err:
                return DeliveryGivenUp(
                    delivery_id=d.id, reason=f"no delivery within {retry.give_up_after}: "
                    f"{err.cause or err}"[:500])
        return None

    async def _disable(self, given_up: DeliveryGivenUp) -> None:
        notice = await workflow.execute_activity_method(
            WebhookActivities.give_up_webhook, given_up,
            start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=LOOKUP_RETRY,
            summary=ClearText(f"Disable the subscription (event {given_up.delivery_id})"))
        if notice.email is not None:
            await workflow.execute_activity_method(
                EmailActivities.send_email, notice.email,
                start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=LOOKUP_RETRY,
                summary=ClearText("Email the owner: the subscription is disabled"))
