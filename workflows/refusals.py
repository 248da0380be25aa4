"""Why a complaint refuses an action: one exception type per kind of refusal.

The update rules (workflows/complaint/rules.py) raise these in the workflow's validators,
so a refused action never reaches history. Temporal hands a validator's exception to the
caller as an ApplicationError whose `type` is the exception's class name; `by_name` turns
that name back into the class, and the clients (starter/) choose the HTTP status, the CLI's
words and the console's message by the class, never by the message's text.

Every refusal is a ValueError (callers that only ask "was it refused?" still may), and its
message is the reason a person can act on.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class Refused(ValueError):
    """The complaint refuses the action now; nothing changed. The base of every kind."""


class NotPermitted(Refused):
    """The actor may not take this action on this complaint (their role, not the owner, a
    customer acting for another customer or for staff)."""


class NotFinanceManager(NotPermitted):
    """A refund decision from someone who is not a finance manager on the roster."""


class StillRegistering(Refused):
    """The complaint is still being registered; the same action succeeds in a moment."""


class AlreadyWithdrawn(Refused):
    """The complaint was withdrawn at the customer's request; it takes no more actions."""


class ComplaintClosed(Refused):
    """The complaint is archived (or being archived, or its run has ended)."""


class AlreadyDismissed(ComplaintClosed):
    """The complaint was dismissed as not a complaint; it takes no more actions."""


class PastReopening(ComplaintClosed):
    """The customer wrote after the policy's `reopen_within` (or once it was archived): the
    complaint is not reopened; their message starts a new complaint linked to it."""


class ComplaintEnded(ComplaintClosed):
    """The complaint's workflow run has completed (archived, or withdrawn): Temporal itself
    refuses the update, before any validator runs."""


class WrongPhase(Refused):
    """The action belongs to another phase than the one the complaint is in."""


class NotReady(Refused):
    """Something the action follows has not happened (no owner yet, no action plan, the
    customer has not agreed, nothing waits for this answer)."""


class AlreadyDone(Refused):
    """The action (or the step it is for) was taken already."""


class InvalidValue(Refused):
    """A value in the payload the rules cannot accept (a sign-off without its phrase, a
    plan step without its amount, the automatic acknowledgement sent as the personal one)."""


class OverLimit(Refused):
    """An amount above what the order, or the refund waiting for a decision, allows."""


class UnknownStaff(InvalidValue):
    """The payload names someone who is not on the roster (a new owner)."""


class NoCustomerEmail(Refused):
    """The action emails the customer, and there is nowhere to write: the complaint and the
    CRM have no address for them."""


def _kinds(base: type[Refused]) -> list[type[Refused]]:
    return [base, *(k for sub in base.__subclasses__() for k in _kinds(sub))]


# Every kind by its class name: the `type` of the ApplicationError a client receives.
KINDS: dict[str, type[Refused]] = {k.__name__: k for k in _kinds(Refused)}


def by_name(name: str | None) -> type[Refused]:
    """The kind of refusal an ApplicationError's `type` names; a validator's exception of
    another type (a bug, or a ValueError of a library) is a plain `Refused`."""
    return KINDS.get(name or "", Refused)


def lookup(table: dict[type[Refused], T], kind: type[Refused]) -> T:
    """The entry of `table` for `kind`: its own, or its nearest base's (`Refused` is the
    last resort, so every table has a row for it)."""
    for k in kind.__mro__:
        if k in table:
            return table[k]
    raise KeyError(kind)
