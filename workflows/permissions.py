"""Who may do what to a complaint (docs/design.md, the public contract).

The workflow checks every action's actor against the roster it read from
PostgreSQL, in the update's validator, so a refused action never reaches history.

Besides the roster there is one channel actor: `customer:<customer id>`, the customer
acting for themselves (a reply by email, a form on a customer page). It may take only
the customer's own actions, and only on that customer's complaints.
"""

from __future__ import annotations

from workflows.models import Role
from workflows.records import StaffMember

SUPERVISORS = frozenset({Role.team_lead, Role.head_of_cs})
# Actions only the complaint's owner takes; a team lead or the head of customer
# success may step in for an owner (they own the escalation).
OWNER_ACTIONS = frozenset({
    "record_phone_contact", "submit_internal_review", "submit_action_plan",
    "send_customer_update", "propose_solution", "confirm_resolution", "submit_rca",
})
ROLES_FOR: dict[str, frozenset[Role]] = {
    "acknowledge_personally": frozenset({Role.agent}) | SUPERVISORS,
    "record_fix_deployed": frozenset({Role.rnd, Role.specialist, Role.csm}) | SUPERVISORS,
    "record_customer_response": frozenset({Role.agent, Role.specialist, Role.csm}) | SUPERVISORS,
    "record_csat": frozenset({Role.agent, Role.specialist, Role.csm, Role.qa}) | SUPERVISORS,
    "record_kb_article": frozenset({Role.qa, Role.specialist, Role.csm}) | SUPERVISORS,
    "escalate": frozenset(Role),
    "reassign": SUPERVISORS,
    "refund_decision": frozenset({Role.finance_manager}),
    "decide_refund": frozenset({Role.finance_manager}),
    # Ending a complaint at the customer's request: a supervisor, or the customer themself.
    "withdraw": SUPERVISORS,
}


CUSTOMER_PREFIX = "customer:"
# What a customer does themselves: reply, agree or not, sign off in writing, rate us, or
# withdraw the complaint.
CUSTOMER_ACTIONS = frozenset({"record_customer_response", "confirm_resolution", "record_csat",
                              "withdraw"})


def customer_actor(customer_id: str) -> str:
    """The channel actor of a customer acting for themselves."""
    return CUSTOMER_PREFIX + customer_id


def is_customer_actor(actor: str) -> bool:
    return actor.startswith(CUSTOMER_PREFIX)


class NotPermitted(ValueError):
    """The actor may not take this action on this complaint."""


def check_customer(action: str, actor: str, customer_id: str) -> None:
    """A channel actor: only the customer's own actions, only on their own complaint."""
    if action not in CUSTOMER_ACTIONS:
        raise NotPermitted(f"a customer may not {action.replace('_', ' ')}; only reply, "
                           "agree, sign off, rate the service or withdraw the complaint")
    if actor != customer_actor(customer_id):
        raise NotPermitted(f"{actor!r} is not this complaint's customer")


def check_actor(
    action: str, actor: str, roster: dict[str, StaffMember], owner: str | None = None
) -> StaffMember:
    """A staff member who may take `action` (a channel actor is refused here: the rules
    that accept one call `check_customer` instead)."""
    if is_customer_actor(actor):
        raise NotPermitted(f"{actor!r} is a customer; {action.replace('_', ' ')} is for staff")
    member = roster.get(actor)
    if member is None:
        raise NotPermitted(f"{actor!r} is not on the roster")
    if action in OWNER_ACTIONS:
        if actor == owner or member.role in SUPERVISORS:
            return member
        raise NotPermitted(
            f"only the owner ({owner or 'nobody yet'}) or a team lead may {action.replace('_', ' ')}"
        )
    allowed = ROLES_FOR[action]
    if member.role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise NotPermitted(
            f"{actor!r} is a {member.role.value}; {action.replace('_', ' ')} needs one of: {names}"
        )
    return member
