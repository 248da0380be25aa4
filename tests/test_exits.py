"""Complaints that leave the happy path: silence after a proposal or the sign-off request,
deadlock and the final response, a regulator's clocks, and mail that is not a complaint.

Real time-skipping Temporal server, real PostgreSQL (demo seed), real SMTP delivery to the
sink. Every deadline is asserted at its exact instant, in business time where the policy
says so (across a weekend and a company holiday).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from reporting.figures import compute_metrics
from reporting.rendering import ReportRenderer, metrics_csv
from tests.api_stack import api_on
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack, text_of
from tests.scenarios import (
    ack,
    call,
    drive,
    plan,
    propose,
    refuse_three_times,
    refused,
    reply,
    review,
)
from workflows import calendar
from workflows.events import (
    CUSTOMER_AGREEMENT,
    CUSTOMER_SIGN_OFF,
    FINAL_RESPONSE,
    PERSONAL_ACK,
    REGULATORY_FINAL_RESPONSE,
    Event,
)
from workflows.models import (
    ComplaintOutcome,
    ComplaintState,
    CustomerUpdate,
    Dismissal,
    FinalResponse,
    Phase,
    Status,
)
from workflows.policy import POLICY_DIR, SlaPolicy, load_policy, snapshot_policy
from workflows.report import ReportPeriod, parse_period

LINK_SECRET = "a-test-link-secret-of-at-least-32-bytes!"


def event_at(state: ComplaintState, event: Event, deadline: str | None = None) -> datetime:
    found = [e for e in state.timeline if e.event == event
             and (deadline is None or e.deadline == deadline)]
    assert found, f"no {event} ({deadline}) in {[e.event for e in state.timeline]}"
    return found[-1].at


def with_holiday(policy: SlaPolicy, day: date) -> SlaPolicy:
    """The policy with a company day off (the snapshot resolves it with the bank holidays)."""
    return policy.model_copy(update={"calendar": policy.calendar.model_copy(
        update={"extra_holidays": [*policy.calendar.extra_holidays, day]})})


def next_working_day(policy: SlaPolicy, after: datetime, n: int) -> date:
    day = after.date()
    while n:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def quiet(policy: SlaPolicy) -> SlaPolicy:
    """The policy with the clocks a test is not about kept out of the way: long resolution
    targets and customer-update interval, so only the clocks under test escalate."""
    return policy.model_copy(update={
        "resolution": policy.resolution.model_copy(update={
            "sev1": "60d", "sev2": "60d", "sev3": "60d", "sev4": "60d"}),
        "communication": policy.communication.model_copy(update={
            "customer_update_every": timedelta(days=120)})})


async def owned_and_called(stack: ComplaintStack, to: str = "owner") -> tuple[str, ComplaintState]:
    """A complaint driven to `to` with the owner's phone call made (its clock met)."""
    crn, state = await drive(stack, "owner")
    owner = state.owner
    assert owner is not None
    await stack.act(crn, "record_phone_contact", call(owner))
    if to == "owner":
        return crn, await stack.status(crn)
    return await drive(stack, to, crn=crn, after="owner")


async def until_past(stack: ComplaintStack, instant: datetime) -> None:
    """Skip server time to just past `instant`, checking first that nothing fell due at it
    a second early."""
    before = await stack.status(stack.started[-1])
    await stack.sleep(instant - await stack.env.get_current_time() - timedelta(seconds=1))
    early = [e for e in (await stack.status(stack.started[-1])).timeline
             if e.seq > (before.timeline[-1].seq if before.timeline else 0)
             and e.event in (Event.deadline_warning, Event.deadline_breached)]
    assert early == [], f"fell due before {instant}: {early}"
    await stack.sleep(timedelta(seconds=2))


def fell_at(moment: datetime, due: datetime) -> bool:
    """`moment` is the instant a timer due at `due` was acted on (within the same second)."""
    return due <= moment < due + timedelta(seconds=1)


# --- silence after a proposal --------------------------------------------------------------


async def test_an_unanswered_proposal_is_reminded_at_half_then_the_owner_is_told_and_it_escalates(
        stack: ComplaintStack):
    # A company day off on the second working day ahead: the wait skips it and the weekend.
    stack.policy = with_holiday(quiet(load_policy()), next_working_day(
        load_policy(), await stack.env.get_current_time(), 2))
    stack.settings = replace(stack.settings, link_secret=LINK_SECRET)
    async with stack.worker():
        crn, state = await owned_and_called(stack, "proposed")
        proposed_at = event_at(state, Event.solution_proposed)
        cal, waiting = (await policy_of(stack, crn)).calendar, stack.policy.waiting
        due = calendar.business_deadline(cal, proposed_at, waiting.agreement_wait)
        remind = calendar.business_deadline(cal, proposed_at, waiting.agreement_wait, 0.5)
        deadline = state.deadline(CUSTOMER_AGREEMENT)
        assert deadline is not None and (deadline.due_at, deadline.warn_at) == (due, remind)
        # Five working days from the proposal: past a weekend and the day off.
        assert due - proposed_at > timedelta(days=7)

        await until_past(stack, remind)
        reminder = await stack.mail_for(crn, "agreement_reminder:1")
        body = text_of(reminder)
        assert reminder["To"] == "kite@kite.example" and crn in reminder["Subject"]
        assert "not heard back" in body and "/c/agreement/" in body
        # In the complaint's thread, like every email about it (the proposal's thread).
        proposal = await stack.mail_for(crn, "solution_proposal:1")
        assert reminder["References"] == proposal["References"]
        assert reminder["In-Reply-To"] == proposal["In-Reply-To"]
        state = await stack.status(crn)
        assert fell_at(event_at(state, Event.deadline_warning, CUSTOMER_AGREEMENT), remind)
        assert state.escalation_level == 0 and not state.sla_breached

        await until_past(stack, due)
        state = await stack.until(crn, lambda s: s.escalation_level == 1)
        assert fell_at(event_at(state, Event.deadline_breached, CUSTOMER_AGREEMENT), due)
        assert fell_at(event_at(state, Event.escalated), due) and state.sla_breached
        # Silence is ours to fill now: the update clock runs again from the lapse.
        assert fell_at(event_at(state, Event.update_clock_resumed), due)
        told = await stack.mail_for(crn, "agreement_lapsed:1")
        assert told["To"] == "sam@example.com" and "not answered" in text_of(told)
        assert state.status == Status.awaiting_customer  # still the customer's turn


async def test_an_answer_meets_the_agreement_wait_and_a_new_plan_supersedes_it(
        stack: ComplaintStack):
    async with stack.worker():
        crn, _ = await drive(stack, "proposed")
        state = await stack.act(crn, "record_customer_response", reply(False))
        agreement = state.deadline(CUSTOMER_AGREEMENT)
        assert agreement is not None and agreement.met_at is not None
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "submit_action_plan", plan(owner))
        state = await stack.act(crn, "propose_solution", propose(owner))
        second = state.deadline(f"{CUSTOMER_AGREEMENT}_2")
        assert second is not None and second.met_at is None
        state = await stack.act(crn, "submit_action_plan", plan(owner, note="Another way"))
        second = state.deadline(f"{CUSTOMER_AGREEMENT}_2")
        assert second is not None and second.superseded and not second.breached


# --- silence after the sign-off request ------------------------------------------------------


async def test_no_sign_off_within_the_wait_resolves_it_unconfirmed_and_the_survey_still_goes(
        stack: ComplaintStack):
    stack.policy = quiet(load_policy())
    stack.settings = replace(stack.settings, link_secret=LINK_SECRET)
    async with stack.worker():
        crn, state = await owned_and_called(stack, "agreed")  # nothing left to carry out
        asked_at = event_at(state, Event.sign_off_requested)
        cal, waiting = (await policy_of(stack, crn)).calendar, stack.policy.waiting
        due = calendar.business_deadline(cal, asked_at, waiting.sign_off_wait)
        remind = calendar.business_deadline(cal, asked_at, waiting.sign_off_wait, 0.5)
        deadline = state.deadline(CUSTOMER_SIGN_OFF)
        assert deadline is not None and (deadline.due_at, deadline.warn_at) == (due, remind)

        await until_past(stack, remind)
        reminder = await stack.mail_for(crn, "sign_off_reminder:1")
        assert reminder["Subject"].startswith(f"[{crn}] Reminder: Is your complaint resolved?")
        assert "/c/sign_off/" in text_of(reminder) and reminder["In-Reply-To"]

        await until_past(stack, due)
        state = await stack.until(crn, lambda s: s.status == Status.resolved)
        assert (state.phase, state.outcome) == (Phase.post_mortem, ComplaintOutcome.unconfirmed)
        assert state.resolved_at is not None and fell_at(state.resolved_at, due)
        # The customer's silence is no breach of ours: nothing escalated, nothing flagged.
        assert state.escalation_level == 0 and not state.sla_breached
        notice = await stack.mail_for(crn, "resolution_unconfirmed")
        assert "reopen" in text_of(notice) and notice["To"] == "kite@kite.example"
        await stack.mail_for(crn, "survey")  # CSAT is still asked
        resolution = state.deadline("resolution")
        assert resolution is not None and resolution.met_at == state.resolved_at
        row = await stack.until_row(crn, lambda r: r["outcome"] == "unconfirmed")
        assert row["status"] == "resolved"


async def test_the_written_sign_off_is_recorded_as_confirmed(stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "resolved")
        assert (state.status, state.outcome) == (Status.resolved, ComplaintOutcome.confirmed)
        sign_off = state.deadline(CUSTOMER_SIGN_OFF)
        assert sign_off is not None and sign_off.met_at is not None
        await stack.mail_for(crn, "resolution_notice")


# --- deadlock and the final response ----------------------------------------------------------


async def test_three_refused_proposals_ask_the_owner_for_a_final_response_by_a_deadline(
        stack: ComplaintStack):
    async with stack.worker():
        crn, owner = await refuse_three_times(stack)
        state = await stack.status(crn)
        assert state.proposals_refused == 3
        asked = event_at(state, Event.deadlock)
        final = state.deadline(FINAL_RESPONSE)
        cal = (await policy_of(stack, crn)).calendar
        assert final is not None
        assert final.due_at == calendar.business_deadline(cal, asked, "5d")
        assert final.warn_at == calendar.business_deadline(cal, asked, "5d", 0.75)
        due_mail = await stack.mail_for(crn, "final_response_due:3")
        assert due_mail["To"] == "sam@example.com" and "refused 3" in text_of(due_mail)

        done = await stack.act(crn, "issue_final_response", FinalResponse(
            actor=owner, outcome="partly_upheld",
            message="We have checked every export since March. The totals were wrong twice."))
        assert (done.status, done.phase, done.outcome) == (
            Status.resolved, Phase.post_mortem, ComplaintOutcome.partly_upheld)
        letter = await stack.mail_for(crn, "final_response:1")
        body = text_of(letter)
        assert "We uphold your complaint in part." in body
        assert "The totals were wrong twice." in body
        assert load_policy().final_response.closing_text.split(".")[0] in " ".join(body.split())
        final = done.deadline(FINAL_RESPONSE)
        assert final is not None and final.met_at is not None
        # Every other clock has ended: nothing is left to breach.
        assert [d.name for d in done.deadlines if d.met_at is None and not d.superseded
                and not d.breached] == []
        await stack.mail_for(crn, "survey")  # on to the post-mortem as usual


async def test_a_final_response_is_refused_before_the_review_and_not_upheld_needs_a_lead(
        stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        owner = state.owner
        assert owner == "sam"  # a specialist
        letter = "We looked into it and cannot agree that the totals were wrong."
        await refused(stack, crn, "issue_final_response",
                      FinalResponse(actor=owner, outcome="upheld", message=letter),
                      "internal review")
        await stack.act(crn, "submit_internal_review", review(owner))
        await refused(stack, crn, "issue_final_response",
                      FinalResponse(actor=owner, outcome="not_upheld", message=letter),
                      "team lead or the head of customer success")
        await refused(stack, crn, "issue_final_response",
                      FinalResponse(actor="ana", outcome="upheld", message=letter),
                      "only the owner")
        done = await stack.act(crn, "issue_final_response", FinalResponse(
            actor="tom", outcome="not_upheld", message=letter))
        assert done.outcome == ComplaintOutcome.not_upheld
        await refused(stack, crn, "issue_final_response",
                      FinalResponse(actor="tom", outcome="upheld", message=letter),
                      "phase")


# --- not a complaint ------------------------------------------------------------------------


async def test_spam_dismissed_in_the_first_hour_stops_every_clock_without_a_breach(
        stack: ComplaintStack):
    async with stack.worker():
        crn = (await stack.submit()).crn
        await stack.mail_for(crn, "acknowledgement")
        await stack.until(crn, lambda s: s.handling_agent is not None)
        done = await stack.act(crn, "dismiss", Dismissal(actor="ana", reason="spam",
                                                          note="Link farm"))
        assert (done.status, done.phase, done.outcome) == (
            Status.closed, Phase.closed, ComplaintOutcome.dismissed)
        personal = done.deadline(PERSONAL_ACK)
        assert personal is not None and personal.superseded and not personal.breached
        result = await stack.client.get_workflow_handle(crn).result()
        assert result["outcome"] == "dismissed"  # the run has ended
        await stack.sleep(timedelta(days=3))
        events = await stack.rows("SELECT event, actor, reason FROM complaint_events "
                                  "WHERE crn = $1 ORDER BY seq", crn)
        assert "deadline_breached" not in [e["event"] for e in events]
        assert [(e["actor"], e["reason"]) for e in events if e["event"] == "dismissed"] == [
            ("ana", "spam")]
        assert [m["X-Complaint-Message-Kind"] for m in stack.mails(crn)] == ["acknowledgement"]
        row = (await stack.rows("SELECT status, outcome FROM complaints WHERE crn = $1", crn))[0]
        assert (row["status"], row["outcome"]) == ("closed", "dismissed")


async def test_not_a_complaint_may_send_a_polite_note_and_bad_dismissals_change_nothing(
        stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "resolved")
        await refused(stack, crn, "dismiss", Dismissal(actor="tom", reason="spam"), "resolved")
        other = (await stack.submit()).crn
        await stack.until(other, lambda s: s.handling_agent is not None)
        await refused(stack, other, "dismiss",
                      Dismissal(actor="tom", reason="duplicate", duplicate_of=other), "itself")
        await refused(stack, other, "dismiss", Dismissal(
            actor="tom", reason="duplicate", duplicate_of="CRN-NOSUCHONE1"), "is not a complaint")
        await refused(stack, other, "dismiss", Dismissal(actor="raj", reason="spam"),
                      "dismiss needs one of")
        await stack.act(other, "dismiss", Dismissal(actor="tom", reason="not_a_complaint",
                                                    send_note=True))
        note = await stack.mail_for(other, "not_a_complaint")
        assert "not something our complaints team handles" in " ".join(text_of(note).split())


# --- a regulator's clocks -------------------------------------------------------------------


async def policy_of(stack: ComplaintStack, crn: str) -> SlaPolicy:
    """The policy a complaint snapshotted (bank holidays resolved)."""
    return snapshot_policy(stack.policy, (await stack.status(crn)).received_at)


async def test_fca_final_response_clock_warns_at_six_weeks_and_breaches_to_the_head_at_eight(
        stack: ComplaintStack):
    stack.policy = quiet(load_policy(POLICY_DIR / "fca-disp.toml"))
    async with stack.worker():
        crn, state = await owned_and_called(stack)
        received = state.received_at
        limit = state.deadline(REGULATORY_FINAL_RESPONSE)
        assert limit is not None
        assert (limit.due_at, limit.warn_at) == (received + timedelta(weeks=8),
                                                  received + timedelta(weeks=6))
        assert limit.warn_at is not None
        await until_past(stack, limit.warn_at)
        state = await stack.status(crn)
        assert fell_at(event_at(state, Event.deadline_warning, REGULATORY_FINAL_RESPONSE), limit.warn_at)
        warned = await stack.mail_for(crn, f"warning:{REGULATORY_FINAL_RESPONSE}")
        assert warned["To"] == "sam@example.com"
        assert state.escalation_level == 0
        await until_past(stack, limit.due_at)
        state = await stack.until(crn, lambda s: s.escalation_level == 2)
        assert fell_at(event_at(state, Event.deadline_breached, REGULATORY_FINAL_RESPONSE), limit.due_at)
        escalated = [e for e in state.timeline if e.event == Event.escalated and e.level == 2]
        assert escalated and fell_at(escalated[-1].at, limit.due_at)
        assert "regulator" in (escalated[-1].reason or "")


async def test_fca_resolved_within_three_business_days_gets_the_summary_resolution_letter(
        stack: ComplaintStack):
    stack.policy = load_policy(POLICY_DIR / "fca-disp.toml")
    async with stack.worker():
        crn, state = await drive(stack, "resolved")
        received = state.received_at
        cal = (await policy_of(stack, crn)).calendar
        assert calendar.period_deadline(cal, received, "3 business days") > state.resolved_at
        letter = await stack.mail_for(crn, "summary_resolution")
        body = " ".join(text_of(letter).split())
        assert "Financial Ombudsman Service" in body and "six months" in body
        limit = state.deadline(REGULATORY_FINAL_RESPONSE)
        assert limit is not None and limit.met_at is not None  # a confirmed resolution meets it


async def test_cfpb_holding_response_extends_the_limit_to_sixty_days_and_the_letter_refers_to_the_cfpb(
        stack: ComplaintStack):
    stack.policy = load_policy(POLICY_DIR / "cfpb.toml")
    async with stack.worker():
        crn, state = await drive(stack, "review")
        owner = state.owner
        assert owner is not None
        received = state.received_at
        first = state.deadline(REGULATORY_FINAL_RESPONSE)
        assert first is not None and first.due_at == received + timedelta(days=15)
        state = await stack.act(crn, "send_customer_update", CustomerUpdate(
            actor=owner, holding=True,
            message="We need more time to check your statements; we will answer in full."))
        assert first.name in [d.name for d in state.deadlines if d.superseded]
        extended = state.deadline(f"{REGULATORY_FINAL_RESPONSE}_2")
        assert extended is not None and extended.due_at == received + timedelta(days=60)
        await refused(stack, crn, "send_customer_update", CustomerUpdate(
            actor=owner, holding=True, message="Still checking."), "already sent")
        done = await stack.act(crn, "issue_final_response", FinalResponse(
            actor=owner, outcome="upheld",
            message="You were charged twice; the second charge was our error."))
        assert done.outcome == ComplaintOutcome.upheld
        letter = text_of(await stack.mail_for(crn, "final_response:1"))
        assert "Consumer Financial Protection Bureau" in " ".join(letter.split())


async def test_a_holding_response_is_refused_where_the_policy_allows_no_extension(
        stack: ComplaintStack):
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        text = await refused(stack, crn, "send_customer_update", CustomerUpdate(
            actor=state.owner or "", holding=True, message="We need longer."),
            "allows no holding response")
        assert "extended_final_response_within" in text
        after = await stack.status(crn)
        assert [e for e in after.timeline if e.event == Event.holding_response] == []
        assert not stack.mails(crn, "customer_update")


# --- the reports count every outcome apart -------------------------------------------------


async def test_reports_count_each_outcome_apart_and_the_regulators_figures(
        stack: ComplaintStack):
    """Four complaints under the FCA's policy: one confirmed, one resolved unconfirmed, one
    upheld by a final response, one dismissed as spam. The report counts each apart, the
    dismissed one in no other figure, and the FCA's time bands over the three resolved."""
    stack.policy = quiet(load_policy(POLICY_DIR / "fca-disp.toml"))
    stack.settings = replace(stack.settings, link_secret=LINK_SECRET)
    async with stack.worker():
        started = await stack.env.get_current_time()
        confirmed, _ = await owned_and_called(stack, "resolved")
        unconfirmed, state = await owned_and_called(stack, "agreed")
        sign_off = state.deadline(CUSTOMER_SIGN_OFF)
        assert sign_off is not None
        upheld, state = await owned_and_called(stack, "review")
        await stack.act(upheld, "issue_final_response", FinalResponse(
            actor=state.owner or "", outcome="upheld", message="You were right; we fixed it."))
        spam = (await stack.submit(subject="Cheap watches")).crn
        await stack.until(spam, lambda s: s.handling_agent is not None)
        await stack.act(spam, "dismiss", Dismissal(actor="ana", reason="spam"))
        await until_past(stack, sign_off.due_at)
        await stack.until(unconfirmed, lambda s: s.outcome == ComplaintOutcome.unconfirmed)
        await stack.until_row(unconfirmed, lambda r: r["outcome"] == "unconfirmed")
        await stack.until_row(spam, lambda r: r["outcome"] == "dismissed")

    period = ReportPeriod(kind="weekly", key="test", first_day=started.date(),
                          end_day=started.date() + timedelta(days=30), timezone="UTC")
    async with stack.pool.acquire() as conn:
        m = await compute_metrics(conn, period, stack.policy, as_of=started + timedelta(days=30))
    assert (m.received, m.resolved, m.dismissed) == (3, 3, 1)
    assert {c.name: c.count for c in m.resolved_by_outcome} == {
        "confirmed": 1, "unconfirmed": 1, "upheld": 1, "partly_upheld": 0, "not_upheld": 0}
    assert {c.name: c.count for c in m.dismissed_by_reason if c.count} == {"spam": 1}
    # The spam's acknowledgement clock was stopped, and it counts in no SLA figure.
    assert m.acknowledgement_measured == 3
    fca = m.regulator
    assert fca is not None and fca.regulator == "FCA DISP"
    # The confirmed and the upheld were resolved at once; the unconfirmed one after its
    # five business days of silence, past the 3-business-day summary period.
    assert (fca.closed, fca.within_summary, fca.within_limit, fca.after_limit) == (3, 2, 3, 0)
    [category] = fca.by_category
    assert (category.category, category.closed, category.upheld) == ("data_inaccuracy", 3, 1)
    csv_text = metrics_csv(m)
    assert "resolved_by_outcome,unconfirmed,1" in csv_text
    assert "dismissed_by_reason,spam,1" in csv_text
    assert "regulator,resolved within 3 business days,2" in csv_text
    rendered = ReportRenderer(stack.settings.templates_dir).render(m)
    assert "Resolved, not confirmed" in rendered.text and "FCA DISP FIGURES" in rendered.text
    assert "Dismissed (not complaints)  1: spam 1" in rendered.text


def test_a_half_year_period():
    h2 = parse_period("half-year", "2026-H2", "Europe/London")
    assert (h2.key, h2.first_day, h2.end_day) == ("2026-H2", date(2026, 7, 1), date(2027, 1, 1))
    assert parse_period("half-year", "2026-03-14", "UTC").key == "2026-H1"
    assert h2.label == "H2 2026 (July to December 2026)"


# --- the new actions through the API and the CLI ---------------------------------------------


async def test_the_final_response_and_the_dismissal_through_the_api_and_the_cli(
        stack: ComplaintStack, monkeypatch, capsys):
    async with api_on(stack) as api:
        crn = await api.submit()
        await stack.mail_for(crn, "acknowledgement")
        await stack.act(crn, "acknowledge_personally", ack())
        owner = (await stack.until(crn, lambda s: s.owner is not None)).owner or ""
        await stack.act(crn, "submit_internal_review", review(owner))
        # An owner may not decline a complaint alone: 403, and nothing changed.
        refused_by_role = await api.act(crn, "issue_final_response", owner,
                                        outcome="not_upheld", message="We disagree.")
        assert refused_by_role.status_code == 403, refused_by_role.text
        done = await api.act(crn, "issue_final_response", "tom", outcome="not_upheld",
                             message="We looked again and the totals were right.")
        assert done.status_code == 200, done.text
        assert done.json()["outcome"] == "not_upheld"
        bad = await api.act(crn, "dismiss", "tom", reason="spam")
        assert bad.status_code == 409, bad.text  # resolved: not dismissed

        # The CLI: a dismissal as a duplicate of the first, then one that names nothing.
        other = await api.submit()
        await stack.until(other, lambda s: s.handling_agent is not None)
        monkeypatch.setenv("TEMPORAL_ADDRESS",
                           stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        code, _, err = await Cli(capsys)("dismiss", other, "--actor", "ana", "--reason",
                                         "duplicate", "--duplicate-of", "CRN-NOSUCHONE1")
        assert code == 1 and "CRN-NOSUCHONE1 is not a complaint" in err
        code, out, err = await Cli(capsys)("dismiss", other, "--actor", "ana", "--reason",
                                           "duplicate", "--duplicate-of", crn)
        assert code == 0, err
        assert f"{other}: closed" in out
        row = await stack.until_row(other, lambda r: r["outcome"] == "dismissed")
        assert row["duplicate_of"] == crn


def test_every_outcome_reads_in_plain_words_to_staff_and_to_the_customer():
    """The console and `status` (closed_as) and the customer's status page (ENDED) say how
    each complaint ended; an outcome added without its words fails here."""
    from starter.console.customer import ENDED
    from workflows.complaint.presentation import ENDED_AS

    assert set(ENDED) == set(ENDED_AS) == set(ComplaintOutcome)
    assert ENDED[ComplaintOutcome.unconfirmed].endswith("we will pick it up again.")
    assert ENDED_AS[ComplaintOutcome.partly_upheld] == "final response: partly upheld"
