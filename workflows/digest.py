"""StaffDigestWorkflow: one person's digest of one window of staff alerts (escalations,
warnings, breaches), sent once at the window's end.

The email activity starts it (activities/digest.py) when a recipient's alert is past the
policy's `[digest] after` within the window; its id names the window, so every later alert
of the window finds the same workflow. It holds nothing but the window's end: PostgreSQL
has the list, which the digest activity reads when it closes the window to newcomers.
A worker down at the window's end sends it when it is back (a durable timer).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.activity_types import DigestActivities
    from workflows.messages import ClearText, StaffDigestStart

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=1))


def staff_digest_workflow_id(window_id: int) -> str:
    return f"staff-digest-{window_id}"


@workflow.defn(name="StaffDigestWorkflow")
class StaffDigestWorkflow:
    @workflow.run
    async def run(self, window: StaffDigestStart) -> int:
        left = window.closes_at - workflow.now()
        if left > timedelta(0):
            await workflow.sleep(left, summary=ClearText(
                f"Digest due {window.closes_at:%H:%M:%S} UTC"))
        return await workflow.execute_activity_method(
            DigestActivities.send_staff_digest, window,
            start_to_close_timeout=timedelta(seconds=60), retry_policy=RETRY,
            summary=ClearText(f"Email the digest of window {window.window_id}"))
