"""Waking a subscription's delivery workflow (workflows/webhooks.py): signal-with-start, so
it starts if it is not running and is told there is work if it is. The worker's writer
calls it after queueing events, the CLI, the API and the console after adding a
subscription, sending a test or asking for a redelivery."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from workflows.webhooks import (
    EVENTS_PENDING,
    WebhookDeliveryStart,
    WebhookDeliveryWorkflow,
    delivery_workflow_id,
)


async def wake_deliveries(client: Client, task_queue: str, subscription_ids: list[int]) -> None:
    for sid in subscription_ids:
        await client.start_workflow(
            WebhookDeliveryWorkflow.run, WebhookDeliveryStart(subscription_id=sid),
            id=delivery_workflow_id(task_queue, sid), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=EVENTS_PENDING,
            static_summary=f"Webhook deliveries of subscription {sid}")
