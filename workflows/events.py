"""The names a complaint's record is read by: its deadlines and the kinds of timeline event.

The workflow writes them; the success metrics (`reporting/figures.py`), the policy what-if
(`workflows/whatif.py`), the reports and the API read them. One list, so a new deadline or
event is added in one place and every reader sees the same names.
"""

from __future__ import annotations

from enum import StrEnum


class DeadlineName(StrEnum):
    """The `status` query's `deadlines[].name`; a clock started again gets _2, _3..."""

    automatic_acknowledgement = "automatic_acknowledgement"
    personal_acknowledgement = "personal_acknowledgement"
    phone_contact = "phone_contact"
    customer_update = "customer_update"
    resolution = "resolution"
    refund_approval = "refund_approval"
    escalation_level_1 = "escalation_level_1"  # the team lead to act on the escalation
    escalation_level_2 = "escalation_level_2"  # the head of customer success to act
    customer_agreement = "customer_agreement"  # the customer to answer a proposal
    customer_sign_off = "customer_sign_off"  # the customer's sign-off, or resolved unconfirmed
    final_response = "final_response"  # the owner's final response after deadlock
    regulatory_final_response = "regulatory_final_response"  # a regulator's limit from receipt


AUTOMATIC_ACK = DeadlineName.automatic_acknowledgement.value
PERSONAL_ACK = DeadlineName.personal_acknowledgement.value
PHONE_CONTACT = DeadlineName.phone_contact.value
CUSTOMER_UPDATE = DeadlineName.customer_update.value
RESOLUTION = DeadlineName.resolution.value
REFUND_APPROVAL = DeadlineName.refund_approval.value
CUSTOMER_AGREEMENT = DeadlineName.customer_agreement.value
CUSTOMER_SIGN_OFF = DeadlineName.customer_sign_off.value
FINAL_RESPONSE = DeadlineName.final_response.value
REGULATORY_FINAL_RESPONSE = DeadlineName.regulatory_final_response.value
ESCALATION = "escalation_level"  # + _1 or _2: the level whose person must act
DEADLINE_TYPES = tuple(d.value for d in DeadlineName)


def deadline_type(name: str) -> str:
    """`phone_contact_2` -> `phone_contact`; the escalation clocks keep their level."""
    base, _, n = name.rpartition("_")
    if base and n.isdigit() and base in DEADLINE_TYPES:
        return base
    return name


def numbered(base: str, n: int) -> str:
    """The name of the n-th clock of a kind: the first keeps the bare name."""
    return base if n <= 1 else f"{base}_{n}"


def is_instance_of(name: str, base: str) -> bool:
    """True for `base` itself and its numbered repeats (`base_2`, `base_3`...)."""
    return name == base or (name.startswith(base + "_") and name[len(base) + 1:].isdigit())


class Event(StrEnum):
    """The `timeline[].event` kinds, in the order a complaint usually meets them."""

    received = "received"
    attachments_received = "attachments_received"  # files that came with it (by email)
    triaged = "triaged"
    marked_recurrent = "marked_recurrent"
    handling_agent_assigned = "handling_agent_assigned"
    acknowledgement_not_emailed = "acknowledgement_not_emailed"
    acknowledged_personally = "acknowledged_personally"
    owner_assigned = "owner_assigned"
    owner_unassigned = "owner_unassigned"
    phone_contact = "phone_contact"
    phone_attempt = "phone_attempt"
    internal_review = "internal_review"
    action_plan = "action_plan"
    solution_proposed = "solution_proposed"
    customer_agreed = "customer_agreed"
    customer_disagreed = "customer_disagreed"
    customer_replied = "customer_replied"
    customer_update = "customer_update"
    update_clock_paused = "update_clock_paused"
    update_clock_resumed = "update_clock_resumed"
    rnd_task_opened = "rnd_task_opened"
    fix_deployed = "fix_deployed"
    refund_approval_requested = "refund_approval_requested"
    refund_approved = "refund_approved"
    refund_rejected = "refund_rejected"
    refund_decision_rejected = "refund_decision_rejected"
    refund_applied = "refund_applied"
    sign_off_requested = "sign_off_requested"  # the customer asked for "Resolution Confirmed"
    resolved = "resolved"  # `outcome`: confirmed, unconfirmed, or the final response's
    final_response = "final_response"  # the firm's final answer: upheld, partly or not
    holding_response = "holding_response"  # a customer update asking for the extended limit
    deadlock = "deadlock"  # max_proposals refused: the owner is asked for a final response
    dismissed = "dismissed"  # not a complaint: closed at once, every clock cancelled
    rca = "rca"
    kb_task_opened = "kb_task_opened"
    kb_article_done = "kb_article_done"
    csat = "csat"
    closed = "closed"
    withdrawn = "withdrawn"  # at the customer's request: closed, every clock cancelled
    archived = "archived"
    # Withdrawn once closed: the rest of its life (survey reminder, archive wait) ends now.
    archive_requested = "archive_requested"
    escalated = "escalated"
    escalation_unassigned = "escalation_unassigned"
    escalation_unanswered = "escalation_unanswered"
    reassigned = "reassigned"
    deadline_warning = "deadline_warning"
    deadline_breached = "deadline_breached"
    deadline_met = "deadline_met"
    deadline_closed = "deadline_closed"
    email_sent = "email_sent"
    email_failed = "email_failed"
    note_added = "note_added"  # an internal note (its body in PostgreSQL's notes, by id)
    continued = "continued"  # the run continued as new with the whole state carried
    reopened = "reopened"  # no action writes it yet; the metrics count it as a reopen


class Outcome(StrEnum):
    """How a deadline ended (`timeline[].outcome` on deadline events)."""

    met = "met"
    met_late = "met_late"  # met after its breach
    breached = "breached"
    superseded = "superseded"
    warned = "warned"


LEVEL_NAMES = {0: "owner", 1: "team lead", 2: "head of customer success"}
MESSAGES_TO_CUSTOMER = (Event.customer_update.value, Event.solution_proposed.value)
