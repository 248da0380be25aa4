"""ComplaintWorkflow: one customer complaint, from intake to archive (CRR-001).

Reading guide:
- `run` is the procedure, phase by phase.
- Every SLA is a `_watch_deadline` task: a durable timer that warns, then breaches;
  a breach is an escalation, decided at the due instant even if email or the
  database is down (their activities run in the background and retry).
- Updates (the actions people take) are validated before they touch history:
  actor's role from the roster, phase, payload.
- `_changed()` is called after every state change: it refreshes the search
  attributes and the UI details, and wakes the writer that persists the row and
  the resolution log to PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import calendar, triage
    from workflows import search_attributes as sa
    from workflows.models import (
        AgentRequest,
        ComplaintContext,
        ComplaintProgress,
        ComplaintRecord,
        ComplaintStart,
        ComplaintState,
        ContextRequest,
        Deadline,
        EmailReceipt,
        EmailRequest,
        PersonalAcknowledgement,
        Phase,
        Role,
        StaffMember,
        Status,
        TimelineEvent,
    )
    from workflows.permissions import check_actor
    from workflows.policy import SlaPolicy, format_duration

# Activities retry until they succeed: a database or SMTP outage delays a write
# or an email, it never loses one. Backoff caps at a minute.
RETRY_FOREVER = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["TemplateNotFound", "UndefinedError", "TemplateSyntaxError"],
)
ACTIVITY_TIMEOUT = timedelta(seconds=30)

# Deadline names (the `status` query's `deadlines[].name`).
AUTOMATIC_ACK = "automatic_acknowledgement"
PERSONAL_ACK = "personal_acknowledgement"

LEVEL_NAMES = {0: "owner", 1: "team lead", 2: "head of customer success"}
LEVEL_ROLES = {1: Role.team_lead, 2: Role.head_of_cs}
SYSTEM = "system"  # the actor of what the workflow does by itself


@workflow.defn(name="ComplaintWorkflow")
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        intake = start.intake
        self.intake = intake
        self.state: ComplaintState = start.carried or ComplaintState(
            crn=workflow.info().workflow_id,
            source=intake.source,
            external_ref=intake.external_ref,
            customer_id=intake.customer.id,
            subject=intake.subject,
            received_at=intake.received_at or workflow.now(),
            category=intake.category,
            impact=intake.impact,
        )
        self.policy: SlaPolicy | None = None
        self.context = ComplaintContext()
        self.roster: dict[str, StaffMember] = {}
        self.registered = False
        self.automatic_ack_body: str | None = None
        self.personal_ack: PersonalAcknowledgement | None = None
        self._persisted_seq = 0
        self._dirty = False
        self._finished = False
        self._background: list[asyncio.Task[Any]] = []

    # --- the procedure ---------------------------------------------------------

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintState:
        writer = asyncio.create_task(self._write_progress())
        await self._register()
        await self._triage_phase()
        await self._finish(writer)
        return self.state

    async def _register(self) -> None:
        """CRR-001 1.2 and seed 003 steps 1-3: policy snapshot, customer context, triage."""
        s = self.state
        self.policy = await self._activity(
            "snapshot_sla_policy", s.received_at, SlaPolicy, "Snapshot the SLA policy"
        )
        s.policy_name = self.policy.name
        ack = self.policy.acknowledgement
        # The acknowledgement clocks start before anything that waits on the database.
        self._start_deadline(AUTOMATIC_ACK, s.received_at + ack.automatic_within,
                             met=lambda: self._met(AUTOMATIC_ACK), what="automatic acknowledgement")
        self._start_deadline(PERSONAL_ACK, s.received_at + ack.personal_within,
                             met=lambda: self.personal_ack is not None,
                             what="personal acknowledgement")
        self._log("received", SYSTEM, f"via {s.source.value} ({s.external_ref}): {s.subject}")
        self._changed()

        self.context = await self._activity(
            "fetch_complaint_context",
            ContextRequest(crn=s.crn, customer_id=s.customer_id, order_id=self.intake.order_id,
                           received_at=s.received_at,
                           repeat_window_days=self.policy.retention_risk.repeat_within.days),
            ComplaintContext, "Fetch customer profile, order and earlier complaints",
        )
        self.roster = {m.id: m for m in self.context.roster}

        s.severity = triage.severity_level(self.intake, self.policy.severity)
        ltv = self.context.profile.lifetime_value if self.context.profile else 0
        s.severity_score = triage.severity_score(self.intake, ltv, self.policy.severity)
        risk = triage.retention_risk(self.intake, self.context, self.policy, s.received_at, s.crn)
        s.retention_risk, s.retention_risk_reasons = risk.tagged, risk.reasons
        s.recurrent_of = risk.recurrent_of
        s.estimated_resolution_at = calendar.business_deadline(
            self.policy.calendar, s.received_at, self.policy.resolution.target(s.severity)
        )
        detail = f"severity {s.severity} (score {s.severity_score})"
        if risk.tagged:
            detail += "; Retention Risk: " + ", ".join(risk.reasons)
        if risk.recurrent_of:
            detail += f"; recurrent of {risk.recurrent_of}"
        self._log("triaged", SYSTEM, detail)

        agent = await self._activity(
            "assign_handling_agent", AgentRequest(crn=s.crn, category=s.category),
            StaffMember | None, "Pick the L1 agent who acknowledges",
        )
        if agent is not None:
            s.handling_agent = agent.id
            self._log("handling_agent_assigned", SYSTEM, f"{agent.name} ({agent.id})")
        self.registered = True
        self._changed()

        reasons = self._intake_escalation_reasons()
        if reasons:
            await self._escalate(1, "; ".join(reasons), SYSTEM)
        self._send_automatic_acknowledgement()

    def _intake_escalation_reasons(self) -> list[str]:
        """SOP 4: escalate to a team lead at once for these."""
        assert self.policy is not None
        s, flags, reasons = self.state, self.intake.flags, []
        if s.severity <= self.policy.escalation.at_intake_for_severity_up_to:
            reasons.append(f"Severity {s.severity} at intake")
        if self.context.profile is not None and self.context.profile.key_account:
            reasons.append("key account")
        if flags.legal_or_compliance:
            reasons.append("legal or compliance implications")
        if flags.requests_manager:
            reasons.append("customer asked for a manager")
        return reasons

    async def _triage_phase(self) -> None:
        """Phase 1 ends when an agent has sent the personal acknowledgement (late or not)."""
        await workflow.wait_condition(lambda: self.personal_ack is not None)

    # --- Phase 1 actions -------------------------------------------------------

    def _send_automatic_acknowledgement(self) -> None:
        s = self.state
        to = self._customer_email()
        if to is None:
            self._log("acknowledgement_not_emailed", SYSTEM, "no email address for the customer")
            self._mark_met(AUTOMATIC_ACK, SYSTEM, "no email address: acknowledged by the channel")
            return
        agent = self.roster.get(s.handling_agent or "")
        assert self.policy is not None
        context = {
            "crn": s.crn, "subject": s.subject, "customer_name": self._customer_name(),
            "agent_name": agent.name if agent else "our Customer Care team",
            "estimated_resolution": self._local(s.estimated_resolution_at),
            "personal_within": format_duration(self.policy.acknowledgement.personal_within),
            "update_every": format_duration(self.policy.communication.customer_update_every),
        }

        async def sent(receipt: EmailReceipt) -> None:
            self.automatic_ack_body = receipt.body
            self._mark_met(AUTOMATIC_ACK, SYSTEM, f"emailed to {to}")

        self._email("acknowledgement", [to], "acknowledgement", context, then=sent)

    @workflow.update
    async def acknowledge_personally(self, ack: PersonalAcknowledgement) -> ComplaintState:
        s = self.state
        self.personal_ack = ack
        deadline = s.deadline(PERSONAL_ACK)
        late = deadline is not None and deadline.breached
        self._mark_met(PERSONAL_ACK, ack.actor, "late" if late else "on time")
        s.status = Status.acknowledged
        s.phase = Phase.ownership
        member = self.roster[ack.actor]
        to = self._customer_email()
        if to:
            self._email("personal_acknowledgement", [to], "personal_acknowledgement",
                        {"crn": s.crn, "subject": s.subject, "message": ack.message,
                         "agent_name": member.name})
        self._log("acknowledged_personally", ack.actor,
                  ("late: " if late else "") + _excerpt(ack.message))
        self._changed()
        return self.state

    @acknowledge_personally.validator
    def _check_personal_ack(self, ack: PersonalAcknowledgement) -> None:
        self._check_registered()
        check_actor("acknowledge_personally", ack.actor, self.roster)
        if self.personal_ack is not None:
            raise ValueError(
                f"already acknowledged personally by {self.personal_ack.actor}; "
                "send a customer update instead"
            )
        if self.automatic_ack_body and _same_text(ack.message, self.automatic_ack_body):
            raise ValueError(
                "the personal acknowledgement must be written for this customer, "
                "not the automatic acknowledgement again"
            )

    # --- query -----------------------------------------------------------------

    @workflow.query
    def status(self) -> ComplaintState:
        return self.state

    # --- deadlines and escalation ----------------------------------------------

    def _start_deadline(self, name: str, due_at: datetime, *, met: Callable[[], bool],
                        what: str, warn_at: datetime | None = None) -> None:
        summary = f"SLA: {what} due {self._clock(due_at)}"
        self.state.deadlines.append(Deadline(name=name, due_at=due_at, summary=summary))
        self._background.append(asyncio.create_task(
            self._watch_deadline(name, due_at, met, summary, warn_at)))

    async def _watch_deadline(self, name: str, due_at: datetime, met: Callable[[], bool],
                              summary: str, warn_at: datetime | None) -> None:
        if warn_at is not None and not await self._wait_until(met, warn_at, "warning: " + summary):
            await self._on_warning(name)
        if not await self._wait_until(met, due_at, summary):
            await self._on_breach(name)

    async def _wait_until(self, condition: Callable[[], bool], instant: datetime,
                          summary: str) -> bool:
        """True when `condition` held by `instant`; False when `instant` came first."""
        if condition():
            return True
        remaining = instant - workflow.now()
        if remaining <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(condition, timeout=remaining, timeout_summary=summary)
            return True
        except TimeoutError:
            return False

    async def _on_warning(self, name: str) -> None:
        d = self.state.deadline(name)
        assert d is not None
        d.warned_at = workflow.now()
        self._log("deadline_warning", SYSTEM, f"{name} due {self._clock(d.due_at)}")
        self._changed()

    async def _on_breach(self, name: str) -> None:
        s = self.state
        d = s.deadline(name)
        assert d is not None
        # breached_at is the instant it fell due; the timeline records when it was acted on
        # (a few milliseconds later: the timer's start is the server's, not workflow.now()).
        d.breached, d.breached_at = True, d.due_at
        s.sla_breached = True
        self._log("deadline_breached", SYSTEM, f"{name} was due {self._clock(d.due_at)}")
        self._changed()
        await self._escalate(max(1, s.escalation_level),
                             f"SLA breached: {name.replace('_', ' ')}", SYSTEM)

    async def _escalate(self, level: int, reason: str, actor: str) -> None:
        """Raise the escalation level (never lowers it) and tell the person at that level."""
        s = self.state
        level = min(max(level, s.escalation_level), 2)
        s.escalation_level = level
        self._log("escalated", actor, f"level {level} ({LEVEL_NAMES[level]}): {reason}")
        self._changed()
        seq = s.timeline[-1].seq
        # The roster may still be loading (database down at intake): wait for it in the
        # background, the decision above is already made and recorded.
        self._background.append(asyncio.create_task(self._notify_escalation(level, reason, seq)))

    async def _notify_escalation(self, level: int, reason: str, seq: int) -> None:
        await workflow.wait_condition(lambda: self.registered)
        recipient = self._staff_for(LEVEL_ROLES[level])
        if recipient is None:
            self._log("escalation_unassigned", SYSTEM, f"nobody on the roster is a {LEVEL_NAMES[level]}")
            self._changed()
            return
        s = self.state
        profile = self.context.profile
        context = {
            "crn": s.crn, "level": level, "level_name": LEVEL_NAMES[level], "reason": reason,
            "recipient_name": recipient.name, "customer_name": self._customer_name(),
            "customer_id": s.customer_id, "key_account": bool(profile and profile.key_account),
            "subject": s.subject, "severity": s.severity, "severity_score": s.severity_score,
            "status": s.status.value, "phase": s.phase.value, "owner": s.owner or "(not yet assigned)",
            "retention_risk": s.retention_risk, "retention_reasons": ", ".join(s.retention_risk_reasons),
            "act_by": None,
            "deadlines": [self._describe_deadline(d) for d in s.deadlines if d.met_at is None],
        }
        self._email(f"escalation:{seq}", [recipient.email], "escalation", context)

    # --- bookkeeping -----------------------------------------------------------

    def _met(self, name: str) -> bool:
        d = self.state.deadline(name)
        return d is not None and d.met_at is not None

    def _mark_met(self, name: str, actor: str, how: str) -> None:
        d = self.state.deadline(name)
        if d is None or d.met_at is not None:
            return
        d.met_at = workflow.now()
        self._log("deadline_met", actor, f"{name}: {how}")
        self._changed()

    def _log(self, event: str, actor: str, detail: str = "") -> None:
        seq = self.state.timeline[-1].seq + 1 if self.state.timeline else 1
        self.state.timeline.append(
            TimelineEvent(seq=seq, at=workflow.now(), event=event, actor=actor, detail=detail))

    def _changed(self) -> None:
        """After every state change: search attributes, UI details, and a database write."""
        s = self.state
        s.waiting_for = self._waiting_for()
        workflow.upsert_search_attributes([
            sa.COMPLAINT_STATUS.value_set(s.status.value),
            sa.COMPLAINT_PHASE.value_set(s.phase.value),
            sa.COMPLAINT_CATEGORY.value_set(s.category.value if s.category else "uncategorised"),
            sa.COMPLAINT_OWNER.value_set(s.owner or "unassigned"),
            sa.CUSTOMER_ID.value_set(s.customer_id),
            sa.COMPLAINT_SEVERITY.value_set(s.severity),
            sa.ESCALATION_LEVEL.value_set(s.escalation_level),
            sa.RETENTION_RISK.value_set(s.retention_risk),
            sa.SLA_BREACHED.value_set(s.sla_breached),
        ])
        workflow.set_current_details(self._details())
        self._dirty = True

    def _waiting_for(self) -> list[str]:
        s = self.state
        waiting = []
        if s.phase == Phase.triage and self.personal_ack is None:
            agent = self.roster.get(s.handling_agent or "")
            who = f"{agent.name} ({agent.id})" if agent else "an L1 agent"
            d = s.deadline(PERSONAL_ACK)
            due = f" by {self._clock(d.due_at)}" if d else ""
            waiting.append(f"personal acknowledgement from {who}{due}")
        return waiting

    def _details(self) -> str:
        s = self.state
        open_deadlines = sorted((d for d in s.deadlines if d.met_at is None), key=lambda d: d.due_at)
        lines = [
            f"**{s.crn}** · {s.status.value} · phase {s.phase.value} · severity {s.severity}",
            f"Owner: {s.owner or 'unassigned'} · escalation level {s.escalation_level}"
            + (" · SLA breached" if s.sla_breached else "")
            + (" · Retention Risk" if s.retention_risk else ""),
        ]
        if open_deadlines:
            lines.append("Next deadline: " + self._describe_deadline(open_deadlines[0]))
        lines += [f"Waiting for: {w}" for w in s.waiting_for]
        return "\n\n".join(lines)

    async def _write_progress(self) -> None:
        """The single writer of the complaint's row and resolution log: one write at a time,
        always the latest state, never blocking a decision while PostgreSQL is away."""
        while True:
            await workflow.wait_condition(lambda: self._dirty or self._finished)
            if not self._dirty:
                return
            self._dirty = False
            new_events = [e for e in self.state.timeline if e.seq > self._persisted_seq]
            await self._activity(
                "save_progress",
                ComplaintProgress(record=self._record(), events=new_events),
                None, f"Save {self.state.crn} ({len(new_events)} new events)",
            )
            if new_events:
                self._persisted_seq = new_events[-1].seq

    async def _finish(self, writer: asyncio.Task[None]) -> None:
        """Let every email go out and the last write land before the workflow completes."""
        await workflow.wait_condition(lambda: all(t.done() for t in self._background))
        self._finished = True
        await writer
        await workflow.wait_condition(workflow.all_handlers_finished)

    def _record(self) -> ComplaintRecord:
        s = self.state
        ack = s.deadline(PERSONAL_ACK)
        return ComplaintRecord(
            crn=s.crn, source=s.source, external_ref=s.external_ref, customer_id=s.customer_id,
            customer_name=self._customer_name(), customer_email=self._customer_email(),
            subject=s.subject, description=self.intake.description, category=s.category,
            impact=s.impact, order_id=self.intake.order_id, severity=s.severity,
            severity_score=s.severity_score, status=s.status, phase=s.phase, owner=s.owner,
            handling_agent=s.handling_agent, escalation_level=s.escalation_level,
            retention_risk=s.retention_risk, sla_breached=s.sla_breached,
            recurrent_of=s.recurrent_of, policy_name=s.policy_name, received_at=s.received_at,
            acknowledged_at=ack.met_at if ack else None,
        )

    # --- activities and email ----------------------------------------------------

    async def _activity(self, name: str, arg: Any, result_type: Any, summary: str) -> Any:
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY_FOREVER, summary=summary,
        )

    def _email(self, kind: str, to: list[str], template: str, context: dict[str, Any],
               then: Callable[[EmailReceipt], Any] | None = None) -> None:
        """Queue an email in the background: SMTP being down never holds up a decision."""
        request = EmailRequest(crn=self.state.crn, kind=kind, to=to, template=template,
                               context=context)

        async def send() -> None:
            try:
                receipt = await self._activity(
                    "send_email", request, EmailReceipt, f"Email {kind} to {', '.join(to)}")
            except ActivityError as err:  # only a broken template gets here: it never retries
                self._log("email_failed", SYSTEM, f"{kind}: {err.cause or err}")
                self._changed()
                return
            self._log("email_sent", SYSTEM, f"{kind} to {', '.join(to)}")
            self._changed()
            if then is not None:
                await then(receipt)

        self._background.append(asyncio.create_task(send()))

    # --- small helpers -----------------------------------------------------------

    def _check_registered(self) -> None:
        if not self.registered:
            raise ValueError("the complaint is still being registered; try again in a moment")

    def _staff_for(self, role: Role) -> StaffMember | None:
        people = sorted((m for m in self.roster.values() if m.role == role),
                        key=lambda m: (not m.available, m.id))
        return people[0] if people else None

    def _customer_email(self) -> str | None:
        if self.intake.customer.email:
            return str(self.intake.customer.email)
        profile = self.context.profile
        return str(profile.email) if profile and profile.email else None

    def _customer_name(self) -> str:
        profile = self.context.profile
        return self.intake.customer.name or (profile.name if profile else None) or "customer"

    def _local(self, instant: datetime | None) -> str:
        """An instant as the customer's support team reads it, in the policy's time zone."""
        if instant is None:
            return "(not set)"
        tz = self.policy.calendar.timezone if self.policy else "UTC"
        return calendar.local_time(instant, tz).strftime("%a %d %b %Y, %H:%M %Z")

    def _clock(self, instant: datetime) -> str:
        return instant.strftime("%Y-%m-%d %H:%M UTC")

    def _describe_deadline(self, d: Deadline) -> str:
        state = "breached" if d.breached else "met" if d.met_at else "open"
        return f"{d.name} due {self._clock(d.due_at)} ({state})"


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
