"""The procedure, phase by phase (CRR-001): triage -> ownership -> resolution ->
post_mortem -> closed -> archived. Phases 2 and 3 move on people's actions (the updates in
`workflow.py`); this module holds what the complaint does by itself between them.

A complaint that lives long (daily updates for a year) continues as new once its history
passes `HISTORY_EVENTS_BOUND`, carrying its whole state, its clocks and its policy snapshot.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import calendar, triage
    from workflows.activity_types import PolicyActivities, StoreActivities
    from workflows.complaint import metrics, rules
    from workflows.complaint import presentation as ui
    from workflows.complaint.clocks import CustomerUpdateClock, SlaClock, wait_until
    from workflows.complaint.core import ASK_FOR_SIGN_OFF, SYSTEM
    from workflows.complaint.escalation import intake_escalation_reasons
    from workflows.complaint.money import MoneyPath
    from workflows.events import (
        AUTOMATIC_ACK,
        CUSTOMER_UPDATE,
        PERSONAL_ACK,
        PHONE_CONTACT,
        RESOLUTION,
        Event,
        deadline_type,
    )
    from workflows.messages import (
        AgentRequest,
        CarriedComplaint,
        ComplaintStart,
        ContextRequest,
        EmailReceipt,
        OwnerRequest,
    )
    from workflows.models import Phase, StaffMember, Status
    from workflows.policy import format_duration

# Events in one run's history before it continues as new (the server's own suggestion,
# at a few thousand events, also counts). A day with an update adds about 55.
HISTORY_EVENTS_BOUND = 2_000
# The timeline events the next run carries: the resolution log in PostgreSQL has them all,
# and a carried timeline that grew with the complaint's age would grow each run's input.
CARRIED_TIMELINE = 200
CONTINUE_AS_NEW = "continue-as-new-when-history-is-long"


class ComplaintProcedure(MoneyPath):
    update_clock: CustomerUpdateClock | None = None

    # --- Phase 1: registration and acknowledgement ------------------------------------

    async def _register(self) -> None:
        """CRR-001 1.2 and seed 003 steps 1-3: policy snapshot, customer context, triage."""
        s = self.state
        self.policy = policy = await self._call(
            PolicyActivities.snapshot_sla_policy, s.received_at, "Snapshot the SLA policy")
        s.policy_name = policy.name
        ack = policy.acknowledgement
        # The acknowledgement clocks start before anything that waits on the database.
        self._start_deadline(AUTOMATIC_ACK, s.received_at + ack.automatic_within)
        self._start_deadline(PERSONAL_ACK, s.received_at + ack.personal_within)
        self.update_clock_state.due = s.received_at + policy.communication.customer_update_every
        self._start_update_clock(running=None)
        self._log(Event.received, SYSTEM, f"via {s.source.value} ({s.external_ref}): {s.subject}")
        if self.intake.attachments:  # (no complaint before the email channel had any)
            self._log(Event.attachments_received, SYSTEM, ui.attachment_list(self.intake.attachments))
        self._changed()

        self.context = await self._call(
            StoreActivities.fetch_complaint_context,
            ContextRequest(crn=s.crn, customer_id=s.customer_id, order_id=self.intake.order_id,
                           received_at=s.received_at,
                           repeat_window_days=policy.retention_risk.repeat_within.days),
            "Fetch customer profile, order and earlier complaints")
        self.roster = {m.id: m for m in self.context.roster}

        s.severity = triage.severity_level(self.intake, policy.severity)
        ltv = self.context.profile.lifetime_value if self.context.profile else 0
        s.severity_score = triage.severity_score(self.intake, ltv, policy.severity)
        risk = triage.retention_risk(self.intake, self.context, policy, s.received_at, s.crn)
        s.retention_risk, s.retention_risk_reasons = risk.tagged, risk.reasons
        s.recurrent_of = risk.recurrent_of
        target = policy.resolution.target(s.severity)
        s.estimated_resolution_at = calendar.business_deadline(policy.calendar, s.received_at, target)
        detail = f"severity {s.severity} (score {s.severity_score})"
        if risk.tagged:
            detail += "; Retention Risk: " + ", ".join(risk.reasons)
        self._log(Event.triaged, SYSTEM, detail)
        metrics.complaint_started(s.source.value, s.severity)
        if risk.recurrent_of:
            self._log(Event.marked_recurrent, SYSTEM,
                      f"same customer and category as {risk.recurrent_of} within "
                      f"{policy.retention_risk.repeat_within.days} days")
        # SOP 4: the resolution target, in business time, with a warning at 75%.
        self._start_deadline(
            RESOLUTION, s.estimated_resolution_at,
            warn_at=calendar.business_deadline(policy.calendar, s.received_at, target,
                                               policy.resolution.warn_at))

        agent: StaffMember | None = await self._call(
            StoreActivities.assign_handling_agent, AgentRequest(crn=s.crn, category=s.category),
            "Pick the L1 agent who acknowledges")
        if agent is not None:
            s.handling_agent = agent.id
            self._log(Event.handling_agent_assigned, SYSTEM, f"{agent.name} ({agent.id})")
        self.registered = True
        self._changed()

        reasons = intake_escalation_reasons(s, self.intake, self.context, policy)
        if reasons:
            self._escalate(1, "; ".join(reasons), SYSTEM)
        self._send_automatic_acknowledgement()

    def _send_automatic_acknowledgement(self) -> None:
        assert self.policy is not None
        s = self.state
        to = self._customer_email()
        if to is None:
            self._log(Event.acknowledgement_not_emailed, SYSTEM, "no email address for the customer")
            self._mark_met(AUTOMATIC_ACK, SYSTEM, "no email address: acknowledged by the channel")
            return
        agent = self.roster.get(s.handling_agent or "")
        context = {
            **self._mail_context(),
            "agent_name": agent.name if agent else "our Customer Care team",
            "estimated_resolution": self._local(s.estimated_resolution_at),
            "personal_within": format_duration(self.policy.acknowledgement.personal_within),
            "update_every": format_duration(self.policy.communication.customer_update_every),
        }

        async def sent(receipt: EmailReceipt) -> None:
            self.automatic_ack_body = receipt.body
            self._mark_met(AUTOMATIC_ACK, SYSTEM, f"emailed to {to}")

        self._email("acknowledgement", [to], "acknowledgement", context, then=sent,
                    with_body=True)

    # --- Phase 2: ownership -----------------------------------------------------------

    async def _take_ownership(self) -> None:
        """CRR-001 2.1: a dedicated owner, told everything; the 4-hour phone clock starts."""
        s = self.state
        profile = self.context.profile
        assignment = await self._call(
            StoreActivities.assign_owner,
            OwnerRequest(crn=s.crn, customer_csm=profile.csm if profile else None,
                         category=s.category),
            "Assign the owner (CSM, specialist or team lead)")
        s.status = Status.under_investigation
        if assignment is None:
            self._log(Event.owner_unassigned, SYSTEM, "nobody on the roster can own it")
            self._changed()
            return
        owner = assignment.owner
        self.roster[owner.id] = owner
        s.owner = owner.id
        how = {"csm": "the customer's CSM", "specialist": "specialist with the skill and the "
               "lightest workload", "team_lead": "nobody available: team lead"}[assignment.how]
        self._log(Event.owner_assigned, SYSTEM, f"{owner.name} ({owner.id}): {how}")
        phone_due = self._start_phone_clock()
        self._changed()
        self._email("owner_assigned", [owner.email], "owner_assigned", {
            **self._mail_context(), "owner_name": owner.name, "owner_id": owner.id, "how": how,
            "phone_by": self._local(phone_due), "received": self._local(s.received_at),
            "source": s.source.value, "description": self.intake.description,
            "profile": profile.model_dump(mode="json") if profile else None,
            "order": self.context.order.model_dump(mode="json") if self.context.order else None,
            "earlier": [c.model_dump(mode="json") for c in self.context.earlier_complaints],
        })
        if assignment.how == "team_lead":
            self._escalate(1, "no CSM or specialist available to own it", SYSTEM)

    def _start_phone_clock(self) -> datetime:
        assert self.policy is not None
        due = workflow.now() + self.policy.ownership.phone_contact_within
        self._start_deadline(ui.next_name(self.state, PHONE_CONTACT), due)
        return due

    # --- the customer-update clock (SOP 3: silence is not acceptable) -------------------

    def _start_update_clock(self, running: SlaClock | None) -> None:
        assert self.policy is not None
        comms = self.policy.communication

        def start_period(due: datetime, warn_at: datetime) -> SlaClock:
            return self._start_deadline(ui.next_name(self.state, CUSTOMER_UPDATE), due,
                                        warn_at=warn_at, watch=False)

        self.update_clock = CustomerUpdateClock(
            comms.customer_update_every, comms.warn_at, self.update_clock_state, start_period,
            current=lambda: self._clocks.get(ui.latest(self.state, CUSTOMER_UPDATE)),
            running=running)
        self._spawn(self.update_clock.run(), "the customer-update clock", watcher=True)

    def _customer_message(self, kind: str, message: str, member: StaffMember) -> None:
        """A substantive message to the customer: emailed, and the update clock restarts."""
        assert self.update_clock is not None
        to = self._customer_email()
        assert to is not None  # validators refuse when there is nowhere to write
        n = self.update_clock.restart(workflow.now())
        self._email(f"{kind}:{n}", [to], kind,
                    {**self._mail_context(), "message": message, "owner_name": member.name})
        self._mark_met(ui.latest(self.state, CUSTOMER_UPDATE), member.id, kind.replace("_", " "))

    def _pause_update_clock(self) -> None:
        assert self.update_clock is not None
        self.update_clock.pause(workflow.now())
        self._log(Event.update_clock_paused, SYSTEM, "waiting for the customer")

    def _resume_update_clock(self) -> None:
        assert self.update_clock is not None
        due = self.update_clock.resume(workflow.now())
        if due is not None:
            self._log(Event.update_clock_resumed, SYSTEM,
                      f"next customer update due {ui.clock(due)}", deadline=CUSTOMER_UPDATE)

    # --- Phase 3: asking the customer for the written sign-off ----------------------------

    def _ask_for_sign_off(self) -> None:
        """Once everything the customer agreed to is done (the fix deployed, the money
        applied), ask them for "Resolution Confirmed": by reply, or by the sign-off link the
        email activity adds. Once per agreement."""
        s = self.state
        if not workflow.patched(ASK_FOR_SIGN_OFF) or not rules.ready_for_sign_off(s):
            return
        agreed = [e.seq for e in s.timeline if e.event == Event.customer_agreed]
        asked = [e.seq for e in s.timeline if e.event == Event.sign_off_requested]
        to = self._customer_email()
        if not agreed or (asked and asked[-1] > agreed[-1]) or to is None:
            return
        self._log(Event.sign_off_requested, SYSTEM, f"asked {to} to reply \"Resolution Confirmed\"")
        self._email(f"sign_off_request:{len(agreed)}", [to], "sign_off_request",
                    {**self._mail_context(), "owner_name": self._name(s.owner)})
        self._changed()

    # --- Phases 2 and 3: until resolved, continuing as new when the history is long -----

    async def _until_resolved(self) -> None:
        def resolved() -> bool:
            return self.state.status == Status.resolved

        await workflow.wait_condition(lambda: resolved() or self._history_is_long())
        if resolved():
            return
        # Complaints that passed the bound before this code replay as they ran.
        if not workflow.patched(CONTINUE_AS_NEW):
            await workflow.wait_condition(resolved)
            return
        # Between tasks: no handler running, no email or write in flight.
        await workflow.wait_condition(lambda: resolved() or self._quiet())
        if resolved():
            return
        self._continue_as_new()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (info.get_current_history_length() >= HISTORY_EVENTS_BOUND
                or info.is_continue_as_new_suggested())

    def _quiet(self) -> bool:
        return (workflow.all_handlers_finished() and not self._dirty and not self._writing
                and not self._index_pending
                and all(t.done() for t in self._background if t not in self._watchers))

    def _continue_as_new(self) -> None:
        assert self.policy is not None
        self._flush_index()
        s = self.state
        recent = [e for i, e in enumerate(s.timeline)
                  if i >= len(s.timeline) - CARRIED_TIMELINE or e.seq > self._persisted_seq]
        carried = CarriedComplaint(
            state=s.model_copy(update={"timeline": recent}),
            policy=self.policy.model_dump(mode="json"), context=self.context,
            personal_ack=self.personal_ack, automatic_ack_body=self.automatic_ack_body,
            update_clock=self.update_clock_state, supervisor_acted=self.supervisor_acted,
            refunded_total=self.refunded_total, reassignments=self.reassignments,
            persisted_seq=self._persisted_seq,
            indexed=self._indexed, runs=self.runs + 1)
        workflow.continue_as_new(ComplaintStart(intake=self.intake, carried=carried),
                                 search_attributes=workflow.info().typed_search_attributes)

    def _resume(self) -> None:
        """A run continued as new: every clock picks up where the last run left it."""
        s, clock_state = self.state, self.update_clock_state
        latest_update = ui.latest(s, CUSTOMER_UPDATE)
        running = None
        for d in s.deadlines:
            clock = self._clock(d)
            if deadline_type(d.name) == CUSTOMER_UPDATE:
                # The update clock's current period (open, or breached and waiting for the
                # next update) goes back to it; older periods have ended.
                if (d.name == latest_update and not clock.settled and not clock_state.stopped
                        and clock_state.paused_with is None):
                    running = clock
            elif clock.open:
                self._spawn(clock.run(), f"the {d.name} deadline", watcher=True)
        if not clock_state.stopped:
            self._start_update_clock(running)
        self._log(Event.continued, SYSTEM, f"run {self.runs}: continued as new with its state, "
                  f"{len(s.deadlines)} deadlines and the last {len(s.timeline)} events (the "
                  "resolution log has them all)")
        self._changed()

    # --- Phase 4: post-mortem, then the archive -------------------------------------------

    async def _post_mortem(self) -> None:
        """CRR-001 phase 4: satisfaction survey, RCA (and KB article) before closing."""
        s = self.state
        self._spawn(self._survey(), "the satisfaction survey")
        await workflow.wait_condition(lambda: s.rca_submitted and s.kb_article != "open")
        s.phase, s.status, s.closed_at = Phase.closed, Status.closed, workflow.now()
        self._log(Event.closed, SYSTEM, "RCA done" + (", KB article written" if s.kb_article == "done" else ""))
        self._changed()

    async def _survey(self) -> None:
        assert self.policy is not None
        to = self._customer_email()
        if to is None:
            return
        context = {**self._mail_context(), "reminder": False}
        self._email("survey", [to], "survey", context)
        remind_at = workflow.now() + self.policy.lifecycle.survey_reminder_after
        # A withdrawal ends the wait: no reminder for a complaint the customer withdrew.
        if not await wait_until(lambda: self.state.csat_score is not None or self.withdrawn
                                or self.archive_requested, remind_at, "Survey reminder"):
            self._email("survey_reminder", [to], "survey", {**context, "reminder": True})

    async def _archive(self) -> None:
        """Seed 003 step 16: archived after the policy's retention period; the run ends."""
        assert self.policy is not None and self.state.closed_at is not None
        s = self.state
        keep = self.policy.lifecycle.archive_after
        # Withdrawn once closed (the customer's erasure, say): archived at once.
        await wait_until(lambda: self.archive_requested, s.closed_at + keep,
                         f"Archive after {format_duration(keep)}")
        # The last word on the row before the archive copies it.
        s.status, s.archived_at = Status.archived, workflow.now()
        self._log(Event.archived, SYSTEM, "moved out of the active queue")
        self._changed()
        await workflow.wait_condition(lambda: not self._dirty)
        await self._call(StoreActivities.archive_complaint, s.crn, f"Archive {s.crn}")
