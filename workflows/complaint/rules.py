"""What each update checks before it is accepted: pure functions over the complaint.

The workflow's validators call these; each raises a refusal (workflows/refusals.py: one
type per kind, the message the reason a person can act on), and a refused update never
reaches history. They read `ActionFacts` (the state and the few facts beside it), so they
are unit-tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from workflows.complaint import money
from workflows.complaint.presentation import ACTIVE_PHASES, same_text
from workflows.events import Event
from workflows.models import (
    ActionPlan,
    ComplaintOutcome,
    ComplaintState,
    CsatResponse,
    CustomerResponse,
    CustomerUpdate,
    Dismissal,
    EscalationRequest,
    FinalOutcome,
    FinalResponse,
    FixDeployed,
    FixStatus,
    InternalReview,
    KbArticleDone,
    KbArticleStatus,
    Note,
    PersonalAcknowledgement,
    Phase,
    PhoneContact,
    PlanStep,
    Reassignment,
    RefundDecision,
    RefundStatus,
    Rekey,
    ResolutionConfirmation,
    Role,
    RootCauseAnalysis,
    SolutionProposal,
    Status,
    StepKind,
    Withdrawal,
)
from workflows.permissions import (
    PAYLOAD_READERS,
    SUPERVISORS,
    check_actor,
    check_customer,
    is_customer_actor,
)
from workflows.policy import SlaPolicy
from workflows.records import Order, StaffMember
from workflows.refusals import (
    AlreadyDismissed,
    AlreadyDone,
    AlreadyWithdrawn,
    ComplaintClosed,
    InvalidValue,
    NoCustomerEmail,
    NotPermitted,
    NotReady,
    StillRegistering,
    UnknownStaff,
    WrongPhase,
)

RESOLUTION_PHRASE = "resolution confirmed"
OWNER_ROLES = (Role.specialist, Role.csm, Role.team_lead, Role.head_of_cs)
ANY_OPEN_PHASE = (Phase.triage, Phase.ownership, Phase.resolution, Phase.post_mortem)
# A refund the customer agreed to that is not credited yet: sign-off waits for it.
REFUND_UNDER_WAY = (RefundStatus.pending_approval, RefundStatus.approved)


@dataclass(frozen=True)
class ActionFacts:
    """What the rules read: the complaint's state, and what the workflow knows beside it
    (its roster, whether registration finished, the acknowledgements, the customer's email,
    the order and what was refunded)."""

    state: ComplaintState
    roster: Mapping[str, StaffMember] = field(default_factory=dict)
    registered: bool = True
    personal_ack_by: str | None = None
    automatic_ack_body: str | None = None
    customer_email: str | None = None
    order: Order | None = None
    refunded: Decimal = Decimal(0)  # what this complaint already credited to the order
    policy: SlaPolicy | None = None  # the complaint's snapshot, once registered


# --- shared checks ---------------------------------------------------------------


def registered(c: ActionFacts) -> None:
    outcome = c.state.outcome
    if outcome == ComplaintOutcome.withdrawn:
        raise AlreadyWithdrawn("the complaint was withdrawn at the customer's request; it "
                               "takes no more actions")
    if outcome == ComplaintOutcome.dismissed:
        raise AlreadyDismissed("the complaint was dismissed (not a complaint); it takes no "
                               "more actions")
    if not c.registered:
        raise StillRegistering("the complaint is still being registered; try again in a moment")


def in_phase(c: ActionFacts, action: str, phases: tuple[Phase, ...]) -> None:
    s = c.state
    if s.status == Status.archived:
        raise ComplaintClosed(
            f"the complaint is archived; it takes no {action.replace('_', ' ')}")
    if s.phase not in phases:
        allowed = " or ".join(p.value for p in phases)
        raise WrongPhase(f"{action.replace('_', ' ')} is for the {allowed} phase; "
                         f"this complaint is in {s.phase.value}")


def action_by_role(c: ActionFacts, action: str, actor: str, phases: tuple[Phase, ...]) -> None:
    registered(c)
    check_actor(action, actor, dict(c.roster))
    in_phase(c, action, phases)


def owner_action(c: ActionFacts, action: str, actor: str, phases: tuple[Phase, ...]) -> None:
    registered(c)
    in_phase(c, action, phases)
    if c.state.owner is None:
        raise NotReady("no owner is assigned yet")
    check_actor(action, actor, dict(c.roster), owner=c.state.owner)


def customer_or_role(c: ActionFacts, action: str, actor: str, phases: tuple[Phase, ...]) -> None:
    """The complaint's own customer (the channel actor), or staff whose role may."""
    if not is_customer_actor(actor):
        action_by_role(c, action, actor, phases)
        return
    registered(c)
    check_customer(action, actor, c.state.customer_id)
    in_phase(c, action, phases)


def owner_or_role(c: ActionFacts, action: str, actor: str) -> None:
    """The owner, or anyone whose role may take the action (R&D deploying a fix)."""
    registered(c)
    if actor != c.state.owner:
        check_actor(action, actor, dict(c.roster))


def customer_reachable(c: ActionFacts) -> None:
    if c.customer_email is None:
        raise NoCustomerEmail(
            "the customer has no email address on the complaint or in the CRM")


# --- one rule per update -----------------------------------------------------------


def acknowledge_personally(c: ActionFacts, ack: PersonalAcknowledgement) -> None:
    registered(c)
    check_actor("acknowledge_personally", ack.actor, dict(c.roster))
    if c.personal_ack_by is not None:
        raise AlreadyDone(f"already acknowledged personally by {c.personal_ack_by}; "
                          "send a customer update instead")
    if c.automatic_ack_body and same_text(ack.message, c.automatic_ack_body):
        raise InvalidValue("the personal acknowledgement must be written for this customer, "
                           "not the automatic acknowledgement again")


def record_phone_contact(c: ActionFacts, call: PhoneContact) -> None:
    owner_action(c, "record_phone_contact", call.actor, ACTIVE_PHASES)


def submit_internal_review(c: ActionFacts, review: InternalReview) -> None:
    owner_action(c, "submit_internal_review", review.actor, ACTIVE_PHASES)


def submit_action_plan(c: ActionFacts, plan: ActionPlan) -> None:
    owner_action(c, "submit_action_plan", plan.actor, ACTIVE_PHASES)
    if not c.state.internal_review_complete:
        raise NotReady("the 3 Whys and the investigation checklist (history reviewed, issue "
                       "verified, order checked) must be complete before an action plan")
    if c.state.customer_agreed:
        raise AlreadyDone("the customer has agreed to the current plan; it is being carried out")
    money.check_money_steps(plan, c.order, c.refunded)


def propose_solution(c: ActionFacts, proposal: SolutionProposal) -> None:
    owner_action(c, "propose_solution", proposal.actor, (Phase.resolution,))
    if not c.state.action_plan:
        raise NotReady("submit an action plan before proposing a solution")
    if c.state.customer_agreed:
        raise AlreadyDone("the customer has already agreed to this solution")
    customer_reachable(c)


def record_customer_response(c: ActionFacts, reply: CustomerResponse) -> None:
    # The customer's own plain reply reaches an open complaint in any phase (they answer
    # the acknowledgement before anyone owns it); staff record replies while it is active.
    plain_from_customer = is_customer_actor(reply.actor) and reply.agrees is None
    customer_or_role(c, "record_customer_response", reply.actor,
                     ANY_OPEN_PHASE if plain_from_customer else ACTIVE_PHASES)
    if reply.agrees is not None and c.state.status != Status.awaiting_customer:
        raise NotReady("no solution is waiting for the customer's agreement; record a plain "
                       "reply (agrees: null) or propose a solution first")


def record_fix_deployed(c: ActionFacts, deployed: FixDeployed) -> None:
    owner_or_role(c, "record_fix_deployed", deployed.actor)
    if c.state.fix != FixStatus.open:
        raise NotReady("no technical fix is in progress for this complaint")


def send_customer_update(c: ActionFacts, update: CustomerUpdate) -> None:
    owner_action(c, "send_customer_update", update.actor, ACTIVE_PHASES)
    customer_reachable(c)
    if update.holding:
        regulatory = c.policy.regulatory if c.policy else None
        if regulatory is None or regulatory.extended_final_response_within is None:
            raise InvalidValue("this complaint's policy allows no holding response (its "
                               "[regulatory] section has no extended_final_response_within)")
        if any(e.event == Event.holding_response for e in c.state.timeline):
            raise AlreadyDone("a holding response was already sent; the limit is extended")


def confirm_resolution(c: ActionFacts, confirmation: ResolutionConfirmation) -> None:
    s = c.state
    if is_customer_actor(confirmation.actor):  # the customer's own written sign-off
        customer_or_role(c, "confirm_resolution", confirmation.actor, (Phase.resolution,))
    else:
        owner_action(c, "confirm_resolution", confirmation.actor, (Phase.resolution,))
    if not s.customer_agreed:
        raise NotReady("the customer has not agreed to a solution yet")
    if s.fix == FixStatus.open:
        raise NotReady("the technical fix is not deployed yet")
    if s.refund.status in REFUND_UNDER_WAY:
        raise NotReady(f"the refund is not applied yet ({s.refund.status.replace('_', ' ')})")
    if RESOLUTION_PHRASE not in confirmation.confirmation_text.casefold():
        raise InvalidValue('the customer\'s written sign-off must contain "Resolution Confirmed"')


def ready_for_sign_off(s: ComplaintState) -> bool:
    """Everything the customer agreed to is done: what remains is their written sign-off."""
    return (s.phase == Phase.resolution and s.customer_agreed is True
            and s.fix != FixStatus.open and s.refund.status not in REFUND_UNDER_WAY)


def submit_rca(c: ActionFacts, rca: RootCauseAnalysis) -> None:
    owner_action(c, "submit_rca", rca.actor, (Phase.post_mortem,))
    if c.state.rca_submitted:
        raise AlreadyDone("the RCA was already submitted")


def record_kb_article(c: ActionFacts, done: KbArticleDone) -> None:
    owner_or_role(c, "record_kb_article", done.actor)
    if c.state.kb_article != KbArticleStatus.open:
        raise NotReady("no knowledge base article task is open")


def record_csat(c: ActionFacts, csat: CsatResponse) -> None:
    customer_or_role(c, "record_csat", csat.actor, (Phase.post_mortem, Phase.closed))
    if c.state.csat_score is not None:
        raise AlreadyDone(f"satisfaction was already recorded ({c.state.csat_score}/5)")


def escalate(c: ActionFacts, request: EscalationRequest) -> None:
    action_by_role(c, "escalate", request.actor, ANY_OPEN_PHASE)
    if c.state.escalation_level >= 2:
        raise AlreadyDone("already escalated to the head of customer success (level 2)")


def reassign(c: ActionFacts, request: Reassignment) -> None:
    action_by_role(c, "reassign", request.actor, (*ACTIVE_PHASES, Phase.post_mortem))
    new = c.roster.get(request.owner)
    if new is None:
        raise UnknownStaff(f"{request.owner!r} is not on the roster")
    if new.role not in OWNER_ROLES:
        raise InvalidValue(f"{request.owner!r} is a {new.role.value}; an owner is a "
                           "specialist, CSM or team lead")
    if request.owner == c.state.owner:
        raise AlreadyDone(f"{request.owner!r} already owns this complaint")


# `@ana` in a note's text mentions ana; an address (jon@kite.example) mentions nobody.
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9](?:[\w.-]*[\w])?)")


def mentioned(note: Note) -> list[str]:
    """Who a note mentions: its `mentions`, then each `@id` in its text, once each."""
    ids = [*note.mentions, *MENTION.findall(note.text)]
    return list(dict.fromkeys(ids))


def add_note(c: ActionFacts, note: Note) -> None:
    """Any staff member, on a complaint that is not archived; every mention on the roster."""
    registered(c)
    check_actor("add_note", note.actor, dict(c.roster))
    if c.state.status == Status.archived:
        raise ComplaintClosed("the complaint is archived; it takes no more notes")
    unknown = [i for i in mentioned(note) if i not in c.roster]
    if unknown:
        raise UnknownStaff(f"{', '.join(repr(i) for i in unknown)} "
                           f"{'is' if len(unknown) == 1 else 'are'} not on the roster; "
                           "mention a colleague by their roster id")


def issue_final_response(c: ActionFacts, final: FinalResponse) -> None:
    """The owner's (or a supervisor's) final answer, once the internal review is in, before
    the complaint is resolved; `not_upheld` needs a team lead or the head of customer
    success; redress must be a refund the order allows."""
    owner_action(c, "issue_final_response", final.actor, ACTIVE_PHASES)
    member = c.roster[final.actor]
    if final.outcome == FinalOutcome.not_upheld and member.role not in SUPERVISORS:
        raise NotPermitted(f"{final.actor!r} is a {member.role.value}; a final response that "
                           "does not uphold the complaint needs a team lead or the head of "
                           "customer success")
    if not c.state.internal_review_complete:
        raise NotReady("the internal review (the 3 Whys and the checklist) must be complete "
                       "before a final response")
    customer_reachable(c)
    if final.redress is not None:
        if c.state.refund.status in (RefundStatus.pending_approval, RefundStatus.approved):
            pending = c.state.refund.status.value.replace("_", " ")
            raise NotReady(f"a refund is not settled yet ({pending}); redress waits until it is")
        money.check_money_steps(
            ActionPlan(actor=final.actor, steps=[PlanStep(
                kind=StepKind.refund, description="redress with the final response",
                amount=final.redress)]), c.order, c.refunded)


def dismiss(c: ActionFacts, dismissal: Dismissal) -> None:
    """Not a complaint: an agent, a team lead or the head of customer success, before the
    complaint is resolved."""
    if c.state.resolved_at is not None:
        raise WrongPhase("the complaint is resolved; a resolved complaint is not dismissed")
    action_by_role(c, "dismiss", dismissal.actor, (Phase.triage, *ACTIVE_PHASES))
    if dismissal.duplicate_of == c.state.crn:
        raise InvalidValue("a complaint is not a duplicate of itself")


def decide_refund(c: ActionFacts, decision: RefundDecision) -> None:
    registered(c)
    refusal = money.refund_decision_refusal(c.state.refund, c.roster.get(decision.actor),
                                            decision)
    if refusal is not None:
        raise refusal


def withdraw(c: ActionFacts, withdrawal: Withdrawal) -> None:
    """At the customer's request, in any phase until archived: the customer themself, a team
    lead or the head of customer success. Once closed (resolved and reviewed) it stays
    resolved and what is left of it ends: it is archived at once. Once withdrawn or archived
    there is nothing left to withdraw."""
    s = c.state
    if is_customer_actor(withdrawal.actor):
        check_customer("withdraw", withdrawal.actor, s.customer_id)
    else:
        check_actor("withdraw", withdrawal.actor, dict(c.roster))
    if s.outcome == ComplaintOutcome.withdrawn:
        event = next((e for e in reversed(s.timeline) if e.event == Event.withdrawn), None)
        raise AlreadyWithdrawn("the complaint was already withdrawn" + (
            f" on {event.at:%Y-%m-%d %H:%M} UTC by {event.actor}" if event else ""))
    registered(c)
    if s.status == Status.archived or any(e.event == Event.archive_requested
                                          for e in s.timeline):
        raise ComplaintClosed("the complaint is already archived (or being archived); there is "
                              "nothing to withdraw")



def rekey(c: ActionFacts, request: Rekey) -> None:
    """An engineer or the head of customer success, from the owner's assignment until
    resolved: the run continues as new only there (procedure.py); before it, triage takes
    hours, and after it the next run would start its post-mortem again (the survey)."""
    member = c.roster.get(request.actor)
    if member is None or member.role not in PAYLOAD_READERS:
        names = ", ".join(sorted(r.value for r in PAYLOAD_READERS))
        raise NotPermitted(f"{request.actor!r} may not rekey a complaint; it needs one of: "
                           f"{names}")
    registered(c)
    if c.state.owner is None:
        raise NotReady("the complaint is still in triage (no owner yet): it can continue as "
                       "new once it has one; ask again then")
    if c.state.status in (Status.resolved, Status.closed, Status.archived):
        raise ComplaintClosed(f"the complaint is {c.state.status.value}: it is not continued as "
                              "new any more; its history leaves Temporal with the namespace's "
                              "retention")
