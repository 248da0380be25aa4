"""The rules updates check, and how a complaint reads: pure functions, no server.

`workflows/complaint/rules.py` and `presentation.py` take the state as data, so each rule is
checked here on a hand-made complaint; the end-to-end tests show the same refusals through
a real worker.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.rule_facts import ORDER, ROSTER, T0, complaint
from workflows import models as m
from workflows import refusals as rf
from workflows.complaint import presentation as ui
from workflows.complaint import rules
from workflows.complaint.escalation import acts_within_level
from workflows.complaint.money import check_money_steps, refund_decision_problem
from workflows.events import DEADLINE_TYPES, Event, deadline_type
from workflows.models import Phase, Status

CHECKLIST = m.InvestigationChecklist(history_reviewed=True, issue_verified=True, order_checked=True)


def test_nothing_is_accepted_while_the_complaint_is_being_registered():
    c = replace(complaint(), registered=False)
    with pytest.raises(rf.StillRegistering, match="still being registered"):
        rules.record_phone_contact(c, m.PhoneContact(actor="sam", reached=True, summary="x"))


def test_owner_actions_need_the_owner_or_a_supervisor_and_the_right_phase():
    call = m.PhoneContact(actor="sam", reached=True, summary="x")
    rules.record_phone_contact(complaint(), call)  # the owner: accepted
    rules.record_phone_contact(complaint(), call.model_copy(update={"actor": "tom"}))  # team lead
    with pytest.raises(rf.NotPermitted, match=r"only the owner \(sam\) or a team lead"):
        rules.record_phone_contact(complaint(), call.model_copy(update={"actor": "ana"}))
    with pytest.raises(rf.WrongPhase, match="is for the ownership or resolution phase"):
        rules.record_phone_contact(complaint(phase=Phase.triage), call)
    with pytest.raises(rf.ComplaintClosed, match="archived"):
        rules.record_phone_contact(complaint(status=Status.archived), call)
    with pytest.raises(rf.NotReady, match="no owner is assigned"):
        rules.record_phone_contact(complaint(owner=None), call)


def test_the_personal_acknowledgement_is_once_and_not_the_automatic_text():
    ack = m.PersonalAcknowledgement(actor="ana", message="Dear Kim,  we are on it.")
    rules.acknowledge_personally(complaint(phase=Phase.triage), ack)
    with pytest.raises(rf.AlreadyDone, match="already acknowledged personally by ana"):
        rules.acknowledge_personally(replace(complaint(), personal_ack_by="ana"), ack)
    with pytest.raises(rf.InvalidValue, match="not the automatic acknowledgement again"):
        rules.acknowledge_personally(
            replace(complaint(), automatic_ack_body="dear kim, we are ON it."), ack)
    with pytest.raises(rf.NotPermitted, match="'sam' is a specialist"):
        rules.acknowledge_personally(complaint(), ack.model_copy(update={"actor": "sam"}))


def test_an_action_plan_follows_a_complete_review_and_asks_only_for_money_the_order_allows():
    plan = m.ActionPlan(actor="sam", steps=[
        m.PlanStep(kind="refund", description="duplicate charge", amount=Decimal("120.00"))])
    with pytest.raises(rf.NotReady, match="3 Whys and the investigation checklist"):
        rules.submit_action_plan(complaint(), plan)
    ready = complaint(internal_review_complete=True)
    rules.submit_action_plan(ready, plan)  # 100.00 + 20% tax: exactly what may be refunded
    with pytest.raises(rf.OverLimit, match="more than may be refunded.*less 10.00 already refunded"):
        rules.submit_action_plan(replace(ready, refunded=Decimal("10")), plan)
    with pytest.raises(rf.NotReady, match="names no order"):
        rules.submit_action_plan(replace(ready, order=None), plan)
    with pytest.raises(rf.AlreadyDone, match="has agreed to the current plan"):
        rules.submit_action_plan(complaint(internal_review_complete=True, customer_agreed=True),
                                 plan)
    odd = m.ActionPlan(actor="sam", steps=[
        m.PlanStep(kind="credit_offer", description="x", amount=Decimal("1.005"))])
    with pytest.raises(rf.InvalidValue, match="more decimal places than GBP allows"):
        check_money_steps(odd, ORDER, Decimal(0))
    euros = m.ActionPlan(actor="sam", steps=[
        m.PlanStep(kind="refund", description="x", amount=Decimal("1"), currency="EUR")])
    with pytest.raises(rf.InvalidValue, match="is in EUR; order ord-1 is in GBP"):
        check_money_steps(euros, ORDER, Decimal(0))


def test_the_sign_off_needs_agreement_a_deployed_fix_an_applied_refund_and_the_words():
    ok = m.ResolutionConfirmation(actor="sam", confirmation_text="Resolution confirmed, thanks")
    agreed = complaint(phase=Phase.resolution, customer_agreed=True)
    rules.confirm_resolution(agreed, ok)
    with pytest.raises(rf.NotReady, match="has not agreed"):
        rules.confirm_resolution(complaint(phase=Phase.resolution), ok)
    with pytest.raises(rf.NotReady, match="fix is not deployed"):
        rules.confirm_resolution(complaint(phase=Phase.resolution, customer_agreed=True,
                                           fix="open"), ok)
    with pytest.raises(rf.NotReady, match=r"refund is not applied yet \(pending approval\)"):
        rules.confirm_resolution(complaint(phase=Phase.resolution, customer_agreed=True,
                                           refund=m.RefundState(status="pending_approval")), ok)
    with pytest.raises(rf.InvalidValue, match="must contain \"Resolution Confirmed\""):
        rules.confirm_resolution(agreed, ok.model_copy(update={"confirmation_text": "fine"}))


def test_a_customer_agreement_needs_a_proposal_waiting_but_a_plain_reply_does_not():
    reply = m.CustomerResponse(actor="ana", agrees=None, message="any news?")
    rules.record_customer_response(complaint(), reply)
    with pytest.raises(rf.NotReady, match="no solution is waiting"):
        rules.record_customer_response(complaint(), reply.model_copy(update={"agrees": True}))
    rules.record_customer_response(complaint(status=Status.awaiting_customer),
                                   reply.model_copy(update={"agrees": True}))


def test_reassign_escalate_csat_and_the_customer_channel():
    with pytest.raises(rf.InvalidValue, match="'ana' is a agent; an owner is"):
        rules.reassign(complaint(), m.Reassignment(actor="tom", owner="ana"))
    with pytest.raises(rf.AlreadyDone, match="already owns"):
        rules.reassign(complaint(), m.Reassignment(actor="tom", owner="sam"))
    with pytest.raises(rf.UnknownStaff, match="not on the roster"):
        rules.reassign(complaint(), m.Reassignment(actor="tom", owner="nobody"))
    with pytest.raises(rf.AlreadyDone, match="already escalated to the head"):
        rules.escalate(complaint(escalation_level=2), m.EscalationRequest(actor="sam", reason="x"))
    with pytest.raises(rf.AlreadyDone, match=r"already recorded \(4/5\)"):
        rules.record_csat(complaint(phase=Phase.closed, csat_score=4),
                          m.CsatResponse(actor="ana", score=5))
    with pytest.raises(rf.NoCustomerEmail, match="no email address"):
        rules.send_customer_update(replace(complaint(), customer_email=None),
                                   m.CustomerUpdate(actor="sam", message="x"))


def test_a_refund_decision_counts_only_from_finance_for_a_pending_refund_within_its_limits():
    pending = m.RefundState(status="pending_approval", refund_id=1, amount=Decimal("100.00"),
                            currency="GBP", maximum=Decimal("120.00"), computation="c")
    yes = m.RefundDecision(actor="fiona", approved=True, amount=Decimal("100.00"))
    assert refund_decision_problem(pending, ROSTER["fiona"], yes) is None
    assert "not a finance manager" in refund_decision_problem(pending, ROSTER["sam"], yes)
    assert "not a finance manager" in refund_decision_problem(pending, None, yes)
    assert "above the maximum 120.00" in refund_decision_problem(
        pending, ROSTER["fiona"], yes.model_copy(update={"amount": Decimal("130")}))
    assert "above the 100.00 GBP requested" in refund_decision_problem(
        pending, ROSTER["fiona"], yes.model_copy(update={"amount": Decimal("110")}))
    done = pending.model_copy(update={"status": "applied"})
    assert refund_decision_problem(done, ROSTER["fiona"], yes) == (
        "no refund is waiting for a decision (refund 1 is applied)")
    with pytest.raises(rf.NotFinanceManager, match="not a finance manager"):
        rules.decide_refund(complaint(refund=pending), yes.model_copy(update={"actor": "tom"}))
    with pytest.raises(rf.OverLimit, match="above the maximum 120.00"):
        rules.decide_refund(complaint(refund=pending), yes.model_copy(update={"amount": 130}))
    with pytest.raises(rf.NotReady, match=r"no refund is waiting for a decision \(refund 1 is applied\)"):
        rules.decide_refund(complaint(refund=done), yes)
    # A refusal about who acted is a NotPermitted, whatever else it says.
    assert issubclass(rf.NotFinanceManager, rf.NotPermitted)


def test_deadline_names_read_as_the_team_says_them():
    assert deadline_type("phone_contact_2") == "phone_contact"
    assert deadline_type("escalation_level_1_2") == "escalation_level_1"
    assert deadline_type("escalation_level_2") == "escalation_level_2"
    assert set(DEADLINE_TYPES) >= {"resolution", "customer_update", "refund_approval"}
    assert ui.what_is_due("phone_contact_2", 3) == "phone contact"
    assert ui.what_is_due("resolution", 2) == "resolution (severity 2)"
    assert ui.what_is_due("escalation_level_2_2", 3) == "head of customer success to act on the escalation"
    assert acts_within_level("escalation_level_1_3") == 1 and acts_within_level("resolution") is None
    assert Event("deadline_breached") is Event.deadline_breached


def test_waiting_for_and_the_next_deadline_follow_the_state():
    s = complaint().state
    s.deadlines = [m.Deadline(name="phone_contact", due_at=T0 + timedelta(hours=4)),
                   m.Deadline(name="resolution", due_at=T0 + timedelta(days=3)),
                   m.Deadline(name="escalation_level_1", due_at=T0 + timedelta(hours=2),
                              met_at=T0)]
    assert ui.waiting_for(s, ROSTER) == [
        "phone call to the customer from Sam", "the 3 Whys and the investigation checklist from Sam"]
    assert ui.next_deadline(s).name == "phone_contact"
    s.escalation_level = 1
    s.deadlines.append(m.Deadline(name="escalation_level_1_2", due_at=T0 + timedelta(hours=1)))
    assert ui.waiting_for(s, ROSTER)[-1] == "the team lead to act on the escalation"
    assert ui.next_name(s, "escalation_level_1") == "escalation_level_1_3"
    assert ui.latest(s, "escalation_level_1") == "escalation_level_1_2"
    details = ui.ui_details(s.model_copy(update={"waiting_for": ui.waiting_for(s, ROSTER)}))
    assert "Next deadline: team lead to act on the escalation due 2026-03-02 10:00 UTC" in details


def test_who_may_withdraw_and_when():
    def withdrawal(actor: str) -> m.Withdrawal:
        return m.Withdrawal(actor=actor, reason="the customer asked us to close it")

    for phase in (Phase.triage, Phase.ownership, Phase.resolution, Phase.post_mortem):
        for actor in ("tom", "helen", "customer:cust-1"):
            rules.withdraw(complaint(phase=phase), withdrawal(actor))
    rules.withdraw(complaint(status=Status.awaiting_approval, phase=Phase.resolution),
                   withdrawal("tom"))
    for actor, reason in [("ana", "needs one of: head_of_cs, team_lead"),
                          ("sam", "is a specialist"), ("fiona", "is a finance_manager"),
                          ("customer:cust-2", "is not this complaint's customer"),
                          ("nobody", "not on the roster")]:
        with pytest.raises(rf.NotPermitted, match=reason):
            rules.withdraw(complaint(), withdrawal(actor))
    # Closed (resolved and reviewed) but not archived: taken, once (it is archived at once).
    rules.withdraw(complaint(phase=Phase.closed, status=Status.closed), withdrawal("tom"))
    asked = complaint(phase=Phase.closed, status=Status.closed, timeline=[m.TimelineEvent(
        seq=1, at=T0, event=Event.archive_requested, actor="tom")])
    with pytest.raises(rf.ComplaintClosed, match="already archived"):
        rules.withdraw(asked, withdrawal("tom"))
    with pytest.raises(rf.ComplaintClosed, match="already archived"):
        rules.withdraw(complaint(phase=Phase.closed, status=Status.archived), withdrawal("tom"))
    with pytest.raises(rf.StillRegistering, match="still being registered"):
        rules.withdraw(replace(complaint(), registered=False), withdrawal("tom"))
    gone = complaint(phase=Phase.closed, status=Status.closed,
                     outcome=m.ComplaintOutcome.withdrawn, timeline=[m.TimelineEvent(
                         seq=1, at=T0, event=Event.withdrawn, actor="helen")])
    with pytest.raises(rf.AlreadyWithdrawn, match="already withdrawn on 2026-03-02 09:00 UTC by helen"):
        rules.withdraw(gone, withdrawal("tom"))
    # Once withdrawn, nothing else is taken either (the run is ending).
    with pytest.raises(rf.AlreadyWithdrawn, match="withdrawn at the customer's request"):
        rules.record_csat(gone, m.CsatResponse(actor="ana", score=5))
    with pytest.raises(rf.AlreadyWithdrawn, match="withdrawn at the customer's request"):
        rules.record_fix_deployed(gone, m.FixDeployed(actor="raj", reference="R-1"))
    assert ui.waiting_for(gone.state, ROSTER) == []
    assert "withdrawn at the customer's request" in ui.ui_details(gone.state)
