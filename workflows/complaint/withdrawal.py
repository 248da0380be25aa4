"""Withdrawn at the customer's request, or dismissed as not a complaint: the complaint
ends wherever it is.

The `withdraw` update closes it at once: every deadline still open is superseded (its timer
cancelled), the customer-update clock stops, a refund awaiting the Finance Manager is
withdrawn, and nothing more is emailed to anyone (`Effects.email` holds back once the
complaint is withdrawn). Then `end` stops the procedure where it waits, lets the work in
hand finish (an email or a credit already on its way, the last write of the row) and the
run completes, so the customer's data can be erased.

A dismissal (spam, a misrouted enquiry, a duplicate) ends it the same way before its
resolution, with `outcome` dismissed; nothing is sent to the sender, except the polite note
a `not_a_complaint` dismissal may ask for.

Only histories with a `withdraw` or `dismiss` update take these paths; every other
complaint replays as it ran.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import Case
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.money import Money
    from workflows.events import Event
    from workflows.models import (
        ComplaintOutcome,
        Dismissal,
        DismissalReason,
        Phase,
        Status,
        Withdrawal,
    )

WITHDRAWN = "withdrawn at the customer's request"


class Withdrawals:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 customer: CustomerContact, money: Money) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.customer = customer
        self.money = money

    def withdraw(self, withdrawal: Withdrawal) -> None:
        """Closed, withdrawn, every clock cancelled; checked already (rules.withdraw)."""
        case = self.case
        s = case.state
        if s.phase == Phase.closed:
            self._withdraw_after_closing(withdrawal)
            return
        was = f"{s.phase.value} phase, {s.status.value}"
        s.outcome = ComplaintOutcome.withdrawn
        s.phase, s.status, s.closed_at = Phase.closed, Status.closed, workflow.now()
        by = f"; recorded by {withdrawal.recorded_by}" if withdrawal.recorded_by else ""
        case.log(Event.withdrawn, withdrawal.actor,
                 f"{WITHDRAWN} ({was}): {ui.excerpt(withdrawal.reason)}{by}",
                 reason=withdrawal.reason, outcome=ComplaintOutcome.withdrawn.value)
        self.deadlines.supersede_all(WITHDRAWN)
        self.customer.stop_update_clock()
        self.money.withdraw_pending()
        workflow.logger.info("withdrawn at the customer's request in the %s", was)
        self.effects.changed()

    def dismiss(self, dismissal: Dismissal) -> None:
        """Not a complaint: closed at once, dismissed, every clock cancelled (one not yet
        due, such as the acknowledgement in the first hour, never breaches). Checked already
        (rules.dismiss)."""
        case = self.case
        s = case.state
        was = f"{s.phase.value} phase, {s.status.value}"
        to = case.customer_email()
        if (dismissal.reason == DismissalReason.not_a_complaint and dismissal.send_note
                and to is not None):  # queued before the dismissal, which stops all mail
            self.effects.email("not_a_complaint", [to], "not_a_complaint",
                               case.mail_context())
        s.outcome, s.duplicate_of = ComplaintOutcome.dismissed, dismissal.duplicate_of
        s.phase, s.status, s.closed_at = Phase.closed, Status.closed, workflow.now()
        of = f" of {dismissal.duplicate_of}" if dismissal.duplicate_of else ""
        note = f": {ui.excerpt(dismissal.note)}" if dismissal.note else ""
        case.log(Event.dismissed, dismissal.actor,
                 f"{dismissal.reason.value.replace('_', ' ')}{of} ({was}){note}",
                 reason=dismissal.reason.value, outcome=ComplaintOutcome.dismissed.value)
        self.deadlines.supersede_all("dismissed: not a complaint")
        self.customer.stop_update_clock()
        self.money.withdraw_pending()
        workflow.logger.info("dismissed (%s) in the %s", dismissal.reason.value, was)
        self.effects.changed()

    def _withdraw_after_closing(self, withdrawal: Withdrawal) -> None:
        """Resolved and reviewed already, so it stays so (its outcome, its counts); what is
        left of its life ends now: no survey reminder, no more email, archived at once, so
        that its run ends (and an erasure can follow)."""
        case = self.case
        case.archive_requested = True
        by = f"; recorded by {withdrawal.recorded_by}" if withdrawal.recorded_by else ""
        case.log(Event.archive_requested, withdrawal.actor,
                 f"{WITHDRAWN} after it closed: no survey reminder, archived now: "
                 f"{ui.excerpt(withdrawal.reason)}{by}", reason=withdrawal.reason)
        workflow.logger.info("withdrawn after closing: archived now")
        self.effects.changed()

    async def end(self, procedure: asyncio.Task[Any]) -> None:
        """The run's end after a withdrawal: the procedure stops where it waits (a phase's
        wait, or the owner's assignment in flight), the background work in hand finishes,
        the last write lands."""
        procedure.cancel()
        ending = asyncio.create_task(self.effects.finish())
        await workflow.wait_condition(lambda: ending.done() or self.effects.failure is not None)
        self.effects.raise_background_failure()
        ending.result()
