"""The procedure, phase by phase (CRR-001): triage -> ownership -> resolution ->
post_mortem -> closed -> archived. Phases 2 and 3 move on people's actions (the updates);
this part holds what the complaint does by itself between them, and runs the phases.

A complaint that lives long (daily updates for a year) continues as new once its history
passes `HISTORY_EVENTS_BOUND`, carrying its whole case: state, clocks and policy snapshot.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar, triage
    from workflows.activity_types import PolicyActivities, StoreActivities
    from workflows.complaint import metrics
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.clocks import wait_until
    from workflows.complaint.customer import CustomerContact
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation, intake_escalation_reasons
    from workflows.complaint.final_response import FinalResponses
    from workflows.complaint.ownership import Ownership
    from workflows.complaint.post_mortem import PostMortem
    from workflows.events import (
        AUTOMATIC_ACK,
        CUSTOMER_UPDATE,
        PERSONAL_ACK,
        RESOLUTION,
        Event,
        deadline_type,
    )
    from workflows.messages import AgentRequest, ContextRequest, EmailReceipt
    from workflows.models import Status
    from workflows.policy import format_duration
    from workflows.records import StaffMember

# Events in one run's history before it continues as new (the server's own suggestion,
# at a few thousand events, also counts). A day with an update adds about 55.
HISTORY_EVENTS_BOUND = 2_000
CONTINUE_AS_NEW = "continue-as-new-when-history-is-long"


class Procedure:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation, customer: CustomerContact, ownership: Ownership,
                 post_mortem: PostMortem, final_responses: FinalResponses) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation
        self.customer = customer
        self.ownership = ownership
        self.post_mortem = post_mortem
        self.final_responses = final_responses
        # Asked by the `rekey` update: continue as new at the next quiet point (not carried).
        self.rekey_requested = False

    async def run(self, first_run: bool) -> None:
        """The phases, from registration (or where the previous run left off) to archive."""
        self.effects.start_writer()
        if first_run:
            await self._register()
            # Phase 1 ends with the personal acknowledgement (on time or late).
            await workflow.wait_condition(lambda: self.case.personal_ack is not None)
            await self.ownership.take()
        else:
            self._resume()
        # Phases 2 and 3 move on the owner's and the customer's actions (the updates).
        await self._until_resolved()
        await self.post_mortem.run()
        await self._archive()
        await self.effects.finish()

    # --- Phase 1: registration and acknowledgement ------------------------------------

    async def _register(self) -> None:
        """CRR-001 1.2 and the complaint management process's first steps: the policy
        snapshot, the customer's context, triage."""
        case, effects = self.case, self.effects
        s = case.state
        case.policy = policy = await effects.call(
            PolicyActivities.snapshot_sla_policy, s.received_at, "Snapshot the SLA policy")
        s.policy_name = policy.name
        ack = policy.acknowledgement
        # The acknowledgement clocks start before anything that waits on the database.
        self.deadlines.start(AUTOMATIC_ACK, s.received_at + ack.automatic_within)
        self.deadlines.start(PERSONAL_ACK, s.received_at + ack.personal_within)
        case.update_clock.due = s.received_at + policy.communication.customer_update_every
        self.customer.start_update_clock(running=None)
        case.log(Event.received, SYSTEM, f"via {s.source.value} ({s.external_ref}): {s.subject}")
        if case.intake.attachments:  # (no complaint before the email channel had any)
            case.log(Event.attachments_received, SYSTEM,
                     ui.attachment_list(case.intake.attachments))
        effects.changed()

        case.learn_context(await effects.call(
            StoreActivities.fetch_complaint_context,
            ContextRequest(crn=s.crn, customer_id=s.customer_id, order_id=case.intake.order_id,
                           received_at=s.received_at,
                           repeat_window_days=policy.retention_risk.repeat_within.days),
            "Fetch customer profile, order and earlier complaints"))

        s.severity = triage.severity_level(case.intake, policy.severity)
        ltv = case.context.profile.lifetime_value if case.context.profile else Decimal(0)
        s.severity_score = triage.severity_score(case.intake, ltv, policy.severity)
        risk = triage.retention_risk(case.intake, case.context, policy, s.received_at, s.crn)
        s.retention_risk, s.retention_risk_reasons = risk.tagged, risk.reasons
        s.recurrent_of = risk.recurrent_of
        target = policy.resolution.target(s.severity)
        s.estimated_resolution_at = calendar.business_deadline(policy.calendar, s.received_at,
                                                               target)
        detail = f"severity {s.severity} (score {s.severity_score})"
        if risk.tagged:
            detail += "; Retention Risk: " + ", ".join(risk.reasons)
        case.log(Event.triaged, SYSTEM, detail)
        metrics.complaint_started(s.source.value, s.severity)
        if risk.recurrent_of:
            case.log(Event.marked_recurrent, SYSTEM,
                     f"same customer and category as {risk.recurrent_of} within "
                     f"{policy.retention_risk.repeat_within.days} days")
        # The resolution target, in business time, with a warning at 75%.
        self.deadlines.start(
            RESOLUTION, s.estimated_resolution_at,
            warn_at=calendar.business_deadline(policy.calendar, s.received_at, target,
                                               policy.resolution.warn_at))
        self.final_responses.start_regulatory_clock()  # under a regulator's policy

        agent: StaffMember | None = await effects.call(
            StoreActivities.assign_handling_agent, AgentRequest(crn=s.crn, category=s.category),
            "Pick the L1 agent who acknowledges")
        if agent is not None:
            s.handling_agent = agent.id
            case.log(Event.handling_agent_assigned, SYSTEM, f"{agent.name} ({agent.id})")
        case.registered = True
        effects.changed()

        reasons = intake_escalation_reasons(s, case.intake, case.context, policy)
        if reasons:
            self.escalation.escalate(1, "; ".join(reasons), SYSTEM)
        self._send_automatic_acknowledgement()

    def _send_automatic_acknowledgement(self) -> None:
        case = self.case
        policy, s = case.policy_now, case.state
        to = case.customer_email()
        if to is None:
            case.log(Event.acknowledgement_not_emailed, SYSTEM,
                     "no email address for the customer")
            self.deadlines.mark_met(AUTOMATIC_ACK, SYSTEM,
                                    "no email address: acknowledged by the channel")
            return
        agent = case.roster.get(s.handling_agent or "")
        context = {
            **case.mail_context(),
            "agent_name": agent.name if agent else "our Customer Care team",
            **case.when("estimated_resolution", s.estimated_resolution_at),
            **case.duration("personal_within", policy.acknowledgement.personal_within),
            **case.duration("update_every", policy.communication.customer_update_every),
        }

        async def sent(receipt: EmailReceipt) -> None:
            case.automatic_ack_body = receipt.body
            self.deadlines.mark_met(AUTOMATIC_ACK, SYSTEM, f"emailed to {to}")

        self.effects.email("acknowledgement", [to], "acknowledgement", context, then=sent,
                           with_body=True)

    # --- Phases 2 and 3: until resolved, continuing as new when the history is long -----

    async def _until_resolved(self) -> None:
        def resolved() -> bool:
            return self.case.state.status == Status.resolved

        await workflow.wait_condition(
            lambda: resolved() or self._history_is_long() or self.rekey_requested)
        if resolved():
            return
        # Complaints that passed the bound before this code replay as they ran.
        if not workflow.patched(CONTINUE_AS_NEW):
            await workflow.wait_condition(resolved)
            return
        # Between tasks: no handler running, no email or write in flight.
        await workflow.wait_condition(lambda: resolved() or self.effects.quiet())
        if resolved():
            return
        self._continue_as_new()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (info.get_current_history_length() >= HISTORY_EVENTS_BOUND
                or info.is_continue_as_new_suggested())

    def _continue_as_new(self) -> None:
        self.effects.flush_index()
        workflow.continue_as_new(self.case.carry_over(),
                                 search_attributes=workflow.info().typed_search_attributes)

    def _resume(self) -> None:
        """A run continued as new: every clock picks up where the last run left it."""
        case = self.case
        s, clock_state = case.state, case.update_clock
        latest_update = ui.latest(s, CUSTOMER_UPDATE)
        running = None
        for d in s.deadlines:
            clock = self.deadlines.clock(d)
            if deadline_type(d.name) == CUSTOMER_UPDATE:
                # The update clock's current period (open, or breached and waiting for the
                # next update) goes back to it; older periods have ended.
                if (d.name == latest_update and not clock.settled and not clock_state.stopped
                        and clock_state.paused_with is None):
                    running = clock
            elif clock.open:
                self.deadlines.watch(clock)
        if not clock_state.stopped:
            self.customer.start_update_clock(running)
        case.log(Event.continued, SYSTEM, f"run {case.runs}: continued as new with its state, "
                 f"{len(s.deadlines)} deadlines and the last {len(s.timeline)} events (the "
                 "resolution log has them all)")
        self.effects.changed()

    # --- after phase 4: the archive --------------------------------------------------------

    async def _archive(self) -> None:
        """Archived after the policy's retention period; the run ends."""
        case = self.case
        s = case.state
        assert s.closed_at is not None
        keep = case.policy_now.lifecycle.archive_after
        # Withdrawn once closed (the customer's erasure, say): archived at once.
        await wait_until(lambda: case.archive_requested, s.closed_at + keep,
                         f"Archive after {format_duration(keep)}")
        # The last word on the row before the archive copies it.
        s.status, s.archived_at = Status.archived, workflow.now()
        case.log(Event.archived, SYSTEM, "moved out of the active queue")
        self.effects.changed()
        await workflow.wait_condition(lambda: not self.effects.dirty)
        await self.effects.call(StoreActivities.archive_complaint, s.crn, f"Archive {s.crn}")
