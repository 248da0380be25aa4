"""A clock for every hand-off: the work a complaint hands to another team has a deadline
owned by that team (the policy's [handoffs]).

- `rnd_fix` (team rnd): the technical fix, from the customer's agreement to it, met when
  the fix is recorded as deployed;
- `kb_article` (team qa): the knowledge base article, from the RCA that asks for it, met
  when the article is recorded;
- the finance decision keeps its own clock (`refund_approval`, money.py); it too counts
  against its team (finance) in the reports.

Each is a durable timer with its summary, in business time. At `warn_at` (75%) the team
it is handed to is reminded; at its breach the team's own lead is told (a team lead with
that `team` on the roster) and the breach counts against that team in the reports
("breaches by team", workflows/events.py `team_of`), never against the complaint's owner:
the complaint's SLA is not marked breached and its escalation chain does not move.

Only complaints that hand work over after this code start these clocks (the
`handoff-clocks` patch); the rest replay as they ran.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import SlaClock
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.events import HANDOFF_TEAMS, KB_ARTICLE, RND_FIX, Event, deadline_type
    from workflows.models import Role

HANDOFF_CLOCKS = "handoff-clocks"
TEAM_NAMES = {"rnd": "R&D", "qa": "QA", "finance": "Finance"}


class Handoffs:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        for kind in (RND_FIX, KB_ARTICLE):
            deadlines.on(kind, warning=self._remind, breach=self._overdue)

    def start(self, kind: str) -> None:
        """The team's deadline from now (`kind`: RND_FIX or KB_ARTICLE)."""
        if not workflow.patched(HANDOFF_CLOCKS):
            return
        case = self.case
        cal, handoffs = case.policy_now.calendar, case.policy_now.handoffs
        within = getattr(handoffs, kind)
        now = workflow.now()
        self.deadlines.start(
            ui.next_name(case.state, kind), calendar.business_deadline(cal, now, within),
            warn_at=calendar.business_deadline(cal, now, within, handoffs.warn_at))

    def done(self, kind: str, actor: str, how: str) -> None:
        """The hand-off is done: its open deadline is met (nothing, if it has none)."""
        self.deadlines.mark_met(ui.latest(self.case.state, kind), actor, how)

    def _team(self, clock: SlaClock) -> str:
        return HANDOFF_TEAMS[deadline_type(clock.name)]

    def _remind(self, clock: SlaClock) -> None:
        """75% gone: the team it is handed to is reminded (its members, not its lead)."""
        case, d = self.case, clock.deadline
        to = [m.email for m in case.team(self._team(clock)) if m.role != Role.team_lead]
        if to:
            self.effects.email(f"handoff_reminder:{d.name}", to, "handoff_reminder", {
                **case.mail_context(), "recipient_name": f"{TEAM_NAMES[self._team(clock)]} team",
                "what": clock.what, "due": case.local(d.due_at)})

    def _overdue(self, clock: SlaClock) -> None:
        """Breached: the team's lead is told; the complaint's owner and its SLA are not
        charged with it (no escalation, `sla_breached` untouched)."""
        case, d = self.case, clock.deadline
        team = self._team(clock)
        lead = case.staff_for(Role.team_lead, team=team)
        to = f"{lead.name} ({lead.id})" if lead else "nobody (no team lead on the roster)"
        case.log(Event.handoff_overdue, SYSTEM,
                 f"{d.name}: {clock.what} was due {ui.clock(d.due_at)}; the "
                 f"{TEAM_NAMES[team]} lead told: {to}", deadline=d.name, reason=team)
        if lead is not None:
            self.effects.email(f"handoff_overdue:{d.name}", [lead.email], "handoff_overdue", {
                **case.mail_context(), "recipient_name": lead.name,
                "team": TEAM_NAMES[team], "what": clock.what, "due": case.local(d.due_at),
                "owner_name": case.name(case.state.owner)})
