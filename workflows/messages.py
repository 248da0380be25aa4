"""What the workflows and their activities pass each other: activity inputs and results,
the complaint workflow's input and what continue-as-new carries, the email channel's
decisions. Not the public contract (that is `workflows/models.py`); built on its models.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from workflows.models import (
    Category,
    ComplaintIntake,
    ComplaintState,
    Impact,
    Model,
    PersonalAcknowledgement,
    Phase,
    Source,
    Status,
    TimelineEvent,
)
from workflows.policy import SlaPolicy
from workflows.records import ComplaintContext, StaffMember


class ClearText(str):
    """A summary on a timer or an activity, which the payload codec leaves unencrypted
    (settings/codec.py), so the Temporal UI and `temporal workflow show` read it without the
    codec server. Never personal data: deadline names and times, activity names, staff ids;
    tests/test_encryption.py searches every one in a complaint's history."""

    __slots__ = ()


# --- activity inputs ---------------------------------------------------------


class ComplaintRecord(Model):
    """The complaint's row in PostgreSQL, or what changed in it: written by the workflow
    through an activity.

    Only the fields set are sent (and written). A run's first write sets them all, with
    what the row is inserted with and never changes (source ... received_at); each later
    write sets only what changed since the one before. Every write is an activity input
    kept in history, and the whole row, description and all, would otherwise be sent a
    dozen times."""

    crn: str
    source: Source | None = None
    external_ref: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    subject: str | None = None
    description: str | None = None
    category: Category | None = None
    impact: Impact | None = None
    order_id: str | None = None
    severity: int | None = None
    severity_score: int | None = None
    status: Status | None = None
    phase: Phase | None = None
    owner: str | None = None
    handling_agent: str | None = None
    escalation_level: int | None = None
    retention_risk: bool | None = None
    sla_breached: bool | None = None
    recurrent_of: str | None = None
    policy_name: str | None = None
    received_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    archived_at: datetime | None = None
    csat_score: int | None = None
    # withdrawn (ComplaintState.outcome); left out of the JSON when not set.
    outcome: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # A duplicate's original (dismissed as a duplicate): its later mail threads there.
    duplicate_of: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # The policy version at intake, and one applied later to the open complaint.
    policy_version: str | None = Field(default=None, exclude_if=lambda value: value is None)
    adopted_policy_version: str | None = Field(default=None,
                                               exclude_if=lambda value: value is None)
    # What the queue sorts and filters on: the next open deadline (instant and name), the
    # owner's team, since when it waits on the customer.
    next_deadline_at: datetime | None = None
    next_deadline: str | None = None
    team: str | None = None
    paused_since: datetime | None = None

    @model_serializer(mode="wrap")
    def _only_what_is_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}

    @property
    def inserts(self) -> bool:
        """Whether this write carries what inserting the row takes (a run's first write)."""
        return "source" in self.model_fields_set

    def changed(self) -> dict[str, Any]:
        """The columns this write sets, with their values as PostgreSQL takes them."""
        return {k: v.value if isinstance(v, StrEnum) else v
                for k, v in self if k in self.model_fields_set and k != "crn"}


class ComplaintProgress(Model):
    """One write of the resolution log: the row as it is now and the events since the last write."""

    record: ComplaintRecord
    events: list[TimelineEvent] = Field(default_factory=list)


class EmailRequest(Model):
    """One email, sent at most once per (crn, kind): the outbox key."""

    crn: str
    kind: str
    to: list[str] = Field(min_length=1)
    template: str
    context: dict[str, Any] = Field(default_factory=dict)
    # Whether the receipt carries the rendered subject and body back (it stays in history;
    # only the automatic acknowledgement's is read, by the personal acknowledgement's check).
    with_body: bool = True
    # The complaint's language (docs/languages.md): the customer's templates render in it;
    # staff emails are English whatever it says. Left out of the JSON when unset.
    language: str | None = Field(default=None, exclude_if=lambda value: value is None)


class NoteToStore(Model):
    """An internal note's body for PostgreSQL (`notes`); `request_id` (the add_note update's
    id) makes a retried store one note."""

    crn: str
    request_id: str
    author: str
    text: str
    mentions: list[str] = Field(default_factory=list)


class ContextRequest(Model):
    crn: str
    customer_id: str
    order_id: str | None = None
    received_at: datetime
    repeat_window_days: int


class AgentRequest(Model):
    crn: str
    category: Category | None = None


class EmailReceipt(Model):
    # "sent", "already sent", "suppressed" (the hourly cap on automatic mail) or "coalesced"
    # (a staff alert past the policy's [digest] threshold: in the recipient's digest)
    status: str
    # These two when the request asked for them; left out of the JSON (and so of the
    # history) when empty.
    subject: str = Field(default="", exclude_if=lambda value: not value)
    body: str = Field(default="", exclude_if=lambda value: not value)


# --- starting a complaint -----------------------------------------------------


class UpdateClockState(Model):
    """The customer-update clock as continue-as-new carries it."""

    due: datetime | None = None
    paused_with: timedelta | None = None  # time left when it paused for the customer
    sent: int = 0  # substantive messages sent (numbers their outbox keys)
    stopped: bool = False


class CarriedComplaint(Model):
    """Everything a complaint's run owns beside its intake, carried whole into the next run
    by continue-as-new: the state, the policy snapshot, what it read at intake, the clocks.
    The workflow holds it as its `Case` (workflows/complaint/case.py): a field added here is
    carried with no copying code."""

    state: ComplaintState
    policy: SlaPolicy | None = None  # snapshotted at registration
    context: ComplaintContext = Field(default_factory=ComplaintContext)
    registered: bool = True  # False only while the first run registers it
    archive_requested: bool = False  # withdrawn once closed: archived at once
    personal_ack: PersonalAcknowledgement | None = None
    automatic_ack_body: str | None = None
    update_clock: UpdateClockState = Field(default_factory=UpdateClockState)
    supervisor_acted: dict[int, bool] = Field(default_factory=dict)
    refunded_total: Decimal = Decimal(0)
    reassignments: int = 0  # numbers the reassignment emails' outbox keys
    persisted_seq: int = 0
    indexed: dict[str, Any] = Field(default_factory=dict)
    runs: int = 1  # this complaint's runs so far, the carried one included


class ComplaintStart(Model):
    """The workflow's input: the intake, and what continue-as-new carries over."""

    intake: ComplaintIntake
    carried: CarriedComplaint | None = None


class OwnerRequest(Model):
    crn: str
    customer_csm: str | None = None
    category: Category | None = None
    # A reopened complaint keeps this owner while they are available (how: "kept").
    keep: str | None = Field(default=None, exclude_if=lambda value: value is None)


class OwnerAssignment(Model):
    owner: StaffMember
    how: str  # "csm", "specialist" or "team_lead" (nobody available)


class RefundApplication(Model):
    """Credit the customer's account and record a credit note, exactly once per refund."""

    crn: str
    refund_id: int
    customer_id: str
    order_id: str
    amount: Decimal
    currency: str
    approved_by: str | None = None


# --- the email channel ----------------------------------------------------------


class InboundDecision(Model):
    """What an inbound email is, once read and threaded (activities/inbound.py)."""

    message_id: str
    kind: str  # new_complaint | reply | ignored | failed
    detail: str = ""
    crn: str | None = None  # the complaint it starts or answers
    customer_id: str | None = None
    text: str = ""  # quoted reply and signature stripped
    confirms_resolution: bool = False  # its first line is "Resolution Confirmed", not negated
    intake: ComplaintIntake | None = None  # for a new complaint
    authenticated: bool = False  # its From domain passed DMARC (mail/auth.py)


class InboundOutcome(Model):
    """What became of an inbound email (kept on its row; `complaints inbound list`)."""

    message_id: str
    # new_complaint | reply | sign_off | reopened | suspended (a person decides: nothing could
    # take it) | ignored | failed; follow_up (between activities only: it starts a new
    # complaint linked to `crn`, closed past reopening). Older rows may say `refused`.
    outcome: str
    crn: str | None = None
    detail: str = ""
    # An unauthenticated sign-off: the customer (this address, this name) is sent a signed
    # one-use link to confirm it on the sign-off page, which then counts.
    confirm_to: str | None = None
    customer_name: str | None = None
    # The complaint's language, which that email is written in; left out of the JSON unset.
    language: str | None = Field(default=None, exclude_if=lambda value: value is None)


class StaffDigestStart(Model):
    """One recipient's digest for one window (workflows/digest.py): the window's row in
    PostgreSQL holds what it lists; the workflow only waits for `closes_at`."""

    window_id: int
    closes_at: datetime
