"""Each action as a form: its labelled fields, the button named for what it does, how the
posted fields become the update's payload, and whether the console offers it to a person
now.

What is offered is decided with the workflow's own rules (workflows/complaint/rules.py)
over the complaint's state, so the page shows only what would be accepted; the workflow's
validator still decides when the form comes back, and a refused action changes nothing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from workflows.actions import ACTIONS, GENERIC, Action, Handler
from workflows.complaint import rules
from workflows.complaint.rules import ActionFacts
from workflows.events import Event
from workflows.models import (
    ComplaintState,
    DismissalReason,
    FinalOutcome,
    PlanStep,
    Role,
    StepKind,
)
from workflows.permissions import NotPermitted
from workflows.records import Order, StaffMember

PLAN_ROWS = 3  # step rows on the action-plan form; empty rows are left out


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "textarea"  # textarea | text | checkbox | select | number
    required: bool = True
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    hint: str = ""


@dataclass(frozen=True)
class ActionForm:
    update: str
    title: str
    button: str
    fields: tuple[Field, ...] = ()
    plan_rows: int = 0
    intro: str = ""
    owners: tuple[tuple[str, str], ...] = field(default=())


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _lines(form: Mapping[str, Any], name: str) -> list[str]:
    return [line.strip() for line in _text(form, name).splitlines() if line.strip()]


def _checked(form: Mapping[str, Any], name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


AGREES = (("", "A plain reply (no decision)"), ("yes", "The customer agrees"),
          ("no", "The customer disagrees"))
STEP_KINDS = tuple((k.value, k.value.replace("_", " ")) for k in StepKind)

# How each action's form is laid out: its fields (labelled, in order), and for some a
# line above them; an action without an entry gets one field per payload field. Its title
# and button are its row's in workflows/actions.py.
LAYOUTS: dict[str, dict[str, Any]] = {
    "acknowledge_personally": {"fields": (
        Field("message", "Message to the customer",
              hint="Written for this customer, not the automatic acknowledgement"),)},
    "record_phone_contact": {"fields": (
        Field("reached", "The customer was reached", "checkbox", required=False),
        Field("summary", "Summary of the call"),
        Field("expectations", "Expectations set", required=False))},
    "submit_internal_review": {"fields": (
        Field("root_cause", "Root cause"),
        Field("process_failure", "Process failure"),
        Field("communication_failure", "Communication failure"),
        Field("history_reviewed", "Customer history reviewed", "checkbox", False),
        Field("issue_verified", "Issue verified", "checkbox", False),
        Field("order_checked", "Order checked", "checkbox", False))},
    "submit_action_plan": {"plan_rows": PLAN_ROWS,
                           "intro": "One step per row; a refund or credit offer names an amount."},
    "record_fix_deployed": {"fields": (Field("reference", "Release or change reference", "text"),)},
    "send_customer_update": {"fields": (Field("message", "Update for the customer"),)},
    "propose_solution": {"fields": (Field("message", "Proposal to the customer"),)},
    "record_customer_response": {"fields": (
        Field("agrees", "The customer's answer", "select", False, AGREES),
        Field("message", "What the customer said", required=False))},
    "confirm_resolution": {"fields": (
        Field("confirmation_text", "The customer's written sign-off",
              hint='Must contain "Resolution Confirmed"'),)},
    "submit_rca": {"fields": (
        Field("root_cause", "Root cause"),
        Field("process_failures", "Process failures (one per line)"),
        Field("corrective_actions", "Corrective actions (one per line)"),
        Field("kb_article_needed", "A knowledge base article is needed", "checkbox", False))},
    "record_kb_article": {"fields": (Field("reference", "Article reference", "text"),)},
    "record_csat": {"fields": (
        Field("score", "Score (1 to 5)", "select", True,
              tuple((str(n), str(n)) for n in range(5, 0, -1))),
        Field("comment", "Comment", required=False))},
    "escalate": {"fields": (Field("reason", "Reason for escalating"),)},
    "reassign": {"fields": (Field("owner", "New owner", "select"),)},
    "add_note": {"fields": (
        Field("text", "Note for colleagues", hint="Staff only: never emailed to the customer, "
                                                  "never on their status page"),
        Field("mentions", "Mention (roster ids)", "text", False,
              hint="Separated by commas or spaces; @id in the note works too. Each is emailed "
                   "a link to the complaint"))},
    "issue_final_response": {"fields": (
        Field("outcome", "Outcome", "select", True, (
            ("upheld", "Upheld"), ("partly_upheld", "Partly upheld"),
            ("not_upheld", "Not upheld (a team lead or the head of customer success)"))),
        Field("message", "Letter to the customer",
              hint="Written for this customer; the policy's referral rights follow it"),
        Field("redress", "Redress (amount, optional)", "text", False,
              hint="Credited through the refund path and its approval rules")),
        "intro": "The firm's final answer: every deadline ends and the complaint is resolved."},
    "dismiss": {"fields": (
        Field("reason", "Reason", "select", True, (
            ("spam", "Spam"), ("not_a_complaint", "Not a complaint (a question, misrouted)"),
            ("duplicate", "A duplicate of another complaint"))),
        Field("note", "Note for colleagues", required=False),
        Field("duplicate_of", "Duplicate of (CRN)", "text", False,
              hint="For a duplicate: the original, where the customer's later mail will go"),
        Field("send_note", "Send the sender a polite note (not a complaint only)", "checkbox",
              False)),
        "intro": "Closes it at once, cancels every deadline and sends nothing to the sender."},
    "withdraw": {"fields": (Field("reason", "Why the customer withdraws it",
                                  hint="Closes the complaint at the customer's request: every "
                                       "deadline is cancelled and nothing more is emailed"),),
                 "intro": "Only when the customer asks for the complaint to be withdrawn."},
}


def _default_fields(model: type[BaseModel]) -> tuple[Field, ...]:
    """One field per payload field (the actor is the signed-in member): a checkbox for a
    yes/no, a choice for a vocabulary, a line of text otherwise, optional where the model
    has a default."""
    def field_for(name: str, annotation: Any, required: bool) -> Field:
        label = name.replace("_", " ").capitalize()
        if annotation is bool:
            return Field(name, label, "checkbox", required=required)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            return Field(name, label, "select", required,
                         tuple((v.value, v.value.replace("_", " ")) for v in annotation))
        return Field(name, label, "text", required=required)

    return tuple(field_for(name, f.annotation, f.is_required())
                 for name, f in model.model_fields.items() if name != "actor")


# Optional fields whose empty answer means "none" (not an empty text).
NONE_WHEN_EMPTY = frozenset({"redress", "duplicate_of"})


def _form(action: Action) -> ActionForm:
    assert action.form is not None
    title, button = action.form
    layout = LAYOUTS.get(action.name, {"fields": _default_fields(action.payload)})
    return ActionForm(action.name, title, button, **layout)


FORMS: dict[str, ActionForm] = {
    name: _form(a) for name, a in GENERIC.items() if a.form is not None}


def payload(update: str, form: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """The update's payload from a posted form (validated by the model when it is sent)."""
    spec = FORMS[update]
    if update == "submit_internal_review":
        data: dict[str, Any] = {k: _text(form, k) for k in
                                ("root_cause", "process_failure", "communication_failure")}
        data["checklist"] = {k: _checked(form, k) for k in
                             ("history_reviewed", "issue_verified", "order_checked")}
    elif update == "submit_action_plan":
        data = {"steps": [
            {"kind": _text(form, f"step_{i}_kind"), "description": _text(form, f"step_{i}_description"),
             **({"amount": _text(form, f"step_{i}_amount")} if _text(form, f"step_{i}_amount") else {})}
            for i in range(1, spec.plan_rows + 1) if _text(form, f"step_{i}_description")]}
    else:
        data = {}
        for f in spec.fields:
            if f.kind == "checkbox":
                data[f.name] = _checked(form, f.name)
            elif f.name == "mentions":
                data[f.name] = [i.lstrip("@") for i in re.split(r"[\s,]+", _text(form, f.name))
                                if i.lstrip("@")]
            elif f.name in ("process_failures", "corrective_actions"):
                data[f.name] = _lines(form, f.name)
            elif f.name == "agrees":
                data[f.name] = {"yes": True, "no": False}.get(_text(form, f.name))
            elif f.name == "score":
                data[f.name] = int(_text(form, f.name)) if _text(form, f.name).isdigit() else 0
            elif f.name in NONE_WHEN_EMPTY and not _text(form, f.name):
                continue
            else:
                data[f.name] = _text(form, f.name)
    return {**data, "actor": actor}


@dataclass(frozen=True)
class Facts:
    """What the rules need beyond the state, from the complaint's records."""

    customer_email: str | None
    order: Order | None


_PROBE_OWNER = StaffMember(id="~new-owner", name="probe", email="probe@example.com",
                           role=Role.specialist)


def _probe(update: str, actor: str, s: ComplaintState) -> Any:
    """A payload the rules read as an ordinary one, to ask whether the action is open now."""
    model = _MODELS[update]
    base: dict[str, Any] = {"actor": actor}
    probes: dict[str, dict[str, Any]] = {
        "acknowledge_personally": {"message": "(probe)"},
        "submit_action_plan": {"steps": [PlanStep(kind=StepKind.technical_fix,
                                                  description="(probe)")]},
        "confirm_resolution": {"confirmation_text": "Resolution Confirmed"},
        "record_customer_response": {"agrees": None},
        "reassign": {"owner": _PROBE_OWNER.id},
        "decide_refund": {"approved": True, "amount": s.refund.amount or Decimal(0)},
        "issue_final_response": {"outcome": FinalOutcome.upheld, "message": "(probe)"},
        "dismiss": {"reason": DismissalReason.spam},
        "add_note": {"text": "(probe)", "mentions": []},
    }
    return model.model_construct(**base, **probes.get(update, {}))


# The payload model of every update the console may offer (the refund decision too).
_MODELS: dict[str, type[BaseModel]] = {
    name: a.payload for name, a in ACTIONS.items() if a.handler == Handler.update}


def open_to(update: str, member: StaffMember, s: ComplaintState, facts: Facts) -> bool:
    """Whether the workflow's rules would accept `update` from `member` now."""
    personal_ack = next((e.actor for e in s.timeline if e.event == Event.acknowledged_personally),
                        None)
    c = ActionFacts(state=s, roster={member.id: member, _PROBE_OWNER.id: _PROBE_OWNER},
                  personal_ack_by=personal_ack, customer_email=facts.customer_email,
                  order=facts.order)
    try:
        getattr(rules, update)(c, _probe(update, member.id, s))
    except (NotPermitted, ValueError):
        return False
    return True


def offered(member: StaffMember, s: ComplaintState, facts: Facts) -> list[ActionForm]:
    """The action forms to show this person on this complaint now."""
    return [f for u, f in FORMS.items() if open_to(u, member, s, facts)]
