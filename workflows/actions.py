"""Every action people take on a complaint, in one table: the workflow's updates and its
signal, each with its payload model, who may take it, its help text, and its console form's
title and button.

The rest is derived from this table: who may act (workflows/permissions.py), the
operations layer's table (starter/operations.py), the API's routes and their docs
(starter/api/actions.py), the console's forms (starter/console/forms.py) and the CLI's
subcommands (starter/cli/actions.py). tests/test_actions_registry.py checks that every row
is a handler of `ComplaintWorkflow` taking that payload, that every handler has a row, and
that each of those tables holds exactly these actions.

Adding an action: its payload model (models.py), its rule (complaint/rules.py), its
handler and validator (complaint/workflow.py), and one row here; a template if it emails.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from workflows import models as m
from workflows.models import Role

SUPERVISORS = frozenset({Role.team_lead, Role.head_of_cs})


class Handler(StrEnum):
    update = "update"  # answered at once: accepted (with a receipt) or refused
    signal = "signal"  # fire and forget: what the complaint made of it shows in its timeline


class OwnerRule(StrEnum):
    """What owning the complaint has to do with taking the action."""

    none = "none"  # the roles decide; the owner needs one of them like anyone else
    only = "only"  # the owner; the roles (supervisors) step in for an owner
    or_roles = "or_roles"  # the owner whatever their role, or anyone with one of the roles


@dataclass(frozen=True)
class Action:
    name: str  # the update's (or signal's) name on ComplaintWorkflow
    payload: type[BaseModel]
    roles: frozenset[Role]  # who may take it (with `owner`: who may besides the owner)
    help: str  # what it is, for the API's /docs and the CLI's help
    owner: OwnerRule = OwnerRule.none
    customer: bool = False  # the customer may take it themself (the `customer:<id>` actor)
    handler: Handler = Handler.update
    # The console's form: its title and its button (None: not offered as a form).
    form: tuple[str, str] | None = None
    # Taken through the generic route, form and subcommand built from its payload model
    # (POST /complaints/{crn}/actions/<name>, `complaints <name-with-dashes>`). False: it
    # has its own (the refund decision), or none (the signal, sent by approval systems).
    generic: bool = True

    @property
    def command(self) -> str:
        """The CLI subcommand of a generic action."""
        return self.name.replace("_", "-")


_OWNER_OR_STAFF = frozenset({Role.agent, Role.specialist, Role.csm}) | SUPERVISORS
_FINANCE = frozenset({Role.finance_manager})

ACTIONS: dict[str, Action] = {a.name: a for a in (
    # --- Phase 1 ---
    Action("acknowledge_personally", m.PersonalAcknowledgement,
           frozenset({Role.agent}) | SUPERVISORS,
           "The personal (non-templated) acknowledgement of a formal complaint, emailed to "
           "the customer; ends the triage phase.",
           form=("Personal acknowledgement", "Acknowledge personally")),
    # --- Phase 2: ownership ---
    Action("record_phone_contact", m.PhoneContact, SUPERVISORS,
           "The owner's call to the customer: reached or not, summary, expectations set. "
           "Only a call that reached the customer meets the phone deadline.",
           owner=OwnerRule.only, form=("Phone call", "Record phone call")),
    Action("submit_internal_review", m.InternalReview, SUPERVISORS,
           "The 3 Whys (root cause, process failure, communication failure) and the "
           "investigation checklist.",
           owner=OwnerRule.only, form=("The 3 Whys", "Submit the 3 Whys")),
    # --- Phase 3: resolution ---
    Action("submit_action_plan", m.ActionPlan, SUPERVISORS,
           "The steps: technical_fix, process_change, credit_offer, refund, replacement. A "
           "refund or credit names an amount the order allows.",
           owner=OwnerRule.only, form=("Action plan", "Submit action plan")),
    Action("record_fix_deployed", m.FixDeployed,
           frozenset({Role.rnd, Role.specialist, Role.csm}) | SUPERVISORS,
           "The technical fix is live.",
           owner=OwnerRule.or_roles, form=("Technical fix", "Record fix deployed")),
    Action("send_customer_update", m.CustomerUpdate, SUPERVISORS,
           "A substantive update, emailed; restarts the customer-update clock.",
           owner=OwnerRule.only, form=("Customer update", "Send customer update")),
    Action("propose_solution", m.SolutionProposal, SUPERVISORS,
           "Asks the customer for explicit agreement (emailed); the update clock waits "
           "meanwhile.",
           owner=OwnerRule.only, form=("Solution proposal", "Propose solution")),
    Action("record_customer_response", m.CustomerResponse, _OWNER_OR_STAFF,
           "The customer agrees (true), disagrees (false) or just replies (null).",
           customer=True, form=("Customer's response", "Record customer response")),
    Action("confirm_resolution", m.ResolutionConfirmation, SUPERVISORS,
           'The customer\'s written sign-off; must contain "Resolution Confirmed".',
           owner=OwnerRule.only, customer=True,
           form=("Resolution sign-off", "Confirm resolution")),
    Action("issue_final_response", m.FinalResponse, SUPERVISORS,
           "The firm's final answer, once the internal review is in: outcome upheld, "
           "partly_upheld or not_upheld (not_upheld: a team lead or the head of customer "
           "success), the letter's message (emailed with the policy's referral rights), and "
           "optional redress (through the refund path). Every clock ends; it is resolved.",
           owner=OwnerRule.only, form=("Final response", "Issue final response")),
    # --- Phase 4: post-mortem ---
    Action("submit_rca", m.RootCauseAnalysis, SUPERVISORS,
           "Root cause analysis, process failures, corrective actions, KB needed.",
           owner=OwnerRule.only, form=("Root cause analysis", "Submit RCA")),
    Action("record_kb_article", m.KbArticleDone,
           frozenset({Role.qa, Role.specialist, Role.csm}) | SUPERVISORS,
           "The knowledge base article an RCA asked for is written.",
           owner=OwnerRule.or_roles, form=("Knowledge base article", "Record KB article")),
    Action("record_csat", m.CsatResponse,
           frozenset({Role.agent, Role.specialist, Role.csm, Role.qa}) | SUPERVISORS,
           "The customer's satisfaction, 1-5, with an optional comment.",
           customer=True, form=("Customer satisfaction", "Record satisfaction")),
    # --- any phase ---
    Action("escalate", m.EscalationRequest, frozenset(Role) - {Role.engineer},
           "Manual escalation one level up (customer asked for a manager, ...).",
           form=("Escalation", "Escalate")),
    Action("reassign", m.Reassignment, SUPERVISORS,
           "A new owner: a specialist, CSM or team lead on the roster.",
           form=("Reassignment", "Reassign")),
    # An internal note: anyone who works complaints, any phase (docs/desk.md).
    Action("add_note", m.Note, frozenset(Role) - {Role.engineer},
           "An internal note for colleagues, kept in PostgreSQL (the timeline names its id): "
           "never emailed to the customer, never on their status page. `mentions` (roster "
           "ids; `@id` in the text counts too) are each emailed a link to the complaint.",
           form=("Internal note", "Add note")),
    # Ending a complaint at the customer's request: a supervisor, or the customer themself.
    Action("withdraw", m.Withdrawal, SUPERVISORS,
           "Withdrawn at the customer's request, in any open phase: the complaint is closed "
           "(outcome `withdrawn`), every deadline and reminder cancelled, nothing more "
           "emailed, and its workflow completes. Refused once closed or withdrawn.",
           customer=True, form=("Withdrawal", "Withdraw")),
    # Not a complaint (spam, misrouted, a duplicate): whoever triages it, or above.
    Action("dismiss", m.Dismissal, frozenset({Role.agent}) | SUPERVISORS,
           "Not a complaint, before its resolution: reason spam, not_a_complaint or duplicate "
           "(with duplicate_of, an existing complaint), a note; closed at once (outcome "
           "`dismissed`), every clock cancelled, nothing sent to the sender (send_note: a "
           "polite note, for not_a_complaint), and its workflow completes.",
           form=("Not a complaint", "Dismiss")),
    # Payload keys: continue as new under the first key (`complaints rekey` sends it).
    Action("rekey", m.Rekey, frozenset({Role.engineer, Role.head_of_cs}),
           "Continue as new at the next quiet point, so the complaint's payloads are written "
           "again under the first of PAYLOAD_ENCRYPTION_KEYS and an old key can be retired.",
           generic=False),
    # --- the Finance Manager's decision: an update for callers that want the answer (its
    # own route, page and subcommand, `refund-decision`), and a signal for approval systems.
    Action("decide_refund", m.RefundDecision, _FINANCE,
           "The Finance Manager approves or rejects the pending refund, answered at once.",
           generic=False),
    Action("refund_decision", m.RefundDecision, _FINANCE,
           "The Finance Manager's decision, fire and forget (approval systems): a decision "
           "that may not count is recorded in the timeline and changes nothing else.",
           handler=Handler.signal, generic=False),
)}

# The actions taken through the generic route, form and subcommand, in the table's order.
GENERIC: dict[str, Action] = {n: a for n, a in ACTIONS.items() if a.generic}
