"""Who may do what to a complaint: the checks, over the table of actions (actions.py); docs/design.md has the public contract.

The workflow checks every action's actor against the roster it read from
PostgreSQL, in the update's validator, so a refused action never reaches history.

Besides the roster there is one channel actor: `customer:<customer id>`, the customer
acting for themselves (a reply by email, a form on a customer page). It may take only
the customer's own actions, and only on that customer's complaints.
"""

from __future__ import annotations

from workflows.actions import ACTIONS, SUPERVISORS, OwnerRule
from workflows.models import Role
from workflows.records import StaffMember
from workflows.refusals import NotPermitted

__all__ = ["CUSTOMER_ACTIONS", "OWNER_ACTIONS", "ROLES_FOR", "SUPERVISORS", "NotPermitted",
           "check_actor", "check_customer", "customer_actor", "is_customer_actor"]

# Who may read a complaint's payloads in clear (the codec server): the engineers who run the
# product, and the head of customer success, who answers for the data. Not every staff key.
PAYLOAD_READERS = frozenset({Role.engineer, Role.head_of_cs})
# Actions only the complaint's owner takes; a team lead or the head of customer
# success may step in for an owner (they own the escalation).
OWNER_ACTIONS = frozenset(n for n, a in ACTIONS.items() if a.owner == OwnerRule.only)
# Who may take each other action (with the owner, for OwnerRule.or_roles).
ROLES_FOR = {n: a.roles for n, a in ACTIONS.items() if a.owner != OwnerRule.only}
# What a customer does themselves: reply, agree or not, sign off in writing, rate us, or
# withdraw the complaint.
CUSTOMER_ACTIONS = frozenset(n for n, a in ACTIONS.items() if a.customer)


CUSTOMER_PREFIX = "customer:"


def customer_actor(customer_id: str) -> str:
    """The channel actor of a customer acting for themselves."""
    return CUSTOMER_PREFIX + customer_id


def is_customer_actor(actor: str) -> bool:
    return actor.startswith(CUSTOMER_PREFIX)


def check_customer(action: str, actor: str, customer_id: str) -> None:
    """A channel actor: only the customer's own actions, only on their own complaint."""
    if action not in CUSTOMER_ACTIONS:
        raise NotPermitted(f"a customer may not {action.replace('_', ' ')}; only reply, "
                           "agree, sign off, rate the service, reopen or withdraw the complaint")
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
        if actor == owner or member.role in ACTIONS[action].roles:
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
