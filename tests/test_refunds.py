"""The money path: refund limits, Finance Manager approval, the account balance changed once.

Time-skipping Temporal server, real PostgreSQL (balances and credit notes checked by
SQL), real SMTP delivery to the sink.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.worker import Worker

from starter.operations import ActionRefused, signal
from tests.conftest import ComplaintStack
from tests.scenarios import agree_to_refund, balance, open_all_hours, owner_of, to_owner
from workers.worker import activities_for, workflow_runner
from workflows import models as m
from workflows.messages import RefundApplication
from workflows.models import Status
from workflows.records import CreditNote, Order
from workflows.refunds import refund_limit


@pytest.mark.parametrize(("net", "rate", "notes", "currency", "maximum"), [
    ("640.00", "0.20", [], "GBP", "768.00"),                    # 640 + 128
    ("99.99", "0.20", [], "GBP", "119.99"),                     # tax 19.998 -> 20.00 (half up)
    ("12000.00", "0.20", ["500.00"], "GBP", "13900.00"),         # 14400 - 500
    ("100.00", "0.19", ["20.00", "30.50"], "EUR", "68.50"),      # 119 - 50.50
    ("10.005", "0", [], "GBP", "10.01"),                         # net rounds half up
    ("1000", "0.10", [], "JPY", "1100"),                         # no minor unit
    ("50.00", "0.20", ["60.00"], "GBP", "0.00"),                 # fully credited: nothing left
    ("50.00", "0.20", ["70.00"], "GBP", "0.00"),                 # never negative
    ("12.345", "0.075", [], "KWD", "13.271"),                    # three decimals: 12.345 + 0.926
])
def test_refund_limit(net, rate, notes, currency, maximum):
    order = Order(id="o", customer_id="c", net_amount=Decimal(net), tax_rate=Decimal(rate),
                  currency=currency,
                  credit_notes=[CreditNote(id=f"n{i}", amount=Decimal(a)) for i, a in enumerate(notes)])
    limit = refund_limit(order)
    assert limit.maximum == Decimal(maximum)
    assert str(limit.maximum) == maximum  # rounded to the currency's minor unit
    assert limit.maximum == max(limit.gross - limit.credited, Decimal(0))


async def test_a_refund_below_the_threshold_is_applied_at_once(stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await agree_to_refund(stack, "100.00")
        state = await stack.until(crn, lambda s: s.refund.status == "applied")
        mail = await stack.mail_for(crn, "refund_applied:1")
        # The customer's plan continues: resolution can now be confirmed.
        done = await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=owner, confirmation_text="Resolution Confirmed"))
    assert state.refund.amount == Decimal("100.00") and state.refund.maximum == Decimal("768.00")
    assert state.refund.approver is None and state.escalation_level < 2
    assert "100.00 GBP" in mail["Subject"]
    assert done.status == Status.resolved
    assert await balance(stack) == Decimal("100.00")
    notes = await stack.rows("SELECT id, amount, crn FROM credit_notes WHERE order_id = 'ord-2001'")
    assert [(n["amount"], n["crn"]) for n in notes] == [(Decimal("100.00"), crn)]


async def test_plans_with_impossible_money_are_refused(stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await agree_to_refund(stack, "10.00")
        await stack.until(crn, lambda s: s.refund.status == "applied")
        # A fresh complaint on the same order, now with 10.00 already credited.
        crn2 = await to_owner(stack, customer={"id": "cust-bloom", "email": "hello@bloom.example"},
                              category="billing_dispute", order_id="ord-2001")
        owner2 = await owner_of(stack, crn2)
        await stack.act(crn2, "submit_internal_review", m.InternalReview(
            actor=owner2, root_cause="a", process_failure="b", communication_failure="c",
            checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                               order_checked=True)))
        before = await stack.status(crn2)
        cases = {
            "more than may be refunded": m.PlanStep(kind="refund", description="x", amount=Decimal("758.01")),
            "is in EUR": m.PlanStep(kind="credit_offer", description="x", amount=Decimal("5"), currency="EUR"),
            "needs an amount": m.PlanStep(kind="refund", description="x"),
            "more decimal places": m.PlanStep(kind="refund", description="x", amount=Decimal("1.005")),
        }
        for reason, step in cases.items():
            with pytest.raises(ActionRefused, match=reason):
                await stack.act(crn2, "submit_action_plan", m.ActionPlan(actor=owner2, steps=[step]))
        assert await stack.status(crn2) == before
        # 758.00 is exactly what is left (768.00 - 10.00 credited).
        ok = await stack.act(crn2, "submit_action_plan", m.ActionPlan(actor=owner2, steps=[
            m.PlanStep(kind="refund", description="x", amount=Decimal("758.00"))]))
        assert ok.action_plan[0].amount == Decimal("758.00")
        # A complaint with no order cannot carry money at all.
        crn3 = await to_owner(stack)
        owner3 = await owner_of(stack, crn3)
        await stack.act(crn3, "submit_internal_review", m.InternalReview(
            actor=owner3, root_cause="a", process_failure="b", communication_failure="c",
            checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                               order_checked=True)))
        with pytest.raises(ActionRefused, match="names no order"):
            await stack.act(crn3, "submit_action_plan", m.ActionPlan(actor=owner3, steps=[
                m.PlanStep(kind="refund", description="x", amount=Decimal("1"))]))


async def test_finance_manager_approves_once_and_only_the_finance_manager(stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await agree_to_refund(stack, "600.00")
        state = await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        assert state.status == Status.awaiting_approval and state.escalation_level >= 1
        request = await stack.mail_for(crn, "refund_approval:request")
        assert request["To"] == "fiona@example.com"
        body = request.get_content()
        assert "600.00 GBP" in body and "ord-2001" in body and "768.00" in body
        assert "Refund the duplicate charge" in body

        async def decide(actor: str, approved: bool, amount: str) -> tuple[m.ComplaintState, str]:
            """Sends the decision; returns the state and what the complaint logged of it (other
            events, such as an email sent, may come after it)."""
            seen = (await stack.status(crn)).timeline[-1].seq
            await signal(stack.client, crn, "refund_decision",
                         m.RefundDecision(actor=actor, approved=approved, amount=Decimal(amount)))
            state = await stack.until(crn, lambda s: any(e.actor == actor and e.seq > seen
                                                         for e in s.timeline))
            logged = [e for e in state.timeline if e.actor == actor and e.seq > seen]
            return state, f"{logged[0].event}: {logged[0].detail}"

        wrong, logged = await decide("sam", True, "600.00")  # a specialist, not finance
        assert wrong.refund.status == "pending_approval"
        assert logged.startswith("refund_decision_rejected") and "not a finance manager" in logged
        too_much, logged = await decide("fiona", True, "800.00")  # above the 768.00 allowed
        assert too_much.refund.status == "pending_approval"
        assert "above the maximum 768.00" in logged
        assert await balance(stack) == Decimal("0.00")

        approved, _ = await decide("fiona", True, "600.00")
        assert approved.refund.approver == "fiona"
        applied = await stack.until(crn, lambda s: s.refund.status == "applied")
        assert applied.deadline("refund_approval").met_at is not None
        _, logged = await decide("fiona", True, "600.00")  # a second decision changes nothing
        assert "no refund is waiting" in logged
        await stack.mail_for(crn, "refund_applied:1")
    assert await balance(stack) == Decimal("600.00")
    notes = await stack.rows("SELECT amount FROM credit_notes WHERE crn = $1", crn)
    assert [n["amount"] for n in notes] == [Decimal("600.00")]
    assert len(await stack.rows("SELECT * FROM refunds WHERE crn = $1", crn)) == 1


async def test_a_rejected_refund_needs_a_new_plan(stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await agree_to_refund(stack, "700.00")
        await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        await signal(stack.client, crn, "refund_decision", m.RefundDecision(
            actor="fiona", approved=False, amount=Decimal("700.00"), note="Offer a credit instead"))
        state = await stack.until(crn, lambda s: s.refund.status == "rejected")
        mail = await stack.mail_for(crn, "refund_rejected:1")
        with pytest.raises(ActionRefused, match="not agreed"):
            await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
                actor=owner, confirmation_text="Resolution Confirmed"))
    assert state.status == Status.under_investigation and state.action_plan == []
    assert mail["To"] == f"{owner}@example.com" and "Offer a credit instead" in mail.get_content()
    assert await balance(stack) == Decimal("0.00")


async def test_no_decision_reminds_at_75_percent_and_escalates_at_the_deadline(stack: ComplaintStack):
    open_all_hours(stack)  # 24 business hours = 24 hours: reminder at 18 h, escalation at 24 h
    async with stack.worker():
        crn, _ = await agree_to_refund(stack, "600.00")
        state = await stack.until(crn, lambda s: s.deadline("refund_approval") is not None)
        requested = next(e.at for e in state.timeline if e.event == "refund_approval_requested")
        d = state.deadline("refund_approval")
        assert d.due_at == requested + timedelta(hours=24)
        # The team lead answers the threshold escalation (level 1) an hour later by writing
        # to the customer; only Finance's silence is left to escalate.
        await stack.sleep(timedelta(hours=1))
        await stack.act(crn, "send_customer_update", m.CustomerUpdate(
            actor="tom", message="Your refund is with our Finance Manager for approval."))

        await stack.sleep(requested + timedelta(hours=18) - await stack.env.get_current_time()
                          - timedelta(seconds=1))
        assert stack.mails(crn, "refund_approval:reminder") == []
        await stack.sleep(timedelta(seconds=2))
        reminder = await stack.mail_for(crn, "refund_approval:reminder")
        assert reminder["To"] == "fiona@example.com" and "Reminder" in reminder["Subject"]
        warned = (await stack.status(crn)).deadline("refund_approval").warned_at
        assert requested + timedelta(hours=18) <= warned < requested + timedelta(hours=18, seconds=1)

        await stack.sleep(d.due_at - await stack.env.get_current_time() - timedelta(seconds=1))
        assert (await stack.status(crn)).escalation_level == 1
        await stack.sleep(timedelta(seconds=2))
        state = await stack.until(crn, lambda s: s.escalation_level == 2)
        up = [e for e in state.timeline if e.event == "escalated"][-1]
        assert "refund decision overdue" in up.detail
        assert d.due_at <= up.at < d.due_at + timedelta(seconds=1)
        head = await stack.mail.wait_for(lambda msg: msg["X-Complaint-Reference"] == crn
                                         and msg["To"] == "helen@example.com")
        assert "refund decision overdue" in head["Subject"]


async def test_a_refund_retried_after_its_commit_changes_the_balance_once(stack: ComplaintStack):
    """The first attempt commits, then the worker 'dies' before answering; the retry must
    find the refund and write nothing."""
    real = next(a for a in activities_for(stack.settings, stack.pool, stack.policy)
                if getattr(a, "__name__", "") == "apply_refund")
    attempts = []

    @activity.defn(name="apply_refund")
    async def apply_then_fail_once(refund: RefundApplication) -> str:
        note = await real(refund)
        attempts.append(note)
        if len(attempts) == 1:
            raise RuntimeError("worker lost after the commit")
        return note

    activities = [a for a in activities_for(stack.settings, stack.pool, stack.policy)
                  if getattr(a, "__name__", "") != "apply_refund"] + [apply_then_fail_once]
    async with Worker(stack.client, task_queue=stack.settings.task_queue,
                      workflows=[__import__("workflows.complaint").complaint.ComplaintWorkflow],
                      activities=activities, workflow_runner=workflow_runner()):
        crn, _ = await agree_to_refund(stack, "100.00")
        state = await stack.until(crn, lambda s: s.refund.status == "applied")
        await stack.settle()
    assert len(attempts) == 2 and attempts[0] == attempts[1] == state.refund.credit_note
    assert await balance(stack) == Decimal("100.00")
    assert len(await stack.rows("SELECT * FROM credit_notes WHERE crn = $1", crn)) == 1
    assert len(await stack.rows("SELECT * FROM refunds WHERE crn = $1", crn)) == 1


async def test_decide_refund_update_answers_at_once_and_refuses_what_the_signal_would_drop(
        stack: ComplaintStack):
    """The update shares the signal's checks, but a refused decision is an error for the
    caller and leaves nothing in the timeline."""
    async with stack.worker():
        crn, _ = await agree_to_refund(stack, "600.00")
        before = await stack.until(crn, lambda s: s.refund.status == "pending_approval")
        with pytest.raises(ActionRefused, match="not a finance manager"):
            await stack.act(crn, "decide_refund",
                            m.RefundDecision(actor="sam", approved=True, amount=Decimal("600.00")))
        with pytest.raises(ActionRefused, match="above the maximum 768.00"):
            await stack.act(crn, "decide_refund",
                            m.RefundDecision(actor="fiona", approved=True, amount=Decimal("800.00")))
        unchanged = await stack.status(crn)
        seen = before.timeline[-1].seq
        assert [e for e in unchanged.timeline if e.seq > seen and e.actor != "system"] == []
        assert unchanged.refund == before.refund
        approved = await stack.act(crn, "decide_refund", m.RefundDecision(
            actor="fiona", approved=True, amount=Decimal("550.00"), note="goodwill cap"))
        assert approved.refund.status in ("approved", "applied")
        assert approved.refund.approver == "fiona" and approved.refund.amount == Decimal("550.00")
        await stack.until(crn, lambda s: s.refund.status == "applied")
        with pytest.raises(ActionRefused, match="no refund is waiting"):
            await stack.act(crn, "decide_refund",
                            m.RefundDecision(actor="fiona", approved=True, amount=Decimal("550.00")))
    assert await balance(stack) == Decimal("550.00")
