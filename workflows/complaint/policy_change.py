"""A new policy for an open complaint (`adopt_policy`, sent by `complaints policy apply`).

The complaint takes the new snapshot: its open deadlines are recomputed from their start
instants under it (workflows/policy_moves.py, the same function the dry run reads), time
paused for the customer's information staying paused; a deadline whose new due instant is
past breaches at once (and escalates like any breach); met and breached deadlines stay as
they were. Every clock started afterwards reads the new policy. `policy_changed` records
the versions before and after, and each deadline that moved. The same policy again changes
nothing and records nothing.

Only histories with an `adopt_policy` update take this path.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import policy_moves
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import Case
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.events import CUSTOMER_UPDATE, Event, deadline_type
    from workflows.policy import PolicyAdoption, SlaPolicy


def version_of(policy: SlaPolicy | None) -> str:
    if policy is None:
        return "(none)"
    return policy.version or policy.name


class PolicyChanges:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 customer: CustomerContact) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.customer = customer

    def adopt(self, adoption: PolicyAdoption) -> None:
        """Checked already (rules.adopt_policy); the same version twice is a no-op here too
        (two identical updates validated in one task)."""
        case = self.case
        s, old, new = case.state, case.policy, adoption.policy
        if old is not None and old.version == new.version:
            return
        now = workflow.now()
        moves = policy_moves.plan(s, old, new, now)
        case.policy = new
        s.adopted_policy_version = version_of(new)
        before, after = version_of(old), version_of(new)
        moved = "; ".join(policy_moves.describe(m) for m in moves) or "no open deadline moved"
        case.log(Event.policy_changed, adoption.actor, f"{before} -> {after}: {moved}",
                 before=before, after=after)
        self._update_clock(new)
        for move in moves:
            clock = self.deadlines.get(move.name)
            if clock is None:
                continue
            clock.move(move.due_after, move.warn_after)
            if (deadline_type(move.name) == CUSTOMER_UPDATE
                    and move.name == ui.latest(s, CUSTOMER_UPDATE)):
                case.update_clock.due = move.due_after
        metrics.policy_changed()
        self.effects.changed()

    def _update_clock(self, new: SlaPolicy) -> None:
        """The customer-update clock's period under the new policy: a paused clock keeps
        what it had left, give or take the difference of the periods."""
        clock = self.customer.update_clock
        if clock is None:
            return
        every = new.communication.customer_update_every
        state = self.case.update_clock
        if state.paused_with is not None:
            state.paused_with = max(state.paused_with + (every - clock.every),
                                    every * 0)
        clock.every, clock.warn_fraction = every, new.communication.warn_at
