"""Staff are told once: escalations, warnings and breaches to one person, coalesced past a
threshold into one digest per window (the policy's `[digest]`: `after` within `window`).

`StaffAlerts` is the one way in. Whatever tells a person something about a complaint (the
email activity today; a chat alert, as a durable webhook delivery, can do the same) asks it
first with `admit(...)`: the first `after` alerts of the person's window go out on their
own, the rest wait for the window's digest. Counting is in PostgreSQL (database/digests.py),
by (channel, crn, kind), so a retried activity gets the same answer, and the digest of a
window is a workflow of its own (`StaffDigestWorkflow`, workflows/digest.py) started here
for the window's first coalesced alert: a durable timer to the window's end, then one
email through the outbox, exactly once.

The digest lists only the coalesced alerts (the first `after` were each sent when they
happened) and says how many went out on their own. Each complaint's timeline still
records its own escalation at its own instant: only the email is coalesced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from database import digests
from workflows import activity_types
from workflows.digest import StaffDigestWorkflow, staff_digest_workflow_id
from workflows.messages import ClearText, EmailReceipt, EmailRequest, StaffDigestStart
from workflows.policy import DigestPolicy

# The email templates that tell a person about one complaint's deadline or escalation.
STAFF_ALERT_TEMPLATES = frozenset({"escalation", "deadline_warning"})
DIGEST_TEMPLATE = "staff_digest"


def alert_summary(req: EmailRequest) -> str:
    """One line for the digest, from what the alert's email would have said."""
    c = req.context
    if req.template == "escalation":
        line = f"escalated to level {c.get('level')} ({c.get('level_name')}): {c.get('reason')}"
        if c.get("act_by"):
            line += f"; act by {c['act_by']}"
        return line
    if req.template == "deadline_warning":
        return f"warning: {c.get('what')} due {c.get('due')}"
    return req.kind


class StaffAlerts:
    """The coalescing interface: `admit` an alert for a person, then send it only when the
    answer is not coalesced. Durable and idempotent; `channel` keeps email and chat apart."""

    def __init__(self, pool: asyncpg.Pool, client: Client, policy: DigestPolicy,
                 task_queue: str) -> None:
        self.pool, self.client, self.policy, self.task_queue = pool, client, policy, task_queue

    async def admit(self, *, channel: str, recipient: str, crn: str, kind: str, at: datetime,
                    summary: str) -> digests.Admission:
        admission = await digests.admit_alert(
            self.pool, channel=channel, recipient=recipient, crn=crn, kind=kind, at=at,
            summary=summary, after=self.policy.after, window=self.policy.window)
        if admission.coalesced:
            await self._digest_for(admission)
        return admission

    async def _digest_for(self, admission: digests.Admission) -> None:
        """The window's digest workflow, started once (the same id for every alert of the
        window; after it ended, a start is refused, and its digest already went)."""
        try:
            await self.client.start_workflow(
                StaffDigestWorkflow.run,
                StaffDigestStart(window_id=admission.window_id, closes_at=admission.closes_at),
                id=staff_digest_workflow_id(admission.window_id), task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=ClearText(f"Staff digest, window {admission.window_id}"))
        except WorkflowAlreadyStartedError:
            pass


class DigestActivities(activity_types.DigestActivities):
    def __init__(self, pool: asyncpg.Pool,
                 deliver: Callable[[EmailRequest], Awaitable[EmailReceipt]]) -> None:
        """`deliver`: the email activity's outbox (`EmailActivities.deliver`)."""
        self.pool, self.deliver = pool, deliver

    @activity.defn
    async def send_staff_digest(self, window: StaffDigestStart) -> int:
        taken = await digests.take_digest(self.pool, window.window_id)
        if not taken.alerts:
            return 0
        alerts = [{"crn": a["crn"], "at": f"{a['at']:%Y-%m-%d %H:%M:%S} UTC",
                   "summary": a["summary"]} for a in taken.alerts]
        await self.deliver(EmailRequest(
            crn=f"DIGEST-{window.window_id}", kind=DIGEST_TEMPLATE, to=[taken.recipient],
            template=DIGEST_TEMPLATE, with_body=False, context={
                "alerts": alerts, "count": len(alerts),
                "sent_on_their_own": taken.sent_on_their_own,
                "opened_at": f"{taken.opened_at:%Y-%m-%d %H:%M:%S} UTC",
                "closes_at": f"{taken.closes_at:%H:%M:%S} UTC"}))
        return len(alerts)
