"""The complaint changes hands: the L1 agent's personal acknowledgement ends phase 1, a
dedicated owner takes it (CRR-001 phase 2) with the 4-hour phone-contact clock, the call
itself, and a team lead's reassignment to a new owner.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.activity_types import StoreActivities
    from workflows.complaint import presentation as ui
    from workflows.complaint.case import SYSTEM, Case
    from workflows.complaint.deadlines import Deadlines
    from workflows.complaint.effects import Effects
    from workflows.complaint.escalation import Escalation
    from workflows.events import PERSONAL_ACK, PHONE_CONTACT, Event
    from workflows.messages import OwnerRequest
    from workflows.models import (
        PersonalAcknowledgement,
        Phase,
        PhoneContact,
        Reassignment,
        Status,
    )

excerpt = ui.excerpt


class Ownership:
    def __init__(self, case: Case, effects: Effects, deadlines: Deadlines,
                 escalation: Escalation) -> None:
        self.case = case
        self.effects = effects
        self.deadlines = deadlines
        self.escalation = escalation

    def acknowledge_personally(self, ack: PersonalAcknowledgement) -> None:
        """The L1 agent's own words to the customer: phase 1 ends, on time or late."""
        case = self.case
        s = case.state
        case.personal_ack = ack
        member = self.escalation.acted(ack.actor)
        assert member is not None  # staff only (rules.acknowledge_personally)
        deadline = s.deadline(PERSONAL_ACK)
        late = deadline is not None and deadline.breached
        self.deadlines.mark_met(PERSONAL_ACK, ack.actor, "late" if late else "on time")
        s.status, s.phase = Status.acknowledged, Phase.ownership
        to = case.customer_email()
        if to:
            self.effects.email("personal_acknowledgement", [to], "personal_acknowledgement",
                               {**case.mail_context(), "message": ack.message,
                                "agent_name": member.name})
        case.log(Event.acknowledged_personally, ack.actor,
                 ("late: " if late else "") + excerpt(ack.message),
                 outcome="late" if late else "on_time")
        self.effects.changed()

    async def take(self) -> None:
        """CRR-001 2.1: a dedicated owner, told everything; the 4-hour phone clock starts."""
        case = self.case
        s = case.state
        profile = case.context.profile
        assignment = await self.effects.call(
            StoreActivities.assign_owner,
            OwnerRequest(crn=s.crn, customer_csm=profile.csm if profile else None,
                         category=s.category),
            "Assign the owner (CSM, specialist or team lead)")
        s.status = Status.under_investigation
        if assignment is None:
            case.log(Event.owner_unassigned, SYSTEM, "nobody on the roster can own it")
            self.effects.changed()
            return
        owner = assignment.owner
        case.roster[owner.id] = owner
        s.owner = owner.id
        how = {"csm": "the customer's CSM", "specialist": "specialist with the skill and the "
               "lightest workload", "team_lead": "nobody available: team lead"}[assignment.how]
        case.log(Event.owner_assigned, SYSTEM, f"{owner.name} ({owner.id}): {how}")
        phone_due = self._start_phone_clock()
        self.effects.changed()
        order = case.context.order
        self.effects.email("owner_assigned", [owner.email], "owner_assigned", {
            **case.mail_context(), "owner_name": owner.name, "owner_id": owner.id, "how": how,
            "phone_by": case.local(phone_due), "received": case.local(s.received_at),
            "source": s.source.value, "description": case.intake.description,
            "profile": profile.model_dump(mode="json") if profile else None,
            "order": order.model_dump(mode="json") if order else None,
            "earlier": [c.model_dump(mode="json") for c in case.context.earlier_complaints],
        })
        if assignment.how == "team_lead":
            self.escalation.escalate(1, "no CSM or specialist available to own it", SYSTEM)

    def _start_phone_clock(self) -> datetime:
        due = workflow.now() + self.case.policy_now.ownership.phone_contact_within
        self.deadlines.start(ui.next_name(self.case.state, PHONE_CONTACT), due)
        return due

    def record_phone_contact(self, call: PhoneContact) -> None:
        case = self.case
        self.escalation.acted(call.actor)
        if call.reached:
            case.state.phone_contact_made = True
            self.deadlines.mark_met(ui.latest(case.state, PHONE_CONTACT), call.actor,
                                    "customer reached")
            case.log(Event.phone_contact, call.actor,
                     f"reached: {excerpt(call.summary)}; "
                     f"expectations: {excerpt(call.expectations)}",
                     outcome="reached")
        else:  # logged, but an unanswered call does not meet the deadline
            case.log(Event.phone_attempt, call.actor, f"not reached: {excerpt(call.summary)}",
                     outcome="not_reached")
        self.effects.changed()

    def reassign(self, request: Reassignment) -> None:
        case = self.case
        policy, s = case.policy_now, case.state
        actor = self.escalation.acted(request.actor)
        assert actor is not None  # a team lead (rules.reassign)
        old, new = case.roster.get(s.owner or ""), case.roster[request.owner]
        s.owner = new.id
        phone_by = None
        if (s.phase in ui.ACTIVE_PHASES and not s.phone_contact_made
                and policy.ownership.reassignment_restarts_phone_contact):
            current = s.deadline(ui.latest(s, PHONE_CONTACT))
            if current is not None and current.met_at is None:
                current.superseded = True  # the new owner gets a fresh clock
            phone_by = case.local(self._start_phone_clock())
        case.log(Event.reassigned, request.actor,
                 f"from {old.id if old else 'nobody'} to {new.id}"
                 + (f"; phone contact due {phone_by}" if phone_by else ""))
        context = {**case.mail_context(), "actor_name": actor.name,
                   "old_owner_name": old.name if old else "nobody", "new_owner_name": new.name,
                   "phone_by": phone_by}
        case.reassignments += 1
        n = case.reassignments
        self.effects.email(f"reassigned:{n}:new", [new.email], "reassigned",
                           {**context, "to_new": True, "recipient_name": new.name})
        if old is not None:
            self.effects.email(f"reassigned:{n}:old", [old.email], "reassigned",
                               {**context, "to_new": False, "recipient_name": old.name})
        self.effects.changed()
