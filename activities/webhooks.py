"""The webhook delivery workflow's activities (workflows/webhooks.py): read the outbox, post
one event per attempt signed as the Standard Webhooks specification says, record every
attempt in the delivery log, and disable a subscription whose retries ran out.

Each attempt re-checks the receiver's address (database/webhook_targets.py), connects to
the address it checked (the name only in `Host` and TLS's server name), and follows no
redirect, so a name pointed at an internal service later, or a 30x to one, reaches nothing.
Delivery is at least once: a worker that dies after the receiver answered but before the log
says so sends the event again, with the same `webhook-id`, which receivers deduplicate on.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from standardwebhooks import Webhook
from temporalio import activity

from database import webhooks as outbox
from database.webhook_targets import TargetRefused, check_target
from workflows.messages import EmailRequest
from workflows.webhooks import (
    DeliveryGivenUp,
    DeliveryRetry,
    OwnerNotice,
    PendingDeliveries,
    PendingDelivery,
)
from workflows.webhooks import WebhookActivities as WebhookActivityTypes

USER_AGENT = "complaint-workflows-webhooks/1"
REQUEST_TIMEOUT = 10.0


class DeliveryFailed(Exception):
    """The receiver did not take the event; Temporal tries again after the backoff."""


class WebhookActivities(WebhookActivityTypes):
    def __init__(self, pool: asyncpg.Pool, retry: DeliveryRetry, allow_private: str = "off",
                 client: httpx.AsyncClient | None = None) -> None:
        self.pool = pool
        self.retry = retry
        self.allow_private = allow_private
        # No connection is kept for another request: requests go to pinned addresses, and a
        # kept TLS connection verified for one name must never carry another name's request.
        self.client = client or httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT, follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0))

    @activity.defn
    async def pending_webhook_deliveries(self, subscription_id: int) -> PendingDeliveries:
        enabled, rows = await outbox.pending_events(self.pool, subscription_id)
        return PendingDeliveries(enabled=enabled, retry=self.retry,
                                 deliveries=[PendingDelivery(id=r["id"], crn=r["crn"])
                                             for r in rows])

    @activity.defn
    async def deliver_webhook(self, delivery_id: int) -> int:
        target = await outbox.delivery_target(self.pool, delivery_id)
        if target is None or target["status"] != "pending":
            return 0  # removed, or delivered by an attempt whose answer was lost
        if not target["enabled"]:
            return -1  # disabled meanwhile: pending until it is enabled again
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            addresses = await check_target(target["url"], self.allow_private)
            url, pinned = pinned_request(target["url"], addresses[0])
            now = datetime.now(UTC)
            body = target["body"].encode()
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": target["event_id"],
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": Webhook(target["secret"]).sign(
                    target["event_id"], now, body),
            }
            response = await self.client.post(url, content=body, headers=headers | pinned[0],
                                              extensions=pinned[1])
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except TargetRefused as err:
            error = f"refused: {err}"
        except httpx.HTTPError as err:
            error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        latency = int((time.monotonic() - started) * 1000)
        delivered = error is None
        await outbox.record_attempt(
            self.pool, delivery_id, status_code=status, latency_ms=latency, error=error,
            next_retry_at=None if delivered else self._next_retry(), delivered=delivered)
        if not delivered:
            raise DeliveryFailed(error)
        return status or 0

    def _next_retry(self) -> datetime:
        """When Temporal tries this activity again (its retry policy: doubling from the
        initial interval up to the maximum)."""
        attempt = activity.info().attempt
        wait = min(self.retry.initial * (2 ** (attempt - 1)), self.retry.maximum)
        return datetime.now(UTC) + wait

    @activity.defn
    async def give_up_webhook(self, given_up: DeliveryGivenUp) -> OwnerNotice:
        sub = await outbox.give_up(self.pool, given_up.delivery_id, given_up.reason)
        if sub is None or not sub["owner_email"]:
            return OwnerNotice()
        return OwnerNotice(email=EmailRequest(
            crn=f"webhook-{sub['id']}", kind=f"webhook_disabled:{given_up.delivery_id}",
            to=[sub["owner_email"]], template="webhook_disabled", with_body=False,
            context={"owner_name": sub["owner_name"], "subscription": sub["id"],
                     "url": sub["url"], "reason": given_up.reason,
                     "days": _days(self.retry.give_up_after)}))


def pinned_request(url: str, address: str) -> tuple[str, tuple[dict[str, str], dict[str, str]]]:
    """The request aimed at the address just checked, not at whatever the name resolves to
    a moment later (DNS rebinding): the URL with the address for its host, the `Host` header
    with the name, and for https the name as TLS's server name (SNI and the certificate's
    check)."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = host + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return (urlunsplit(parts._replace(netloc=netloc)),
            ({"host": parts.netloc.rpartition("@")[2]}, extensions))


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    return f"{days:g} day{'' if days == 1 else 's'}"
