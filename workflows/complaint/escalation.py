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
    from workflows.complaint.clocks import ClockEvent
    from workflows.complaint.core import SYSTEM, ComplaintCore
    from workflows.events import ESCALATION, LEVEL_NAMES, Event, deadline_type
    from workflows.models import (
        ComplaintContext,
        ComplaintIntake,
        ComplaintState,
        Role,
        StaffMember,
    )
    from workflows.permissions import is_customer_actor
    from workflows.policy import SlaPolicy

LEVEL_ROLES = {1: Role.team_lead, 2: Role.head_of_cs}
ROLE_LEVEL = {Role.team_lead: 1, Role.head_of_cs: 2}


def intake_escalation_reasons(state: ComplaintState, intake: ComplaintIntake,
                              context: ComplaintContext, policy: SlaPolicy) -> list[str]:
    """SOP 4: escalate to a team lead at once for these."""
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


class EscalationChain(ComplaintCore):
    def _clock_actions(self, name: str) -> tuple[ClockEvent, ClockEvent | None]:
        level = acts_within_level(name)
        if level is not None:
            return self._on_warning, lambda clock: self._escalation_unanswered(level)
        return super()._clock_actions(name)

    def _escalate(self, level: int, reason: str, actor: str) -> None:
        """Raise the escalation level (never lowers it), tell the person at that level, and
        give them a deadline to act: nobody acting moves it one level up."""
        assert self.policy is not None
        s = self.state
        level = min(max(level, s.escalation_level, 1), 2)
        raised = level > s.escalation_level
        s.escalation_level = level
        act_by_name = ui.next_name(s, f"{ESCALATION}_{level}") if raised else None
        self._log(Event.escalated, actor, f"level {level} ({LEVEL_NAMES[level]}): {reason}",
                  level=level, reason=reason, deadline=act_by_name)
        metrics.escalated(level)
        # Not the reason: free text that may quote the customer (it is in the timeline).
        workflow.logger.info("escalated to level %d (%s)", level, LEVEL_NAMES[level])
        seq = s.timeline[-1].seq
        act_by = None
        if act_by_name is not None:
            self.supervisor_acted[level] = False
            within = (self.policy.escalation.team_lead_acts_within if level == 1
                      else self.policy.escalation.head_of_cs_acts_within)
            act_by = workflow.now() + within
            self._start_deadline(act_by_name, act_by)
        self._changed()
        # The roster may still be loading (database down at intake): the email waits for it
        # in the background; the decision above is already made and recorded.
        self._spawn(self._notify_escalation(level, reason, seq, act_by),
                    f"the level {level} escalation notice")

    def _escalation_unanswered(self, level: int) -> None:
        if level < 2:
            self._escalate(level + 1, f"nobody acted on the level {level} escalation", SYSTEM)
            return
        self._log(Event.escalation_unanswered, SYSTEM, "nobody acted at the top level", level=2)
        # Issue 8, the documented safe-evolution example (docs/reliability.md): the top
        # level's missed deadline is no longer silent; the head of CS is emailed again.
        # A new activity in history, so complaints already past this point (recorded in
        # tests/histories/escalation_unanswered_before_reminder.json) replay without it.
        if workflow.patched("remind-head-of-cs-when-unanswered"):
            self._spawn(self._notify_escalation(
                2, "reminder: nobody has acted on the level 2 escalation",
                self.state.timeline[-1].seq, None), "the level 2 reminder")

    async def _notify_escalation(self, level: int, reason: str, seq: int,
                                 act_by: datetime | None) -> None:
        await workflow.wait_condition(lambda: self.registered)
        recipient = self._staff_for(LEVEL_ROLES[level])
        if recipient is None:
            self._log(Event.escalation_unassigned, SYSTEM,
                      f"nobody on the roster is a {LEVEL_NAMES[level]}", level=level)
            self._changed()
            return
        s = self.state
        profile = self.context.profile
        self._email(f"escalation:{seq}", [recipient.email], "escalation", {
            **self._mail_context(), "level": level, "level_name": LEVEL_NAMES[level],
            "reason": reason, "recipient_name": recipient.name,
            "customer_id": s.customer_id, "key_account": bool(profile and profile.key_account),
            "severity": s.severity, "severity_score": s.severity_score, "status": s.status.value,
            "phase": s.phase.value, "owner": self._name(s.owner) if s.owner else "(not yet assigned)",
            "retention_risk": s.retention_risk,
            "retention_reasons": ", ".join(s.retention_risk_reasons),
            "act_by": self._local(act_by) if act_by else None,
            "deadlines": [ui.describe_deadline(d) for d in s.deadlines if d.met_at is None
                          and not d.superseded],
        })

    def _acted(self, actor: str) -> StaffMember | None:
        """Record that a person acted: a team lead's or head's action answers their escalation.
        None for the customer acting themselves (the channel actor)."""
        if is_customer_actor(actor):
            return None
        member = self.roster[actor]
        level = ROLE_LEVEL.get(member.role, 0)
        for lv in (1, 2):
            if lv <= level and self.supervisor_acted.get(lv) is False:
                self.supervisor_acted[lv] = True
                self._mark_met(ui.latest(self.state, f"{ESCALATION}_{lv}"), actor,
                               "acted on the escalation")
        return member
