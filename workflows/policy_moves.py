"""A new policy for an open complaint: which of its deadlines move, from when to when.

One pure function, `plan`, read by both sides of `complaints policy apply`: the dry run
(starter/policy_review.py, over each open complaint's `status`) and the workflow's
`adopt_policy` update (workflows/complaint/policy_change.py), so what the dry run says is
what the real run then does.

Every open deadline (not met, breached or superseded) is recomputed from its start instant
under the new policy, by the rule its kind started with: the acknowledgements, the
resolution target (a reopened complaint's from its reopening) and a regulator's limit from
receipt, the others from when their clock
started: for calendar periods its due instant less the old policy's period, for business
time `Deadline.started_at` (a deadline from before that was recorded is left as it is). Time a clock was paused for the customer's information stays paused: the
new due instant moves by the same business time. A new due instant already past breaches
at once (with no warning before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows import calendar
from workflows.events import (
    AUTOMATIC_ACK,
    CUSTOMER_AGREEMENT,
    CUSTOMER_SIGN_OFF,
    CUSTOMER_UPDATE,
    ESCALATION,
    FINAL_RESPONSE,
    INFORMATION_WAIT,
    KB_ARTICLE,
    PERSONAL_ACK,
    PHONE_CONTACT,
    REFUND_APPROVAL,
    REGULATORY_FINAL_RESPONSE,
    RESOLUTION,
    RND_FIX,
    Event,
    deadline_type,
)
from workflows.models import ComplaintState, Deadline, Status
from workflows.policy import SlaPolicy

Due = tuple[datetime, datetime | None]  # a due instant, and its warning (None: no warning)


@dataclass(frozen=True)
class DeadlineMove:
    """One open deadline under the new policy."""

    name: str
    due_before: datetime
    due_after: datetime
    warn_after: datetime | None
    paused: bool  # paused for the customer's information: it moves, and stays paused
    breaches_at_once: bool  # its new due instant is already past


def is_open(d: Deadline) -> bool:
    return d.met_at is None and not d.superseded and not d.breached


def plan(state: ComplaintState, old: SlaPolicy | None, new: SlaPolicy,
         now: datetime) -> list[DeadlineMove]:
    """The open deadlines that move under `new`, in the order of the complaint's record."""
    moves = []
    updates = [d.name for d in state.deadlines if deadline_type(d.name) == CUSTOMER_UPDATE]
    update_clock_paused = state.paused is not None or state.status == Status.awaiting_customer
    for d in state.deadlines:
        if not is_open(d):
            continue
        if deadline_type(d.name) == CUSTOMER_UPDATE and (
                update_clock_paused or d.name != updates[-1]):
            continue  # a period the clock left when it paused: the next one starts anew
        due = recompute(d, state, old, new)
        if due is None:
            continue
        due_at, warn_at = due
        if d.paused_for:  # paused time stays paused
            due_at = calendar.add_business_time(new.calendar, due_at, d.paused_for)
            if warn_at is not None:
                warn_at = calendar.add_business_time(new.calendar, warn_at, d.paused_for)
        paused = d.paused_since is not None
        at_once = not paused and due_at <= now
        if d.warned_at is not None or warn_at is None:
            warn_at = d.warn_at if d.warned_at is not None else None
        elif at_once:
            warn_at = None  # it breaches now: no warning first
        if due_at == d.due_at and warn_at == d.warn_at:
            continue
        moves.append(DeadlineMove(name=d.name, due_before=d.due_at, due_after=due_at,
                                  warn_after=warn_at, paused=paused, breaches_at_once=at_once))
    return moves


def recompute(d: Deadline, state: ComplaintState, old: SlaPolicy | None,
              new: SlaPolicy) -> Due | None:
    """The deadline's due instant (and warning) under `new`, from its start; None when its
    start is not known or the new policy has no such clock."""
    kind = deadline_type(d.name)
    cal, received = new.calendar, state.received_at

    def business(amount: str, fraction: float | None) -> Due | None:
        if d.started_at is None:
            return None
        return (calendar.business_deadline(cal, d.started_at, amount),
                calendar.business_deadline(cal, d.started_at, amount, fraction)
                if fraction is not None else None)

    def elapsed(new_period: timedelta, old_period: timedelta | None,
                warn: float | None = None) -> Due | None:
        # Due = start + the old period exactly (a customer-update period starts at the last
        # message, a moment before its clock): the start from it, else the recorded one.
        start = d.due_at - old_period if old_period is not None else d.started_at
        if start is None:
            return None
        return start + new_period, (start + new_period * warn if warn is not None else None)

    ack = new.acknowledgement
    if kind == AUTOMATIC_ACK:
        return received + ack.automatic_within, None
    if kind == PERSONAL_ACK:
        return received + ack.personal_within, None
    if kind == PHONE_CONTACT:
        return elapsed(new.ownership.phone_contact_within,
                       old.ownership.phone_contact_within if old else None)
    if kind == CUSTOMER_UPDATE:
        comms = new.communication
        return elapsed(comms.customer_update_every,
                       old.communication.customer_update_every if old else None, comms.warn_at)
    if kind == RESOLUTION:
        # From receipt; a reopened complaint's clock (reopening.py) from its reopening.
        start = received
        if (state.reopened_at is not None and d.started_at is not None
                and d.started_at >= state.reopened_at):
            start = state.reopened_at
        target = new.resolution.target(state.severity)
        return (calendar.business_deadline(cal, start, target),
                calendar.business_deadline(cal, start, target, new.resolution.warn_at))
    if kind == f"{ESCALATION}_1":
        return elapsed(new.escalation.team_lead_acts_within,
                       old.escalation.team_lead_acts_within if old else None)
    if kind == f"{ESCALATION}_2":
        return elapsed(new.escalation.head_of_cs_acts_within,
                       old.escalation.head_of_cs_acts_within if old else None)
    if kind == REFUND_APPROVAL:
        return business(new.refund.approval_within, new.refund.warn_at)
    if kind == CUSTOMER_AGREEMENT:
        return business(new.waiting.agreement_wait, new.waiting.reminder_at)
    if kind == CUSTOMER_SIGN_OFF:
        return business(new.waiting.sign_off_wait, new.waiting.reminder_at)
    if kind == INFORMATION_WAIT:
        return business(new.waiting.information_wait, new.waiting.reminder_at)
    if kind == RND_FIX:  # the hand-offs' clocks (handoffs.py), from the hand-off
        return business(new.handoffs.rnd_fix, new.handoffs.warn_at)
    if kind == KB_ARTICLE:
        return business(new.handoffs.kb_article, new.handoffs.warn_at)
    if kind == FINAL_RESPONSE:
        return business(new.final_response.within, new.final_response.warn_at)
    if kind == REGULATORY_FINAL_RESPONSE:
        regulatory = new.regulatory
        if regulatory is None:
            return None
        held = any(e.event == Event.holding_response for e in state.timeline)
        period = (regulatory.extended_final_response_within
                  if held and regulatory.extended_final_response_within
                  else regulatory.final_response_within)
        return (calendar.period_deadline(cal, received, period),
                calendar.period_deadline(cal, received, period, regulatory.warn_at))
    return None


def describe(move: DeadlineMove) -> str:
    """One line for people: `resolution: 2026-12-08 17:00 UTC -> 2026-12-07 13:00 UTC`."""
    fmt = "%Y-%m-%d %H:%M UTC"
    tail = " (breaches at once)" if move.breaches_at_once else (
        " (paused)" if move.paused else "")
    return f"{move.name}: {move.due_before:{fmt}} -> {move.due_after:{fmt}}{tail}"
