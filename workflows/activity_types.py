"""The activities the workflows call, as typed signatures.

Workflow code calls these by reference (`workflow.execute_activity_method(
StoreActivities.save_progress, ...)`): the activity's name and its result type come from
the signature, not from a string and an `Any`. `activities/` implements each class (a
subclass with the same method names), so the worker registers what the workflows call and
the workflows never import a database or SMTP library. The report workflow's two
activities are declared beside it, in `workflows/report.py`.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from workflows.messages import (
    AgentRequest,
    ComplaintProgress,
    ContextRequest,
    EmailReceipt,
    EmailRequest,
    InboundDecision,
    InboundOutcome,
    NoteToStore,
    OwnerAssignment,
    OwnerRequest,
    RefundApplication,
)
from workflows.policy import SlaPolicy
from workflows.records import ComplaintContext, StaffMember


class PolicyActivities:
    @activity.defn
    async def snapshot_sla_policy(self, received_at: datetime) -> SlaPolicy:
        """The worker's configured policy as this complaint keeps it for its whole life."""
        raise NotImplementedError


class StoreActivities:
    @activity.defn
    async def fetch_complaint_context(self, req: ContextRequest) -> ComplaintContext:
        """Customer profile, order, earlier complaints and the roster."""
        raise NotImplementedError

    @activity.defn
    async def assign_handling_agent(self, req: AgentRequest) -> StaffMember | None:
        raise NotImplementedError

    @activity.defn
    async def assign_owner(self, req: OwnerRequest) -> OwnerAssignment | None:
        raise NotImplementedError

    @activity.defn
    async def save_progress(self, progress: ComplaintProgress) -> None:
        """The complaint's row and its new resolution-log events, idempotently."""
        raise NotImplementedError

    @activity.defn
    async def archive_complaint(self, crn: str) -> None:
        raise NotImplementedError


class NoteActivities:
    @activity.defn
    async def store_note(self, note: NoteToStore) -> int:
        """Keep an internal note's body in PostgreSQL, once per request; returns its id."""
        raise NotImplementedError


class EmailActivities:
    @activity.defn
    async def send_email(self, req: EmailRequest) -> EmailReceipt:
        """Render and send once (the outbox is keyed by CRN and kind)."""
        raise NotImplementedError


class RefundActivities:
    @activity.defn
    async def apply_refund(self, refund: RefundApplication) -> str:
        """Credit the customer's account once; returns the credit note's id."""
        raise NotImplementedError



class InboundActivities:
    @activity.defn
    async def read_inbound(self, message_id: str) -> InboundDecision:
        """Parse a stored inbound email and thread it: a new complaint, a reply, or nothing."""
        raise NotImplementedError

    @activity.defn
    async def deliver_reply(self, decision: InboundDecision) -> InboundOutcome:
        """The customer's reply as their own action on the complaint (once per message)."""
        raise NotImplementedError

    @activity.defn
    async def record_inbound_outcome(self, outcome: InboundOutcome) -> None:
        raise NotImplementedError
