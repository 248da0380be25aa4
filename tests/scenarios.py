"""Shared test scaffolding: payload builders and the helpers that drive a complaint to a
phase, which many test modules use. A test module imports from here (or from conftest and
the other *_stack / *_runner helpers), never from another test module
(tests/test_architecture.py checks it).

- drive a complaint: `to_owner`, `plan_agreed`, `signed_off_and_reviewed`, `drive` (to a
  named step of Phase 2), `agree_to_refund`;
- the actions' payloads: `ack`, `call`, `review`, `plan`, `propose`, `reply`, `confirm`;
- what happened: `refused` (an action refused, nothing logged), `logged_seqs`, `balance`,
  `until_outbox`;
- the what-if's past complaints: `AS_OF`, `SUPERVISORS`, `at`, `ev`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from starter.operations import ActionRefused
from tests.conftest import ComplaintStack
from workflows import models as m
from workflows.models import (
    ActionPlan,
    ComplaintState,
    CustomerResponse,
    InternalReview,
    InvestigationChecklist,
    PersonalAcknowledgement,
    PhoneContact,
    PlanStep,
    ResolutionConfirmation,
    SolutionProposal,
)
from workflows.policy import load_policy
from workflows.whatif import LoggedEvent


async def to_owner(stack: ComplaintStack, **overrides) -> str:
    """Submit, acknowledge personally, and wait until the owner is assigned."""
    crn = (await stack.submit(**overrides)).crn
    await stack.mail_for(crn, "acknowledgement")
    await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
        actor="ana", message="Dear customer, I am sorry; I am on it and a manager will call you."))
    await stack.until(crn, lambda s: s.owner is not None)
    return crn

async def owner_of(stack: ComplaintStack, crn: str) -> str:
    """The complaint's owner, once one is assigned (a test that needs it fails without)."""
    owner = (await stack.status(crn)).owner
    assert owner is not None, f"{crn} has no owner yet"
    return owner


async def plan_agreed(stack: ComplaintStack, crn: str, owner: str, fix: bool = True) -> None:
    await stack.act(crn, "record_phone_contact", m.PhoneContact(
        actor=owner, reached=True, summary="Apologised, confirmed the issue",
        expectations="Fix within the week, updates daily"))
    await stack.act(crn, "submit_internal_review", m.InternalReview(
        actor=owner, root_cause="Rounding bug in export", process_failure="No regression test",
        communication_failure="Earlier tickets closed without reply",
        checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                           order_checked=True)))
    steps = [m.PlanStep(kind="process_change", description="Add export regression test")]
    if fix:
        steps.insert(0, m.PlanStep(kind="technical_fix", description="Fix rounding in export"))
    await stack.act(crn, "submit_action_plan", m.ActionPlan(actor=owner, steps=steps))
    await stack.act(crn, "propose_solution", m.SolutionProposal(
        actor=owner, message="We will fix the rounding and add a regression test. Agreed?"))
    await stack.act(crn, "record_customer_response", m.CustomerResponse(
        actor="ana", agrees=True, message="Yes, please go ahead."))


async def signed_off_and_reviewed(stack: Any, crn: str, owner: str, score: int = 4) -> None:
    """After the fix or the refund: the written sign-off, the survey answered, the RCA (no KB
    article), so the complaint closes. `stack`: anything with `act(crn, update, payload)`."""
    await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
        actor=owner, confirmation_text="Resolution Confirmed"))
    await stack.act(crn, "record_csat", m.CsatResponse(actor="ana", score=score))
    await stack.act(crn, "submit_rca", m.RootCauseAnalysis(
        actor=owner, root_cause="Rounding twice", process_failures=["No review"],
        corrective_actions=["A test"], kb_article_needed=False))


def ack(actor: str = "ana") -> PersonalAcknowledgement:
    return PersonalAcknowledgement(
        actor=actor, message="Dear customer, I am sorry for the trouble; I am on it myself. Ana")


def call(actor: str, reached: bool = True) -> PhoneContact:
    return PhoneContact(actor=actor, reached=reached,
                        summary="Called the customer about the export totals" if reached
                        else "No answer; left a voicemail",
                        expectations="Fix plan by Friday" if reached else "")


def review(actor: str, complete: bool = True) -> InternalReview:
    checklist = (InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                        order_checked=True) if complete
                 else InvestigationChecklist(history_reviewed=True))
    return InternalReview(actor=actor, root_cause="Rounding applied twice in the export",
                          process_failure="No regression test on export totals",
                          communication_failure="Customer not told about the known issue",
                          checklist=checklist)


def plan(actor: str, *, fix: bool = False, note: str = "Add a totals check to the release list"
         ) -> ActionPlan:
    steps = [PlanStep(kind="process_change", description=note)]
    if fix:
        steps.insert(0, PlanStep(kind="technical_fix", description="Round once, at the end"))
    return ActionPlan(actor=actor, steps=steps)


def propose(actor: str) -> SolutionProposal:
    return SolutionProposal(actor=actor, message="We will correct the export and add a check. "
                            "Do you agree?")


def reply(agrees: bool | None, actor: str = "ana") -> CustomerResponse:
    return CustomerResponse(actor=actor, agrees=agrees, message="Customer replied by email")


def confirm(actor: str, text: str = "Resolution Confirmed - thanks, the totals match now"
            ) -> ResolutionConfirmation:
    return ResolutionConfirmation(actor=actor, confirmation_text=text)


STEPS = ("owner", "review", "plan", "proposed", "agreed", "resolved")


async def drive(stack: ComplaintStack, to: str, *, crn: str | None = None,
                after: str | None = None, **intake: Any) -> tuple[str, ComplaintState]:
    """Carry a complaint through the steps after `after` (from intake when None) up to `to`.

    owner: submitted, automatically and personally acknowledged, owner assigned;
    review: complete 3 Whys; plan: action plan submitted; proposed; agreed; resolved.
    """
    first = STEPS.index(after) + 1 if after else 0
    state: ComplaintState | None = None
    for step in STEPS[first:STEPS.index(to) + 1]:
        if step == "owner":
            if crn is None:
                crn = (await stack.submit(**intake)).crn
            await stack.mail_for(crn, "acknowledgement")
            await stack.act(crn, "acknowledge_personally", ack())
            state = await stack.until(crn, lambda s: s.owner is not None)
            continue
        assert crn is not None
        owner = (state or await stack.status(crn)).owner
        assert owner is not None
        if step == "review":
            state = await stack.act(crn, "submit_internal_review", review(owner))
        elif step == "plan":
            state = await stack.act(crn, "submit_action_plan", plan(owner))
        elif step == "proposed":
            state = await stack.act(crn, "propose_solution", propose(owner))
        elif step == "agreed":
            state = await stack.act(crn, "record_customer_response", reply(True))
        elif step == "resolved":
            state = await stack.act(crn, "confirm_resolution", confirm(owner))
    assert crn is not None and state is not None
    return crn, state


async def refused(stack: ComplaintStack, crn: str, update: str, payload: Any,
                  *reason: str) -> str:
    """The update is refused with a reason containing every fragment, and nothing changes."""
    await stack.settle()
    before = await stack.status(crn)
    with pytest.raises(ActionRefused) as err:
        await stack.act(crn, update, payload)
    text = str(err.value)
    for fragment in reason:
        assert fragment in text, f"{update}: {text!r} lacks {fragment!r}"
    await stack.settle()
    assert await stack.status(crn) == before, f"{update} was refused but changed the state"
    # The resolution log (written asynchronously) holds exactly the timeline: nothing more.
    assert await logged_seqs(stack, crn, len(before.timeline)) == [e.seq for e in before.timeline]
    return text


def open_all_hours(stack: ComplaintStack) -> None:
    """The default rules on a calendar that never closes: 24 business hours = 24 hours."""
    default = load_policy()
    stack.policy = default.model_copy(update={"calendar": default.calendar.model_copy(update={
        "timezone": "UTC", "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "day_starts": "00:00", "day_ends": "24:00", "holidays_country": None})})


async def agree_to_refund(stack: ComplaintStack, amount: str, **overrides) -> tuple[str, str]:
    """A cust-bloom complaint about order ord-2001 (640 + 20% tax) with a refund the
    customer agreed to (or another customer's and order: `customer=`, `order_id=`); returns
    (crn, owner)."""
    overrides = {"customer": {"id": "cust-bloom", "name": "Mia Bloom",
                              "email": "hello@bloom.example"},
                 "order_id": "ord-2001", **overrides}
    crn = await to_owner(stack, category="billing_dispute", **overrides)
    owner = await owner_of(stack, crn)
    await stack.act(crn, "record_phone_contact", m.PhoneContact(
        actor=owner, reached=True, summary="Apologised", expectations="Refund"))
    await stack.act(crn, "submit_internal_review", m.InternalReview(
        actor=owner, root_cause="Charged twice", process_failure="No idempotency",
        communication_failure="No reply",
        checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                           order_checked=True)))
    await stack.act(crn, "submit_action_plan", m.ActionPlan(actor=owner, steps=[
        m.PlanStep(kind="refund", description="Refund the duplicate charge", amount=Decimal(amount))]))
    await stack.act(crn, "propose_solution", m.SolutionProposal(
        actor=owner, message=f"We will refund {amount} GBP. Agreed?"))
    await stack.act(crn, "record_customer_response", m.CustomerResponse(
        actor="ana", agrees=True, message="Yes"))
    return crn, owner


async def balance(stack: ComplaintStack, customer: str = "cust-bloom") -> Decimal:
    return (await stack.rows("SELECT account_balance FROM customers WHERE id = $1", customer))[0][0]


async def until_outbox(stack: ComplaintStack, crn: str, kind: str, check, timeout: float = 15.0
                       ) -> asyncpg.Record:
    """Poll the outbox row for (crn, kind) in real time until `check` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await stack.rows("SELECT * FROM email_outbox WHERE crn = $1 AND kind = $2", crn, kind)
        if rows and check(rows[0]):
            return rows[0]
        if loop.time() > deadline:
            raise AssertionError(f"outbox {crn}/{kind} never matched: {[dict(r) for r in rows]}")
        await asyncio.sleep(0.1)


AS_OF = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # Monday 10:00


SUPERVISORS = {"tom": 1, "helen": 2}


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ev(when: datetime, event: str, actor: str = "system", detail: str = "",
       reason: str | None = None) -> LoggedEvent:
    return LoggedEvent(at=when, event=event, actor=actor, detail=detail, reason=reason)


async def logged_seqs(stack: ComplaintStack, crn: str, expected: int,
                      timeout: float = 10.0) -> list[int]:
    """The resolution log's seqs once it holds `expected` rows (or whatever it holds then)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seqs = [r["seq"] for r in await stack.rows(
            "SELECT seq FROM complaint_events WHERE crn = $1 ORDER BY seq", crn)]
        if len(seqs) >= expected or asyncio.get_running_loop().time() > deadline:
            return seqs
        await asyncio.sleep(0.05)


async def refuse_three_times(stack: ComplaintStack) -> tuple[str, str]:
    """Proposed, refused, planned and proposed again, three refusals in all (deadlock under
    the default policy); returns (crn, owner)."""
    crn, state = await drive(stack, "proposed")
    owner = state.owner
    assert owner is not None
    for n in range(3):
        if n:
            await stack.act(crn, "submit_action_plan", plan(owner, note=f"Plan {n + 1}"))
            await stack.act(crn, "propose_solution", propose(owner))
        await stack.act(crn, "record_customer_response", reply(False))
    return crn, owner
