"""The escalation chain: owner -> team lead (level 1) -> head of customer success (level 2).

An escalation raises the level (never lowers it), tells the person at that level, and
gives them a deadline to act; nobody acting moves it one level up. A team lead's or the
head's action on the complaint answers their escalation.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import ClockEvent, SlaClock
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.events import ESCALATION, LEVEL_NAMES, Event, deadline_type
    from workflows.models import ComplaintIntake, ComplaintState, Role
    from workflows.permissions import is_customer_actor
    from workflows.policy import SlaPolicy
    from workflows.records import ComplaintContext, StaffMember

LEVEL_ROLES = {1: Role.team_lead, 2: Role.head_of_cs}
ROLE_LEVEL = {Role.team_lead: 1, Role.head_of_cs: 2}


def intake_escalation_reasons(state: ComplaintState, intake: ComplaintIntake,
                              context: ComplaintContext, policy: SlaPolicy) -> list[str]:
    """The procedure's escalation triggers at intake: escalate to a team lead at once."""
    flags, reasons = intake.flags, []
    if state.severity <= policy.escalation.at_intake_for_severity_up_to:
        reasons.append(f"Severity {state.severity} at intake")
    if context.profile is not None and context.profile.key_account:
        reasons.append("key account")
    if flags.legal_or_compliance:
        reasons.append("legal or compliance implications")
    if flags.requests_manager:
        reasons.append("customer asked for a manager")
    return reasons


def acts_within_level(deadline_name: str) -> int | None:
    """`escalation_level_2_3` -> 2: the level whose person that clock waits for."""
    kind = deadline_type(deadline_name)
    if kind.startswith(ESCALATION + "_") and kind[len(ESCALATION) + 1:].isdigit():
        return int(kind[len(ESCALATION) + 1:])
    return None


class Escalation:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        for level in LEVEL_ROLES:
            deadlines.on(f"{ESCALATION}_{level}", breach=self._unanswered_at(level))
        deadlines.on_any_breach(self.sla_breached)

    def sla_breached(self, clock: SlaClock) -> None:
        """A deadline with no breach action of its own: the SLA default escalates."""
        self.escalate(max(1, self.case.state.escalation_level),
                      f"SLA breached: {clock.what}", SYSTEM)

    def escalate(self, level: int, reason: str, actor: str) -> None:
        """Raise the escalation level (never lowers it), tell the person at that level, and
        give them a deadline to act: nobody acting moves it one level up."""
        case = self.case
        policy, s = case.policy_now, case.state
        level = min(max(level, s.escalation_level, 1), 2)
        raised = level > s.escalation_level
        s.escalation_level = level
        act_by_name = ui.next_name(s, f"{ESCALATION}_{level}") if raised else None
        case.log(Event.escalated, actor, f"level {level} ({LEVEL_NAMES[level]}): {reason}",
                 level=level, reason=reason, deadline=act_by_name)
        metrics.escalated(level)
        # Not the reason: free text that may quote the customer (it is in the timeline).
        workflow.logger.info("escalated to level %d (%s)", level, LEVEL_NAMES[level])
        seq = s.timeline[-1].seq
        act_by = None
        if act_by_name is not None:
            case.supervisor_acted[level] = False
            within = (policy.escalation.team_lead_acts_within if level == 1
                      else policy.escalation.head_of_cs_acts_within)
            act_by = workflow.now() + within
            self.deadlines.start(act_by_name, act_by)
        self.effects.changed()
        # The roster may still be loading (database down at intake): the email waits for it
        # in the background; the decision above is already made and recorded.
        self.effects.spawn(self._notify(level, reason, seq, act_by),
                           f"the level {level} escalation notice")

    def _unanswered_at(self, level: int) -> ClockEvent:
        return lambda clock: self.unanswered(level)

    def unanswered(self, level: int) -> None:
        """Nobody acted on the escalation at `level` in time."""
        if level < 2:
            self.escalate(level + 1, f"nobody acted on the level {level} escalation", SYSTEM)
            return
        self.case.log(Event.escalation_unanswered, SYSTEM, "nobody acted at the top level",
                      level=2)
        # The documented safe-evolution example (docs/reliability.md): the top level's
        # missed deadline is no longer silent; the head of CS is emailed again. A new
        # activity in history, so complaints already past this point (recorded in
        # tests/histories/escalation_unanswered_before_reminder.json) replay without it.
        if workflow.patched("remind-head-of-cs-when-unanswered"):
            self.effects.spawn(self._notify(
                2, "reminder: nobody has acted on the level 2 escalation",
                self.case.state.timeline[-1].seq, None), "the level 2 reminder")

    async def _notify(self, level: int, reason: str, seq: int, act_by: datetime | None) -> None:
        case = self.case
        await workflow.wait_condition(lambda: case.registered)
        recipient = case.staff_for(LEVEL_ROLES[level])
        if recipient is None:
            case.log(Event.escalation_unassigned, SYSTEM,
                     f"nobody on the roster is a {LEVEL_NAMES[level]}", level=level)
            self.effects.changed()
            return
        s = case.state
        profile = case.context.profile
        self.effects.email(f"escalation:{seq}", [recipient.email], "escalation", {
            **case.mail_context(), "level": level, "level_name": LEVEL_NAMES[level],
            "reason": reason, "recipient_name": recipient.name,
            "customer_id": s.customer_id, "key_account": bool(profile and profile.key_account),
            "severity": s.severity, "severity_score": s.severity_score, "status": s.status.value,
            "phase": s.phase.value,
            "owner": case.name(s.owner) if s.owner else "(not yet assigned)",
            "retention_risk": s.retention_risk,
            "retention_reasons": ", ".join(s.retention_risk_reasons),
            "act_by": case.local(act_by) if act_by else None,
            "deadlines": [ui.describe_deadline(d) for d in s.deadlines if d.met_at is None
                          and not d.superseded],
        })

    def acted(self, actor: str) -> StaffMember | None:
        """Record that a person acted: a team lead's or head's action answers their escalation.
        None for the customer acting themselves (the channel actor)."""
        if is_customer_actor(actor):
            return None
        member = self.case.roster[actor]
        level = ROLE_LEVEL.get(member.role, 0)
        for lv in (1, 2):
            if lv <= level and self.case.supervisor_acted.get(lv) is False:
                self.case.supervisor_acted[lv] = True
                self.deadlines.mark_met(ui.latest(self.case.state, f"{ESCALATION}_{lv}"), actor,
                                        "acted on the escalation")
        return member
