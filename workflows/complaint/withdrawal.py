"""Withdrawn at the customer's request (issue 16): the complaint ends wherever it is.

The `withdraw` update (workflow.py) closes it at once: every deadline still open is
superseded (its timer cancelled), the customer-update clock stops, a refund awaiting the
Finance Manager is withdrawn, and nothing more is emailed to anyone (`_email` holds back
once the complaint is withdrawn). Then `run` stops the procedure where it waits, lets the
work in hand finish (an email or a credit already on its way, the last write of the row)
and completes, so the customer's data can be erased.

Only histories with a `withdraw` update take these paths; every other complaint replays
as it ran.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import presentation as ui
    from workflows.complaint.procedure import ComplaintProcedure
    from workflows.events import Event
    from workflows.models import ComplaintOutcome, Phase, Status, Withdrawal

WITHDRAWN = "withdrawn at the customer's request"


class WithdrawalPath(ComplaintProcedure):
    def _withdraw(self, withdrawal: Withdrawal) -> None:
        """Closed, withdrawn, every clock cancelled; checked already (rules.withdraw)."""
        s = self.state
        if s.phase == Phase.closed:
            self._withdraw_after_closing(withdrawal)
            return
        was = f"{s.phase.value} phase, {s.status.value}"
        s.outcome = ComplaintOutcome.withdrawn
        s.phase, s.status, s.closed_at = Phase.closed, Status.closed, workflow.now()
        by = f"; recorded by {withdrawal.recorded_by}" if withdrawal.recorded_by else ""
        self._log(Event.withdrawn, withdrawal.actor,
                  f"{WITHDRAWN} ({was}): {ui.excerpt(withdrawal.reason)}{by}",
                  reason=withdrawal.reason, outcome=ComplaintOutcome.withdrawn.value)
        for d in s.deadlines:
            self._supersede(d, WITHDRAWN)
        if self.update_clock is not None:
            self.update_clock.stop()
        if s.refund.status == "pending_approval":
            s.refund.status = "withdrawn"
        workflow.logger.info("withdrawn at the customer's request in the %s", was)
        self._changed()

    def _withdraw_after_closing(self, withdrawal: Withdrawal) -> None:
        """Resolved and reviewed already, so it stays so (its outcome, its counts); what is
        left of its life ends now: no survey reminder, no more email, archived at once, so
        that its run ends (and an erasure can follow)."""
        self._archive_requested = True
        by = f"; recorded by {withdrawal.recorded_by}" if withdrawal.recorded_by else ""
        self._log(Event.archive_requested, withdrawal.actor,
                  f"{WITHDRAWN} after it closed: no survey reminder, archived now: "
                  f"{ui.excerpt(withdrawal.reason)}{by}", reason=withdrawal.reason)
        workflow.logger.info("withdrawn after closing: archived now")
        self._changed()

    async def _end_withdrawn(self, procedure: asyncio.Task[Any]) -> None:
        """The run's end after a withdrawal: the procedure stops where it waits (a phase's
        wait, or the owner's assignment in flight), the background work in hand finishes,
        the last write lands."""
        procedure.cancel()
        assert self._writer is not None
        ending = asyncio.create_task(self._finish(self._writer))
        await workflow.wait_condition(lambda: ending.done() or self._failure is not None)
        self._raise_background_failure()
        ending.result()
