"""Webhook subscriptions, their outbox and the delivery log (migration 0022;
docs/integrations.md). The complaint's single writer queues events here in its own
transaction (`queue_events`); the delivery workflow's activities read and record through
these functions; the CLI, the API and the console manage subscriptions through them.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any

import asyncpg

from workflows.chat import CHAT_KINDS, ChatAlert, chat_message
from workflows.events import LEVEL_NAMES
from workflows.webhook_events import (
    FROM_TIMELINE,
    SUBSCRIBABLE,
    VERSION,
    WebhookEventType,
    event_id,
    is_chat_alert,
    timeline_data,
)

_SUBSCRIPTION = """id, kind, url, events, include_payload, enabled, owner, description,
                   created_at, disabled_at, disabled_reason"""


class SubscriptionRefused(ValueError):
    """A subscription that cannot be made as asked; the message says why."""


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown:
        raise SubscriptionRefused(f"unknown event type(s) {', '.join(unknown)}; known: "
                                  f"{', '.join(SUBSCRIBABLE)}")
    if not events:
        raise SubscriptionRefused("name at least one event type (or all of them)")
    return [e for e in SUBSCRIBABLE if e in events]  # in the documented order, once each


async def add_subscription(pool: asyncpg.Pool, url: str, events: list[str], owner: str | None,
                           include_payload: bool = False, description: str = "",
                           secret: str | None = None) -> dict[str, Any]:
    """A new receiver of `events` (the URL checked by the caller: webhook_targets). Returns
    the row with its secret, which is shown this once."""
    events = check_events(events)
    if include_payload and not url.startswith("https://"):
        raise SubscriptionRefused("personal data (--include-payload) goes to https:// "
                                  "receivers only")
    async with pool.acquire() as conn:
        if owner is not None and not await conn.fetchval(
                "SELECT true FROM staff WHERE id = $1", owner):
            raise SubscriptionRefused(f"{owner!r} is not on the roster")
        row = await conn.fetchrow(
            f"""INSERT INTO webhook_subscriptions (url, events, secret, include_payload, owner,
                                                   description)
                VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_SUBSCRIPTION}, secret""",  # nosec B608 # column list from a constant
            url, events, secret or new_secret(), include_payload, owner, description)
    return dict(row)


async def list_subscriptions(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Every subscription with its backlog and last attempt; never the secret."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT {_SUBSCRIPTION.replace('id,', 's.id,', 1)},
                       (SELECT count(*) FROM webhook_events e
                         WHERE e.subscription_id = s.id AND e.status = 'pending') AS pending,
                       (SELECT max(a.at) FROM webhook_attempts a JOIN webhook_events e
                            ON e.id = a.webhook_event WHERE e.subscription_id = s.id)
                           AS last_attempt_at
                FROM webhook_subscriptions s ORDER BY s.id""")  # nosec B608 # column list from a constant
    return [dict(r) for r in rows]


async def get_subscription(pool: asyncpg.Pool, subscription_id: int) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_SUBSCRIPTION}, secret FROM webhook_subscriptions WHERE id = $1",  # nosec B608 # column list from a constant
            subscription_id)
    return dict(row) if row else None


async def remove_subscription(pool: asyncpg.Pool, subscription_id: int) -> bool:
    """Delete it with its outbox and log; its delivery workflow ends at its next look."""
    async with pool.acquire() as conn:
        return await conn.execute(
            "DELETE FROM webhook_subscriptions WHERE id = $1", subscription_id) == "DELETE 1"


async def enable_subscription(pool: asyncpg.Pool, subscription_id: int) -> bool:
    """Turn a disabled subscription back on; its pending events go out again."""
    async with pool.acquire() as conn:
        return await conn.execute(
            """UPDATE webhook_subscriptions SET enabled = true, disabled_at = NULL,
                   disabled_reason = NULL WHERE id = $1""", subscription_id) == "UPDATE 1"


async def keep_chat_subscription(pool: asyncpg.Pool, kind: str, url: str | None) -> int | None:
    """The Slack or Teams channel as SLACK_WEBHOOK_URL / TEAMS_WEBHOOK_URL says: kept (its
    URL brought up to date) when set, disabled when not. Returns its id when enabled."""
    assert kind in CHAT_KINDS
    async with pool.acquire() as conn:
        if not url:
            await conn.execute(
                """UPDATE webhook_subscriptions SET enabled = false, disabled_at = now(),
                       disabled_reason = 'setting removed' WHERE kind = $1 AND enabled""", kind)
            return None
        return await conn.fetchval(
            """INSERT INTO webhook_subscriptions (kind, url, secret, description)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (kind) WHERE kind <> 'webhook' DO UPDATE
                   SET url = EXCLUDED.url, enabled = true, disabled_at = NULL,
                       disabled_reason = NULL
               RETURNING id""", kind, url, new_secret(), f"{kind} alerts (from the settings)")


# --- the outbox: written by the complaint's single writer --------------------------------------

async def queue_events(conn: asyncpg.Connection, crn: str, events: list[dict[str, Any]],
                       status_before: str | None, console_url: str) -> list[int]:
    """Inside the writer's transaction, after the row and the events are written: one outbox
    row per event per subscription that wants it. `events`: the new resolution-log events
    (complaint_events' fields); `status_before`: the row's status before this write (None:
    the row is new). Returns the subscriptions that were queued something (to wake them)."""
    subscriptions = await conn.fetch(
        "SELECT id, kind, url, events, include_payload FROM webhook_subscriptions WHERE enabled")
    if not subscriptions:
        return []
    row = await conn.fetchrow(
        """SELECT c.status, c.phase, c.severity, c.owner, c.escalation_level, c.customer_id,
                  c.customer_name, c.customer_email, c.subject, s.name AS owner_name
           FROM complaints c LEFT JOIN staff s ON s.id = c.owner WHERE c.crn = $1""", crn)
    complaint = {"status": row["status"], "phase": row["phase"], "severity": row["severity"],
                 "owner": row["owner"], "escalation_level": row["escalation_level"]}
    documents: list[tuple[WebhookEventType, str, datetime, dict[str, Any], str]] = []
    for e in events:
        kind = FROM_TIMELINE.get(e["event"])
        if kind is None:
            continue
        documents.append((kind, event_id(crn, e["seq"]), e["at"],
                          {"seq": e["seq"], **timeline_data(e)}, e.get("detail") or ""))
    if status_before is not None and status_before != row["status"]:
        seq = events[-1]["seq"] if events else await conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM complaint_events WHERE crn = $1", crn)
        at = events[-1]["at"] if events else await conn.fetchval("SELECT now()")
        documents.append((WebhookEventType.status_changed,
                          event_id(crn, seq, f"status_{row['status']}"), at,
                          {"seq": seq, "from": status_before, "to": row["status"]}, ""))
    queued: list[tuple[Any, ...]] = []
    alerts: dict[int, tuple[str, list[tuple[str, str, datetime, ChatAlert]]]] = {}
    for kind, eid, at, data, detail in documents:
        base = {"crn": crn, "customer_id": row["customer_id"], "complaint": complaint, **data}
        for sub in subscriptions:
            if sub["kind"] in CHAT_KINDS:
                if is_chat_alert(kind, data):
                    alerts.setdefault(sub["id"], (sub["kind"], []))[1].append(
                        (eid, kind.value, at, _alert(crn, kind, data, at, row, console_url)))
                continue
            if kind in sub["events"]:
                doc_data = dict(base)
                if sub["include_payload"] and sub["url"].startswith("https://"):
                    doc_data["personal"] = {"customer_name": row["customer_name"],
                                            "customer_email": row["customer_email"],
                                            "subject": row["subject"], "detail": detail}
                body = {"id": eid, "type": kind.value, "version": VERSION,
                        "timestamp": at.isoformat(), "data": doc_data}
            else:
                continue
            queued.append((sub["id"], eid, kind.value, crn, at,
                           json.dumps(body, separators=(",", ":"), default=str)))
    for sub_id, (chat_kind, pending) in alerts.items():
        queued += chat_rows(sub_id, chat_kind, crn, pending)
    if queued:
        await conn.executemany(
            """INSERT INTO webhook_events (subscription_id, event_id, event_type, crn,
                                           occurred_at, body)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (subscription_id, event_id) DO NOTHING""", queued)
    return sorted({q[0] for q in queued})


def chat_rows(subscription_id: int, kind: str, crn: str | None,
              alerts: list[tuple[str, str, datetime, ChatAlert]]) -> list[tuple[Any, ...]]:
    """The outbox rows a chat channel is owed for `alerts` (each: its event id and type,
    when, the alert): the one place alerts become chat messages, one message per alert.
    Coalescing several into one message (a digest) is `chat_message` with the list, under
    one id."""
    return [(subscription_id, eid, event_type, crn, at,
             json.dumps(chat_message(kind, [alert]), separators=(",", ":")))
            for eid, event_type, at, alert in alerts]


def _alert(crn: str, kind: WebhookEventType, data: dict[str, Any], at: datetime,
           row: asyncpg.Record, console_url: str) -> ChatAlert:
    deadline = data.get("deadline")
    words = (deadline or "").replace("_", " ")
    if kind == WebhookEventType.deadline_breached:
        headline, due = f"Deadline breached: {words}", at
    elif kind == WebhookEventType.escalated:
        level = data.get("level") or 2
        headline, due = f"Escalated to level {level} ({LEVEL_NAMES.get(level, '?')})", None
    else:
        headline, due = f"Refund decision waiting past its warning: {words}", None
    return ChatAlert(crn=crn, headline=headline, deadline=deadline,
                     due=f"{due:%Y-%m-%d %H:%M} UTC" if due else None,
                     owner=row["owner_name"] or row["owner"] or "unassigned",
                     link=f"{console_url}/complaints/{crn}")


async def queue_test_event(pool: asyncpg.Pool, subscription_id: int, at: datetime) -> str | None:
    """A `webhook.test` event for one subscription (None: no such subscription)."""
    eid = f"evt_test_{secrets.token_hex(8)}"
    body = json.dumps({"id": eid, "type": WebhookEventType.test.value, "version": VERSION,
                       "timestamp": at.isoformat(), "data": {"subscription": subscription_id}},
                      separators=(",", ":"))
    async with pool.acquire() as conn:
        kind = await conn.fetchval("SELECT kind FROM webhook_subscriptions WHERE id = $1",
                                   subscription_id)
        if kind is None:
            return None
        if kind in CHAT_KINDS:
            body = json.dumps(chat_message(kind, [ChatAlert(
                crn="CRN-TEST", headline="Test alert from complaint workflows",
                owner="nobody", link="about:blank")]))
        await conn.execute(
            """INSERT INTO webhook_events (subscription_id, event_id, event_type, occurred_at,
                                           body) VALUES ($1, $2, $3, $4, $5)""",
            subscription_id, eid, WebhookEventType.test.value, at, body)
    return eid


# --- delivery: read and recorded by the delivery workflow's activities --------------------------

async def pending_events(pool: asyncpg.Pool, subscription_id: int,
                         limit: int = 50) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the subscription is (still) enabled, and its oldest pending events in order."""
    async with pool.acquire() as conn:
        enabled = await conn.fetchval(
            "SELECT enabled FROM webhook_subscriptions WHERE id = $1", subscription_id)
        if not enabled:
            return False, []
        rows = await conn.fetch(
            """SELECT id, crn, event_id FROM webhook_events
               WHERE subscription_id = $1 AND status = 'pending' ORDER BY id LIMIT $2""",
            subscription_id, limit)
    return True, [dict(r) for r in rows]


async def delivery_target(pool: asyncpg.Pool, delivery_id: int) -> dict[str, Any] | None:
    """What one delivery sends, where, signed with which secret (None: gone)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT e.id, e.event_id, e.body, e.status, e.attempts, s.url, s.secret, s.kind,
                      s.enabled
               FROM webhook_events e JOIN webhook_subscriptions s ON s.id = e.subscription_id
               WHERE e.id = $1""", delivery_id)
    return dict(row) if row else None


async def record_attempt(pool: asyncpg.Pool, delivery_id: int, *, status_code: int | None,
                         latency_ms: int | None, error: str | None,
                         next_retry_at: datetime | None, delivered: bool) -> int:
    """One attempt in the delivery log; the event delivered when it succeeded. Returns its
    attempt number (counted over every attempt, redeliveries too)."""
    async with pool.acquire() as conn, conn.transaction():
        attempt = await conn.fetchval(
            """UPDATE webhook_events SET attempts = attempts + 1,
                   status = CASE WHEN $2 THEN 'delivered' ELSE status END,
                   delivered_at = CASE WHEN $2 THEN now() ELSE delivered_at END
               WHERE id = $1 RETURNING attempts""", delivery_id, delivered)
        if attempt is None:
            return 0
        await conn.execute(
            """INSERT INTO webhook_attempts (webhook_event, attempt, status_code, latency_ms,
                                             error, next_retry_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            delivery_id, attempt, status_code, latency_ms,
            error[:500] if error else None, None if delivered else next_retry_at)
    return int(attempt)


async def give_up(pool: asyncpg.Pool, delivery_id: int, reason: str) -> dict[str, Any] | None:
    """Retries ran out: the event is failed and its subscription disabled. Returns the
    subscription (with its owner's name and email) the first time; None after."""
    async with pool.acquire() as conn, conn.transaction():
        sub_id = await conn.fetchval(
            """UPDATE webhook_events SET status = 'failed' WHERE id = $1 AND status = 'pending'
               RETURNING subscription_id""", delivery_id)
        if sub_id is None:
            return None
        row = await conn.fetchrow(
            """UPDATE webhook_subscriptions SET enabled = false, disabled_at = now(),
                   disabled_reason = $2 WHERE id = $1 AND enabled
               RETURNING id, url, kind, owner""", sub_id, reason)
        if row is None:
            return None
        owner = await conn.fetchrow("SELECT name, email FROM staff WHERE id = $1", row["owner"])
    return {**dict(row), "owner_name": owner["name"] if owner else None,
            "owner_email": owner["email"] if owner else None}


async def list_deliveries(pool: asyncpg.Pool, subscription_id: int | None = None,
                          limit: int = 100) -> list[dict[str, Any]]:
    """The delivery log, newest first: each event with its latest attempt."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT e.id, e.subscription_id, e.event_id, e.event_type, e.crn, e.status,
                      e.attempts, e.created_at, e.delivered_at,
                      a.at AS last_attempt_at, a.status_code, a.latency_ms, a.error,
                      a.next_retry_at
               FROM webhook_events e
               LEFT JOIN LATERAL (SELECT * FROM webhook_attempts
                                   WHERE webhook_event = e.id ORDER BY attempt DESC LIMIT 1) a
                      ON true
               WHERE $1::bigint IS NULL OR e.subscription_id = $1
               ORDER BY e.id DESC LIMIT $2""", subscription_id, limit)
    return [dict(r) for r in rows]


async def list_attempts(pool: asyncpg.Pool, delivery_id: int) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT attempt, at, status_code, latency_ms, error, next_retry_at
               FROM webhook_attempts WHERE webhook_event = $1 ORDER BY attempt""", delivery_id)
    return [dict(r) for r in rows]


async def redeliver(pool: asyncpg.Pool, *, delivery_id: int | None = None,
                    subscription_id: int | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> list[int]:
    """Send again: one delivery, or a subscription's deliveries queued in [since, until).
    They keep their event ids (receivers deduplicate on `webhook-id`) and go out in their
    first order. Returns the subscriptions to wake."""
    if delivery_id is None and (subscription_id is None or since is None):
        raise SubscriptionRefused("name a delivery, or a subscription and --since")
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """UPDATE webhook_events SET status = 'pending', delivered_at = NULL
               WHERE ($1::bigint IS NULL OR id = $1)
                 AND ($2::bigint IS NULL OR subscription_id = $2)
                 AND ($3::timestamptz IS NULL OR created_at >= $3)
                 AND ($4::timestamptz IS NULL OR created_at < $4)
                 AND status <> 'pending'
               RETURNING subscription_id""", delivery_id, subscription_id, since, until)
    return sorted({r["subscription_id"] for r in rows})


async def subscriptions_to_deliver(pool: asyncpg.Pool) -> list[int]:
    """Enabled subscriptions (each has a delivery workflow while it is enabled)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id FROM webhook_subscriptions WHERE enabled ORDER BY id")
    return [r["id"] for r in rows]


