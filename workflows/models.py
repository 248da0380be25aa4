"""The public contract: every model that crosses the workflow boundary.

Intake systems, the CLI, the worker and the activities all import these, so a
field name here is a promise to other systems (docs/design.md, the public contract).
Pure pydantic: no I/O, safe inside the workflow sandbox.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

MAX_TEXT_BYTES = 64 * 1024


def _within_text_limit(value: str) -> str:
    size = len(value.encode("utf-8"))
    if size > MAX_TEXT_BYTES:
        raise ValueError(f"is {size} bytes; the limit is {MAX_TEXT_BYTES} bytes (64 KiB)")
    return value


# A required, trimmed, non-empty line of text (ids, references, subjects).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
# Free text written by a person: required, non-empty, at most 64 KiB.
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_within_text_limit)
]
OptionalText = Annotated[str, AfterValidator(_within_text_limit)]
# A language tag (BCP 47's common forms: `de`, `de-AT`, `zh-Hant-TW`): the language a
# complaint's customer is written to in (docs/languages.md; English when none is known or
# no catalog ships for it).
LanguageTag = Annotated[str, StringConstraints(
    strip_whitespace=True, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$")]


class Model(BaseModel):
    """Strict by default: an unknown field is a typo in a caller, not data to drop."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- vocabularies -----------------------------------------------------------


class Source(StrEnum):
    email = "email"
    web = "web"
    phone = "phone"
    api = "api"


class Category(StrEnum):
    technical_bug = "technical_bug"
    billing_dispute = "billing_dispute"
    data_inaccuracy = "data_inaccuracy"
    feature_request = "feature_request"
    service_deficiency = "service_deficiency"


class Impact(StrEnum):
    many_users = "many_users"
    single_client = "single_client"
    partial = "partial"
    minor = "minor"


class Phase(StrEnum):
    triage = "triage"
    ownership = "ownership"
    resolution = "resolution"
    post_mortem = "post_mortem"
    closed = "closed"


class Status(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    under_investigation = "under_investigation"
    awaiting_customer = "awaiting_customer"
    awaiting_approval = "awaiting_approval"
    fix_in_progress = "fix_in_progress"
    resolved = "resolved"
    closed = "closed"
    archived = "archived"


class Role(StrEnum):
    agent = "agent"
    specialist = "specialist"
    csm = "csm"
    team_lead = "team_lead"
    head_of_cs = "head_of_cs"
    finance_manager = "finance_manager"
    qa = "qa"
    rnd = "rnd"
    # Reads histories in clear through the codec server; takes no complaint action.
    engineer = "engineer"


class StepKind(StrEnum):
    technical_fix = "technical_fix"
    process_change = "process_change"
    credit_offer = "credit_offer"
    refund = "refund"
    replacement = "replacement"


# --- intake -----------------------------------------------------------------


class CustomerRef(Model):
    id: Name
    name: Name | None = None
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None


class IntakeFlags(Model):
    threatens_termination: bool = False
    requests_manager: bool = False
    legal_or_compliance: bool = False


class AttachmentInfo(Model):
    """A file that came with the complaint (the email gateway keeps the file itself)."""

    filename: str | None = None
    content_type: str
    size: int = Field(ge=0)


class ComplaintIntake(Model):
    """What an intake system (email gateway, web form, phone desk) submits."""

    source: Source
    external_ref: Name
    customer: CustomerRef
    subject: Name
    description: Text
    category: Category | None = None
    impact: Impact | None = None
    order_id: Name | None = None
    flags: IntakeFlags = Field(default_factory=IntakeFlags)
    received_at: AwareDatetime | None = None
    attachments: list[AttachmentInfo] = Field(default_factory=list, max_length=200)
    # The customer's language, when the intake knows it (a web form's choice, the email's
    # Content-Language); else the customer's profile decides. Left out of the JSON when unset.
    language: LanguageTag | None = Field(default=None, exclude_if=lambda value: value is None)


# --- actions (updates and the signal); each carries its actor --------------


class Action(Model):
    actor: Name


class PersonalAcknowledgement(Action):
    message: Text


class PhoneContact(Action):
    reached: bool
    summary: Text
    expectations: OptionalText = ""


class InvestigationChecklist(Model):
    history_reviewed: bool = False
    issue_verified: bool = False
    order_checked: bool = False


class InternalReview(Action):
    root_cause: Text
    process_failure: Text
    communication_failure: Text
    checklist: InvestigationChecklist = Field(default_factory=InvestigationChecklist)


class PlanStep(Model):
    kind: StepKind
    description: Text
    amount: Decimal | None = Field(default=None, gt=0)
    # Refunds and credits are in the order's currency; naming another one is refused.
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None


class ActionPlan(Action):
    steps: list[PlanStep] = Field(min_length=1)
    estimated_resolution_at: AwareDatetime | None = None


class FixDeployed(Action):
    reference: Name


class CustomerUpdate(Action):
    message: Text
    # A holding response: the firm needs longer and says why; where a regulator allows it
    # (the policy's [regulatory] extended_final_response_within) the final-response clock
    # moves to the extended limit.
    holding: bool = False


class SolutionProposal(Action):
    message: Text


class CustomerResponse(Action):
    agrees: bool | None = None
    message: OptionalText = ""
    # False: it came by email from a sender nothing authenticated (the timeline says so);
    # None for every other way in (pages, API, staff) and for replies recorded before.
    authenticated: bool | None = None


class ResolutionConfirmation(Action):
    confirmation_text: Text


class RootCauseAnalysis(Action):
    root_cause: Text
    process_failures: list[Name] = Field(min_length=1)
    corrective_actions: list[Name] = Field(min_length=1)
    kb_article_needed: bool


class CsatResponse(Action):
    score: int = Field(ge=1, le=5)
    comment: OptionalText = ""


class EscalationRequest(Action):
    reason: Text


class Reassignment(Action):
    owner: Name


class Note(Action):
    """An internal note for colleagues: never emailed to the customer, never on their page.
    `mentions` (roster ids; `@id` in the text counts too) are emailed a link to it."""

    text: Text
    mentions: list[Name] = Field(default_factory=list, max_length=50)


class RefundDecision(Action):
    approved: bool
    amount: Decimal = Field(ge=0)
    note: OptionalText = ""


class Rekey(Action):
    """Continue as new at the next quiet point, so that the complaint's payloads are
    written again under the first of PAYLOAD_ENCRYPTION_KEYS and an old key can be retired
    (`complaints rekey`). `actor`: an engineer or the head of customer success."""


class Withdrawal(Action):
    """The complaint withdrawn at the customer's request: it ends, closed, every
    clock cancelled, nothing more emailed. `actor` is the customer (`customer:<id>`), a team
    lead or the head of customer success; `recorded_by` names whoever entered a customer's
    own request for them (the operator of `complaints erase --withdraw-open`)."""

    reason: Text
    recorded_by: Name | None = None


# --- the complaint's state, as the `status` query returns it ----------------


class Deadline(Model):
    name: str
    due_at: datetime
    met_at: datetime | None = None
    breached: bool = False
    breached_at: datetime | None = None
    warned_at: datetime | None = None
    superseded: bool = False  # replaced by a newer clock (reassignment, clock stopped)
    summary: str = ""
    warn_at: datetime | None = None  # when the 75% warning falls, for clocks that warn


def _typed_field() -> Any:
    return Field(default=None, exclude_if=lambda value: value is None)


class TimelineEvent(Model):
    """One entry of the resolution log. `detail` is for people; the typed fields are what
    metrics, the what-if and the API read (where they apply to the event)."""

    seq: int
    at: datetime
    event: str  # a workflows.events.Event
    actor: str
    detail: str = ""
    # Left out of the JSON when empty: every update's reply carries the recent timeline
    # into history, and the nulls of the fields an event does not have would add up there.
    deadline: str | None = _typed_field()  # the deadline it is about (deadline_*; an escalation's clock)
    level: int | None = _typed_field()  # escalation level (escalated)
    reason: str | None = _typed_field()  # why (escalated; a refused refund decision)
    outcome: str | None = _typed_field()  # how it ended (deadline_met: met / met_late; refunds...)
    amount: Decimal | None = _typed_field()  # money (refund_*), in `currency`
    currency: str | None = _typed_field()


class RefundStatus(StrEnum):
    """Where the current plan's refund stands (`RefundState.status`)."""

    none = "none"  # the plan has no money in it (or none agreed yet)
    pending_approval = "pending_approval"  # at or above the threshold: the Finance Manager decides
    approved = "approved"  # approved (or within the owner's authority), being credited
    applied = "applied"  # credited: the credit note is issued
    rejected = "rejected"  # the Finance Manager said no: a new plan is needed
    withdrawn = "withdrawn"  # the complaint was withdrawn while it awaited a decision


class FixStatus(StrEnum):
    """The technical fix the customer agreed to (`ComplaintState.fix`)."""

    none = "none"  # the plan has no technical fix (or none agreed yet)
    open = "open"  # R&D has the task
    deployed = "deployed"


class KbArticleStatus(StrEnum):
    """The knowledge base article an RCA may ask for (`ComplaintState.kb_article`)."""

    not_needed = "not_needed"
    open = "open"  # the RCA asked for one; closing waits for it
    done = "done"


class RefundState(Model):
    """The money path of the current plan (`RefundStatus`). `maximum` is what the order
    allows (net + tax - earlier credit notes)."""

    status: RefundStatus = RefundStatus.none
    refund_id: int = 0
    amount: Decimal | None = None
    currency: str | None = None
    maximum: Decimal | None = None
    computation: str = ""
    approver: str | None = None
    note: str = ""
    credit_note: str | None = None
    # What the money is for, when not the plan's refund and credit steps (final response
    # redress); left out of the JSON when empty, as it was before it existed.
    reasons: list[str] = Field(default_factory=list, exclude_if=lambda value: not value)


class ComplaintOutcome(StrEnum):
    """How a complaint ended (`ComplaintState.outcome`)."""

    confirmed = "confirmed"  # resolved: the customer's written "Resolution Confirmed"
    unconfirmed = "unconfirmed"  # resolved: the customer never signed off (sign_off_wait)
    upheld = "upheld"  # resolved by a final response (`issue_final_response`)
    partly_upheld = "partly_upheld"
    not_upheld = "not_upheld"
    withdrawn = "withdrawn"  # withdrawn at the customer's request (the `withdraw` update)
    dismissed = "dismissed"  # not a complaint: spam, misrouted, a duplicate (`dismiss`)

    @property
    def ends_early(self) -> bool:
        """Closed without a resolution: it takes no more actions, and its run ends."""
        return self in (ComplaintOutcome.withdrawn, ComplaintOutcome.dismissed)

    @property
    def by_final_response(self) -> bool:
        return self in FINAL_RESPONSE_OUTCOMES


class FinalOutcome(StrEnum):
    """What a final response decides about the complaint."""

    upheld = "upheld"
    partly_upheld = "partly_upheld"
    not_upheld = "not_upheld"


FINAL_RESPONSE_OUTCOMES = frozenset({ComplaintOutcome.upheld, ComplaintOutcome.partly_upheld,
                                     ComplaintOutcome.not_upheld})


class DismissalReason(StrEnum):
    spam = "spam"
    not_a_complaint = "not_a_complaint"  # a misrouted enquiry, a question
    duplicate = "duplicate"  # the same complaint again: `duplicate_of` names the original


class ComplaintState(Model):
    crn: str
    source: Source
    external_ref: str
    customer_id: str
    subject: str
    received_at: datetime
    phase: Phase = Phase.triage
    status: Status = Status.new
    severity: int = 4
    severity_score: int = 0
    category: Category | None = None
    impact: Impact | None = None
    owner: str | None = None
    handling_agent: str | None = None
    escalation_level: int = 0
    retention_risk: bool = False
    retention_risk_reasons: list[str] = Field(default_factory=list)
    sla_breached: bool = False
    recurrent_of: str | None = None
    policy_name: str = ""
    estimated_resolution_at: datetime | None = None
    deadlines: list[Deadline] = Field(default_factory=list)
    waiting_for: list[str] = Field(default_factory=list)
    refund: RefundState = Field(default_factory=RefundState)
    phone_contact_made: bool = False
    internal_review_complete: bool = False
    action_plan: list[PlanStep] = Field(default_factory=list)
    customer_agreed: bool | None = None
    fix: FixStatus = FixStatus.none
    rca_submitted: bool = False
    kb_article: KbArticleStatus = KbArticleStatus.not_needed
    csat_score: int | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    archived_at: datetime | None = None
    # Set when it ends otherwise than resolved (withdrawn); left out of the JSON until then,
    # so payloads of complaints that never set it read as they always did.
    outcome: ComplaintOutcome | None = _typed_field()
    # Proposals the customer refused; at the policy's max_proposals the owner is asked for a
    # final response.
    proposals_refused: int = 0
    # Dismissed as a duplicate of this complaint: the customer's later mail goes there.
    duplicate_of: str | None = _typed_field()
    # The language the customer is written to in (the intake's, else their profile's; None:
    # English), set at intake and carried with the case (docs/languages.md).
    language: str | None = _typed_field()
    # The whole timeline; after a long life continued as new, the most recent events (the
    # first one's `seq` says where it starts; the resolution log in PostgreSQL has them all).
    timeline: list[TimelineEvent] = Field(default_factory=list)

    def deadline(self, name: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.name == name), None)


class NextDeadline(Model):
    name: str
    due_at: datetime


class ComplaintReceipt(Model):
    """What an update (and the run, when it ends) returns: where the complaint stands after
    it. Update results stay in history for the complaint's whole life, so this is kept
    small; the whole state, timeline and all, is the `status` query's."""

    crn: str
    status: Status
    phase: Phase
    next_deadline: NextDeadline | None = None
    last_event_seq: int = 0  # the timeline's last event after the action
    outcome: ComplaintOutcome | None = Field(default=None, exclude_if=lambda value: value is None)


class FinalResponse(Action):
    """The firm's final answer (deadlock, or a regulator's limit): the letter emailed to the
    customer with the policy's referral rights, the outcome recorded, every clock ended.
    `redress` is credited through the refund path and its approval rules."""

    outcome: FinalOutcome
    message: Text
    redress: Decimal | None = Field(default=None, gt=0)


class Dismissal(Action):
    """Not a complaint: closed at once, every clock cancelled, nothing sent to the sender
    (for `not_a_complaint`, `send_note` sends a short polite note from a template)."""

    reason: DismissalReason
    note: OptionalText = ""
    duplicate_of: Name | None = None
    send_note: bool = False

    @model_validator(mode="after")
    def _duplicate_names_the_original(self) -> Dismissal:
        if (self.reason == DismissalReason.duplicate) != (self.duplicate_of is not None):
            raise ValueError("duplicate_of names the original complaint, for reason "
                             "'duplicate' only")
        return self


class KbArticleDone(Action):
    """Not in the original contract: closes the KB article task an RCA opened."""

    reference: Name


# --- the complaint reference ------------------------------------------------


def complaint_reference(source: Source | str, external_ref: str) -> str:
    """The CRN for an intake: derived from (source, external_ref), so the same complaint
    submitted twice gets the same CRN, which is also its workflow id."""
    import base64
    import hashlib

    digest = hashlib.sha256(f"{Source(source).value}\x1f{external_ref.strip()}".encode()).digest()
    return "CRN-" + base64.b32encode(digest).decode()[:10]
