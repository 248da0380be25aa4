"""The events a webhook subscription receives (docs/integrations.md; JSON Schema in
`schemas/webhook-event.v1.json`), and which resolution-log event each comes from.

Every event is one JSON document (version 1):

    {"id": "evt_CRN-ABCDEFGHIJ_12", "type": "complaint.escalated", "version": 1,
     "timestamp": "2026-03-02T10:00:00+00:00",
     "data": {"crn": ..., "seq": 12, "complaint": {status, phase, severity, owner,
              escalation_level}, ...what the type adds}}

`id` is the event's own, derived from the complaint's event number: the same event never
gets two ids, however often the writer is retried, and it is the `webhook-id` header of
every attempt and every redelivery. Nothing here is personal beyond ids unless the
subscription asked for the payload and its receiver is HTTPS (`personal`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from workflows.events import Event, deadline_type

VERSION = 1


class WebhookEventType(StrEnum):
    started = "complaint.started"
    acknowledged = "complaint.acknowledged"
    status_changed = "complaint.status_changed"
    deadline_warning = "deadline.warning"
    deadline_breached = "deadline.breached"
    escalated = "complaint.escalated"
    refund_requested = "refund.requested"
    refund_decided = "refund.decided"
    resolved = "complaint.resolved"
    closed = "complaint.closed"
    reopened = "complaint.reopened"
    message_received = "message.received"
    # Sent by `complaints webhooks test` only; never subscribed to, always delivered.
    test = "webhook.test"


SUBSCRIBABLE = tuple(t.value for t in WebhookEventType if t is not WebhookEventType.test)

# The resolution-log events each webhook event comes from (status_changed comes from the
# complaint's row: its status before and after a write).
FROM_TIMELINE: dict[str, WebhookEventType] = {
    Event.received: WebhookEventType.started,
    Event.acknowledged_personally: WebhookEventType.acknowledged,
    Event.deadline_warning: WebhookEventType.deadline_warning,
    Event.deadline_breached: WebhookEventType.deadline_breached,
    Event.escalated: WebhookEventType.escalated,
    Event.refund_approval_requested: WebhookEventType.refund_requested,
    Event.refund_approved: WebhookEventType.refund_decided,
    Event.refund_rejected: WebhookEventType.refund_decided,
    Event.resolved: WebhookEventType.resolved,
    Event.closed: WebhookEventType.closed,
    Event.withdrawn: WebhookEventType.closed,
    Event.dismissed: WebhookEventType.closed,
    Event.reopened: WebhookEventType.reopened,
    Event.customer_replied: WebhookEventType.message_received,
    Event.customer_agreed: WebhookEventType.message_received,
    Event.customer_disagreed: WebhookEventType.message_received,
}


def event_id(crn: str, seq: int, suffix: str = "") -> str:
    """The event's id, from the complaint and its event number (and, for a status change,
    the status it changed to): stable across retries, unique across complaints."""
    return f"evt_{crn}_{seq}" + (f"_{suffix}" if suffix else "")


def timeline_data(event: dict[str, Any]) -> dict[str, Any]:
    """What a resolution-log event adds to its webhook event's `data` (ids, names, numbers;
    no free text). `event`: the complaint_events row's fields."""
    kind = event["event"]
    data: dict[str, Any] = {"event": kind, "actor": _actor(event["actor"])}
    if event.get("deadline"):
        data["deadline"] = event["deadline"]
        data["deadline_type"] = deadline_type(event["deadline"])
    if event.get("level") is not None:
        data["level"] = event["level"]
    if event.get("outcome"):
        data["outcome"] = event["outcome"]
    if event.get("amount") is not None:
        data["amount"] = str(event["amount"])
        data["currency"] = event.get("currency")
    if kind in (Event.refund_approved, Event.refund_rejected):
        data["approved"] = kind == Event.refund_approved
    if kind in (Event.withdrawn, Event.dismissed, Event.closed):
        data["how"] = kind
    return data


def _actor(actor: str) -> str:
    """A staff id, `system`, or `customer` (the customer's own id is in `customer_id`)."""
    return "customer" if actor.startswith("customer:") else actor


def is_chat_alert(event_type: str, data: dict[str, Any]) -> bool:
    """What on-call hears in chat: every breach, an escalation to level 2, and a refund
    decision waiting past its warning."""
    if event_type == WebhookEventType.deadline_breached:
        return True
    if event_type == WebhookEventType.escalated:
        return data.get("level") == 2
    if event_type == WebhookEventType.deadline_warning:
        return data.get("deadline_type") == "refund_approval"
    return False
