"""A resolved or closed complaint taken up again (the `reopen` update).

The customer's reply within the policy's `lifecycle.reopen_within` of the resolution (by
email, or the reopen page under /c/) reopens it, and so may its owner or a team lead, until
it is archived. Reopened, it is back in its resolution phase, under investigation: the same
owner (or a new assignment when they are no longer available), a new resolution deadline
from the reopening instant (business time, the severity's target, a warning at 75%), the
customer-update clock running again, a new survey and a new RCA before it closes again; the owner and the
team lead are told. The procedure (procedure.py) stops its post-resolution part (survey
reminder, the wait for the RCA, the archive delay) and runs the resolution phase again.

After the window, or once archived, the customer's message starts a new complaint linked to
this one instead (activities/inbound.py, `ComplaintIntake.follow_up_of`).

Only complaints resolved after this code take the reopenable path (the `REOPENABLE` patch);
the rest replay, and close and archive, as they ran.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.activity_types import StoreActivities
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.events import RESOLUTION, Event
    from workflows.messages import OwnerRequest
    from workflows.models import Phase, Reopen, Role, Status
    from workflows.permissions import is_customer_actor

# The procedure's post-resolution part may be interrupted by a reopening (procedure.py).
REOPENABLE = "reopenable-after-resolution"
KEPT = "kept"  # OwnerAssignment.how when the owner is still available


class Reopening:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 customer: CustomerContact) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.customer = customer
        # Set by the procedure once it runs the reopenable post-resolution part (REOPENABLE).
        self.enabled = False

    def reopen(self, request: Reopen) -> None:
        """Checked already (rules.reopen): back to the resolution phase with new clocks."""
        case = self.case
        s, policy = case.state, case.policy_now
        now = workflow.now()
        resolved_at = s.resolved_at
        was = f"{s.phase.value} phase, {s.status.value}, {s.outcome.value if s.outcome else ''}"
        s.phase, s.status = Phase.resolution, Status.under_investigation
        s.outcome, s.resolved_at, s.closed_at = None, None, None
        # Closing again takes an RCA of what came back; the survey asks again (the earlier
        # answer stays in the timeline).
        s.rca_submitted, s.csat_score = False, None
        s.reopened_at, s.reopens = now, s.reopens + 1
        by_customer = is_customer_actor(request.actor)
        how = ("the customer wrote" if by_customer else f"by {case.name(request.actor)}")
        ref = f" (message {request.message_id})" if request.message_id else ""
        case.log(Event.reopened, request.actor,
                 f"{how} ({was.rstrip(', ')}){ref}: {ui.excerpt(request.reason)}",
                 reason=ui.excerpt(request.reason, 500))
        # A new resolution deadline from now, in business time, warned at 75%.
        target = policy.resolution.target(s.severity)
        due = calendar.business_deadline(policy.calendar, now, target)
        s.estimated_resolution_at = due
        self.deadlines.start(ui.next_name(s, RESOLUTION), due,
                             warn_at=calendar.business_deadline(policy.calendar, now, target,
                                                                policy.resolution.warn_at))
        # Silence is not acceptable again: the customer-update clock runs from now.
        clock = case.update_clock
        clock.stopped, clock.paused_with = False, None
        clock.due = now + policy.communication.customer_update_every
        self.customer.start_update_clock(running=None)
        metrics.reopened(by_customer)
        workflow.logger.info("reopened (%s): %s", s.reopens, how)
        self.effects.changed()
        self.effects.spawn(self._owner_and_news(request, how, resolved_at),
                           f"the reopening's owner ({s.reopens})")

    async def _owner_and_news(self, request: Reopen, how: str, resolved_at: datetime | None) -> None:
        """The same owner if still available, else a new assignment; then the owner and the
        team lead are told."""
        case, s = self.case, self.case.state
        n = s.reopens
        profile = case.context.profile
        assignment = await self.effects.call(
            StoreActivities.assign_owner,
            OwnerRequest(crn=s.crn, keep=s.owner, category=s.category,
                         customer_csm=profile.csm if profile else None),
            "Keep the owner of the reopened complaint, or assign a new one")
        if assignment is not None and assignment.owner.id != s.owner:
            old = s.owner
            owner = assignment.owner
            case.roster[owner.id] = owner
            s.owner = owner.id
            case.log(Event.owner_assigned, SYSTEM,
                     f"{owner.name} ({owner.id}): reopened, and {old or 'nobody'} is not "
                     f"available ({assignment.how})")
            self.effects.changed()
        owner_member = case.roster.get(s.owner or "")
        lead = case.staff_for(Role.team_lead)
        recipients = [m for m in (owner_member, lead) if m is not None]
        due = s.deadline(ui.latest(s, RESOLUTION))
        for i, member in enumerate(dict.fromkeys(m.id for m in recipients)):
            person = case.roster[member]
            self.effects.email(f"reopened:{n}:{i}", [person.email], "reopened", {
                **case.mail_context(), "recipient_name": person.name, "how": how,
                "reason": request.reason, "owner_name": case.name(s.owner),
                "resolved_on": case.local(resolved_at),
                "due": case.local(due.due_at if due else None)})

    async def unless_reopened(self, after: Coroutine[Any, Any, None]) -> bool:
        """Run the post-resolution part (`after`); True when a reopening stopped it."""
        seen = self.case.state.reopens
        task = asyncio.create_task(after)
        await workflow.wait_condition(lambda: task.done() or self.case.state.reopens != seen)
        if task.done():
            task.result()
            return False
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return True
