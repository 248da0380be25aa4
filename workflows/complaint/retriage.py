"""Re-triage: the severity (and the category) a complaint was triaged with at intake,
changed while it runs (`retriage`: the owner, a team lead or the head of customer success).

The resolution deadline is recomputed from intake (from the reopening, for a reopened
complaint) under the complaint's own policy: the
running clock is superseded and a new one started, which breaches at once (and escalates
like any breach) when the new severity's target from intake is already past. Time paused
for the customer's information stays paused. A breach already recorded stays recorded (no
new clock then; the estimate moves). The escalation triggers apply again: a move into the
severities that go to a team lead at intake (1 and 2 by default) escalates to a team lead.

Only histories with a `retriage` update take this path.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import Case
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.events import RESOLUTION, Event
    from workflows.models import ComplaintState, Retriage


def triage_of(s: ComplaintState) -> str:
    """`severity 3, billing_dispute`: what a re-triage changes, as the timeline says it."""
    return f"severity {s.severity}, {s.category.value if s.category else 'uncategorised'}"


class Retriages:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation

    def retriage(self, request: Retriage) -> None:
        """Checked already (rules.retriage)."""
        case = self.case
        s, policy = case.state, case.policy_now
        self.escalation.acted(request.actor)
        before, severity_before = triage_of(s), s.severity
        s.severity = request.severity
        if request.category is not None:
            s.category = request.category
        after = triage_of(s)
        cal, target = policy.calendar, policy.resolution.target(s.severity)
        # From intake; once reopened (reopening.py), from the reopening, as its clock started.
        start = s.reopened_at or s.received_at
        due = calendar.business_deadline(cal, start, target)
        warn = calendar.business_deadline(cal, start, target, policy.resolution.warn_at)
        current = s.deadline(ui.latest(s, RESOLUTION))
        clock = self.deadlines.get(current.name) if current is not None else None
        paused_for = current.paused_for if current is not None else None
        if paused_for:  # paused time stays paused
            due = calendar.add_business_time(cal, due, paused_for)
            warn = calendar.add_business_time(cal, warn, paused_for)
        s.estimated_resolution_at = due
        case.log(Event.retriaged, request.actor,
                 f"{before} -> {after}; resolution due {ui.clock(due)}: "
                 f"{ui.excerpt(request.reason)}",
                 reason=request.reason, before=before, after=after, deadline=RESOLUTION)
        metrics.retriaged(severity_before, s.severity)
        if current is not None and clock is not None and clock.open:
            self.deadlines.supersede(current, f"re-triaged to severity {s.severity}")
            paused_since = current.paused_since
            now = workflow.now()
            at_once = paused_since is None and due <= now
            new = self.deadlines.start(ui.next_name(s, RESOLUTION), due,
                                       warn_at=None if at_once else warn, watch=False)
            # Still paused for the customer's information: the new clock waits too.
            new.deadline.paused_since, new.deadline.paused_for = paused_since, paused_for
            self.deadlines.watch(new)
        threshold = policy.escalation.at_intake_for_severity_up_to
        if (s.severity <= threshold < severity_before) and s.escalation_level < 1:
            self.escalation.escalate(1, f"re-triaged to Severity {s.severity}", request.actor)
        self.effects.changed()
