"""The complaint's SLA clocks, and what each kind's warning and breach do.

Each kind of deadline registers its actions once, when the workflow wires its parts
(`deadlines.on(kind, warning=..., breach=...)`); a kind that registers none gets the SLA
default: a warning emails the owner (or, before ownership, a team lead), a breach marks the
SLA breached and hands it to the `default_breach` the workflow gives (the escalation chain).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import ClockEvent, SlaClock
    from workflows.complaint.effects import Effects
    from workflows.events import Event, Outcome, deadline_type
    from workflows.models import Deadline, Role


class Deadlines:
    def __init__(self, case: Case, effects: Effects) -> None:
        self.case = case
        self.effects = effects
        self._clocks: dict[str, SlaClock] = {}
        self._actions: dict[str, tuple[ClockEvent | None, ClockEvent | None]] = {}
        self._default_breach: ClockEvent | None = None

    # --- wiring --------------------------------------------------------------------------

    def on(self, kind: str, *, warning: ClockEvent | None = None,
           breach: ClockEvent | None = None) -> None:
        """What a warning and a breach of this kind of deadline do (None: the SLA default)."""
        self._actions[kind] = (warning, breach)

    def on_any_breach(self, breach: ClockEvent) -> None:
        """The SLA default for a breach, after it is marked: the escalation chain's."""
        self._default_breach = breach

    # --- starting and settling -----------------------------------------------------------

    def start(self, name: str, due_at: datetime, *, warn_at: datetime | None = None,
              watch: bool = True) -> SlaClock:
        """A new deadline on the record, its clock, and (`watch`) a watcher in the background."""
        what = ui.what_is_due(name, self.case.state.severity)
        d = Deadline(name=name, due_at=due_at, summary=ui.sla_summary(what, due_at),
                     warn_at=warn_at, started_at=workflow.now())
        self.case.state.deadlines.append(d)
        clock = self.clock(d)
        if watch:
            self.watch(clock)
        return clock

    def clock(self, d: Deadline) -> SlaClock:
        """The clock of a deadline on the record (a new one, or one a previous run carried)."""
        warning, breach = self._actions.get(deadline_type(d.name), (None, None))
        clock = SlaClock(d, ui.what_is_due(d.name, self.case.state.severity),
                         on_warning=self._warned(warning or self._warn_owner),
                         on_breach=self._breached(breach))
        self._clocks[d.name] = clock
        return clock

    def watch(self, clock: SlaClock) -> None:
        self.effects.spawn(clock.run(), f"the {clock.name} deadline", watcher=True)

    def get(self, name: str) -> SlaClock | None:
        return self._clocks.get(name)

    def mark_met(self, name: str, actor: str, how: str) -> None:
        clock = self._clocks.get(name)
        if clock is None or not clock.meet(workflow.now()):
            return
        late = clock.deadline.breached
        self.case.log(Event.deadline_met, actor,
                      f"{name}: {how}" + (" (after its breach)" if late else ""),
                      deadline=name, outcome=Outcome.met_late if late else Outcome.met)
        if not late:
            metrics.deadline_met(name)
        self.effects.changed()

    def supersede(self, d: Deadline, why: str) -> None:
        clock = self._clocks.get(d.name)
        if clock is not None and clock.supersede():
            self.case.log(Event.deadline_closed, SYSTEM, f"{d.name}: {why}", deadline=d.name,
                          outcome=Outcome.superseded)

    def supersede_all(self, why: str) -> None:
        for d in self.case.state.deadlines:
            self.supersede(d, why)

    # --- what a warning and a breach do ------------------------------------------------------

    def _log_clock(self, event: Event, clock: SlaClock, due: str, outcome: Outcome) -> None:
        d = clock.deadline
        self.case.log(event, SYSTEM, f"{d.name}: {clock.what} {due} {ui.clock(d.due_at)}",
                      deadline=d.name, outcome=outcome)

    def _warned(self, action: ClockEvent) -> ClockEvent:
        def warned(clock: SlaClock) -> None:
            if self.case.ended_early:  # its timer fell in the same task as the withdrawal
                return
            self._log_clock(Event.deadline_warning, clock, "due", Outcome.warned)
            action(clock)
            self.effects.changed()
        return warned

    def _breached(self, action: ClockEvent | None) -> ClockEvent:
        def breached(clock: SlaClock) -> None:
            if self.case.ended_early:  # its timer fell in the same task as the withdrawal
                return
            d = clock.deadline
            self._log_clock(Event.deadline_breached, clock, "was due", Outcome.breached)
            metrics.deadline_breached(d.name, d.due_at)
            workflow.logger.info("deadline breached: %s was due %s", d.name, ui.clock(d.due_at))
            if action is not None:
                action(clock)
            else:
                self.case.state.sla_breached = True
                assert self._default_breach is not None, "wired by the workflow"
                self._default_breach(clock)
            self.effects.changed()
        return breached

    def _warn_owner(self, clock: SlaClock) -> None:
        """The default warning at 75%: the owner (or, before ownership, a team lead) is told."""
        case, d = self.case, clock.deadline
        recipient = case.roster.get(case.state.owner or "") or case.staff_for(Role.team_lead)
        if recipient is not None:
            self.effects.email(f"warning:{d.name}", [recipient.email], "deadline_warning", {
                **case.mail_context(), "recipient_name": recipient.name, "what": clock.what,
                "due": case.local(d.due_at)})

