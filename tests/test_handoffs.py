"""A clock for every hand-off: R&D's fix (from the customer's agreement) and QA's knowledge
base article (from the RCA) each have a deadline owned by that team (the policy's
[handoffs]): the team is reminded at 75%, a breach goes to that team's lead and counts
against that team in the reports, never against the complaint's owner.

Real time-skipping Temporal server, real PostgreSQL (demo seed: raj in team rnd, quinn in
team qa, rhea and quentin their leads, tom the support team's lead), real SMTP sink. Every
instant asserted exactly, in business time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reporting.figures import compute_metrics
from reporting.rendering import metrics_csv
from tests.conftest import ComplaintStack, text_of
from tests.scenarios import AS_OF, SUPERVISORS, at, ev, plan_agreed, to_owner
from workflows import calendar
from workflows import models as m
from workflows.complaint.case import Case
from workflows.events import KB_ARTICLE, RND_FIX, Event, team_of
from workflows.models import ComplaintState, Role
from workflows.policy import SlaPolicy, load_policy, snapshot_policy
from workflows.records import StaffMember
from workflows.report import period_containing


def clocks_out_of_the_way(policy: SlaPolicy) -> SlaPolicy:
    """Long resolution targets and customer-update interval: only the hand-offs fall due."""
    return policy.model_copy(update={
        "resolution": policy.resolution.model_copy(update={
            "sev1": "60d", "sev2": "60d", "sev3": "60d", "sev4": "60d"}),
        "communication": policy.communication.model_copy(update={
            "customer_update_every": timedelta(days=120)})})


def events(state: ComplaintState, event: Event) -> list[m.TimelineEvent]:
    return [e for e in state.timeline if e.event == event]


async def just_past(stack: ComplaintStack, crn: str, instant: datetime) -> None:
    """Server time to a second before `instant` (nothing fell due yet), then just past it."""
    await stack.sleep(instant - await stack.env.get_current_time() - timedelta(seconds=1))
    early = [e for e in (await stack.status(crn)).timeline
             if e.at >= instant - timedelta(seconds=2)
             and e.event in (Event.deadline_warning, Event.deadline_breached)]
    assert early == [], f"fell due before {instant}: {early}"
    await stack.sleep(timedelta(seconds=2))


async def test_the_rnd_fix_warns_the_team_at_75_percent_and_breaches_to_the_rnd_lead_not_the_owner(
        stack: ComplaintStack):
    stack.policy = clocks_out_of_the_way(load_policy())
    async with stack.worker():
        crn = await to_owner(stack)
        owner = (await stack.status(crn)).owner
        assert owner is not None
        await plan_agreed(stack, crn, owner, fix=True)  # the customer agrees to a fix
        state = await stack.until(crn, lambda s: s.deadline(RND_FIX) is not None)
        agreed = events(state, Event.customer_agreed)[-1].at
        before = state
        policy = snapshot_policy(stack.policy, state.received_at)
        due = calendar.business_deadline(policy.calendar, agreed, "3d")
        warn = calendar.business_deadline(policy.calendar, agreed, "3d", 0.75)
        d = state.deadline(RND_FIX)
        assert d is not None and (d.due_at, d.warn_at) == (due, warn)
        assert d.summary.startswith("SLA: R&D's technical fix (team rnd) due")

        await just_past(stack, crn, warn)
        reminder = await stack.mail_for(crn, f"handoff_reminder:{RND_FIX}")
        assert reminder["To"] == "raj@example.com"  # the team, not its lead
        assert "counts against your team" in text_of(reminder)
        warned = await stack.status(crn)
        assert [e.deadline for e in events(warned, Event.deadline_warning)] == [RND_FIX]

        def to_tom() -> int:
            return sum(1 for mail in stack.mails(crn) if mail["To"] == "tom@example.com")

        tom_before = to_tom()
        await just_past(stack, crn, due)
        state = await stack.until(crn, lambda s: bool(events(s, Event.handoff_overdue)))
        overdue = events(state, Event.handoff_overdue)[-1]
        assert (overdue.deadline, overdue.reason) == (RND_FIX, "rnd")
        assert due <= overdue.at < due + timedelta(seconds=1)
        lead_mail = await stack.mail_for(crn, f"handoff_overdue:{RND_FIX}")
        assert lead_mail["To"] == "rhea@example.com"  # the R&D lead, not tom
        # Never against the owner: no SLA breach, no escalation, nobody else emailed.
        assert not state.sla_breached
        assert state.escalation_level == before.escalation_level
        assert events(state, Event.escalated) == events(before, Event.escalated)
        assert to_tom() == tom_before  # the support team's lead hears nothing of it

        # Counted against team rnd in the report, not against support (the owners).
        await stack.settle()
        period = period_containing("monthly", due.date(), "UTC")
        async with stack.pool.acquire() as conn:
            metrics = await compute_metrics(conn, period, stack.policy,
                                            as_of=due + timedelta(hours=1))
        by_team = {c.name: c.count for c in metrics.breaches_by_team}
        assert by_team["rnd"] == 1 and by_team["support"] == 0 and by_team["qa"] == 0
        assert ["breaches_by_team", "rnd", "1"] in [r.split(",") for r in
                                                   metrics_csv(metrics).splitlines()]

        # Deployed late: the deadline is met after its breach.
        await stack.act(crn, "record_fix_deployed", m.FixDeployed(actor="raj",
                                                                 reference="release 4.2"))
        met = (await stack.status(crn)).deadline(RND_FIX)
        assert met is not None and met.met_at is not None and met.breached


async def test_the_kb_article_has_its_own_clock_from_the_rca(stack: ComplaintStack):
    stack.policy = clocks_out_of_the_way(load_policy())
    async with stack.worker():
        crn = await to_owner(stack)
        owner = (await stack.status(crn)).owner
        assert owner is not None
        await plan_agreed(stack, crn, owner, fix=False)
        await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=owner, confirmation_text="Resolution Confirmed"))
        state = await stack.act(crn, "submit_rca", m.RootCauseAnalysis(
            actor=owner, root_cause="Rounding", process_failures=["No review"],
            corrective_actions=["A test"], kb_article_needed=True))
        rca_at = events(state, Event.rca)[-1].at
        policy = snapshot_policy(stack.policy, state.received_at)
        d = state.deadline(KB_ARTICLE)
        assert d is not None
        assert d.due_at == calendar.business_deadline(policy.calendar, rca_at, "5d")
        assert d.warn_at == calendar.business_deadline(policy.calendar, rca_at, "5d", 0.75)
        done = await stack.act(crn, "record_kb_article", m.KbArticleDone(
            actor="quinn", reference="KB-101"))
        kb = done.deadline(KB_ARTICLE)
        assert kb is not None and kb.met_at is not None and not kb.breached


def test_the_team_lead_of_a_complaint_is_the_support_team_s():
    """The escalation's "team lead" is the support team's, whatever other teams' leads
    sort first; a hand-off's lead is that team's."""
    roster = [StaffMember(id=i, name=i, email=f"{i}@x.example", role=Role.team_lead, team=t)
              for i, t in (("aaron", "rnd"), ("bea", "qa"), ("tom", "support"))]
    case = Case.model_construct()  # type: ignore[call-arg]  # the roster is all it reads
    case._roster = {s.id: s for s in roster}
    lead = case.staff_for(Role.team_lead)
    assert lead is not None and lead.id == "tom"
    rnd = case.staff_for(Role.team_lead, team="rnd")
    assert rnd is not None and rnd.id == "aaron"
    assert (team_of("rnd_fix_2"), team_of(KB_ARTICLE), team_of("refund_approval"),
            team_of("customer_update_3")) == ("rnd", "qa", "finance", "support")


def test_the_what_if_counts_a_late_hand_off_against_its_team_without_escalating():
    """R&D took four working days for a fix: a breach under a 3-day [handoffs] rnd_fix,
    none under 5 days; either way the complaint's escalations are the same. A reopening sets
    the resolution target again from its instant."""
    from workflows.events import RESOLUTION
    from workflows.models import Impact
    from workflows.whatif import PastComplaint, simulate

    events = (ev(at(2, 9), "received"), ev(at(2, 9, 30), "acknowledged_personally", "ana"),
              ev(at(2, 10), "rnd_task_opened"), ev(at(6, 10), "fix_deployed", "raj"),
              ev(at(6, 11), "resolved", "sam"))
    past = PastComplaint("CRN-H1", at(2, 9), Impact.single_client, None, at(6, 11), events)
    strict = snapshot_policy(load_policy(), at(1, 0, month=1))
    lenient = strict.model_copy(update={"handoffs": strict.handoffs.model_copy(
        update={"rnd_fix": "5d"})})
    late, fine = (simulate(p, [past], SUPERVISORS, AS_OF) for p in (strict, lenient))
    assert late.breaches[RND_FIX] == 1 and fine.breaches[RND_FIX] == 0
    due = calendar.business_deadline(strict.calendar, at(2, 10), "3d")
    assert (due, RND_FIX) in late.replays["CRN-H1"].breaches
    assert late.escalations == fine.escalations

    # Reopened on Monday the 9th at 10:00 and resolved again within the hour: nothing more
    # than the first resolution's own count; resolved again a fortnight later: one more
    # resolution breach, due the severity's target after the reopening.
    def resolutions(after: str, resolved_again: datetime) -> int:
        life = (*events, ev(at(9, 10), "reopened", "tom"), ev(resolved_again, "resolved", "sam"))
        past = PastComplaint(after, at(2, 9), Impact.single_client, None, resolved_again, life)
        return simulate(lenient, [past], SUPERVISORS, at(28, 0)).breaches[RESOLUTION]

    first_only = late.breaches[RESOLUTION]
    assert resolutions("CRN-H2", at(9, 11)) == first_only
    assert resolutions("CRN-H3", at(23, 9)) == first_only + 1


def test_a_team_lead_s_queue_shows_their_team_s_hand_offs():
    """The R&D lead's queue: besides what every team lead sees (their team's complaints, the
    unassigned, their own), complaints with R&D's fix in progress; the QA lead's: those in
    their post-mortem (the KB article); the Finance lead's: refunds awaiting a decision. The
    support team's lead sees what every team lead sees."""
    from database.desk import Scope
    from starter.listing import scope_of

    def lead(team: str) -> StaffMember:
        return StaffMember(id=f"lead-{team}", name=team, email=f"{team}@x.example",
                           role=Role.team_lead, team=team)

    def usual(team: str, phases: tuple[str, ...] = (), statuses: tuple[str, ...] = ()
              ) -> Scope:
        return Scope(owner=f"lead-{team}", team=team, unassigned=True, phases=phases,
                     statuses=statuses)

    assert scope_of(lead("rnd")) == usual("rnd", statuses=("fix_in_progress",))
    assert scope_of(lead("qa")) == usual("qa", phases=("post_mortem",))
    assert scope_of(lead("finance")) == usual("finance", statuses=("awaiting_approval",))
    assert scope_of(lead("support")) == usual("support")
    params: list[object] = []
    assert scope_of(lead("rnd")).clause(params) == (
        "(c.owner = $1 OR c.team = $2 OR c.status = ANY($3::text[]) OR c.owner IS NULL)")
    assert params == ["lead-rnd", "rnd", ["fix_in_progress"]]


async def test_the_console_and_the_customer_s_status_page_show_the_hand_off_and_its_team(
        stack: ComplaintStack):
    from dataclasses import replace

    import httpx

    from mail.links import CustomerLinks
    from tests.console_stack import console_on, signed_in

    secret = "a-test-link-secret-of-at-least-32-bytes!"
    stack.settings = replace(stack.settings, link_secret=secret)
    async with console_on(stack) as console:
        stack.settings = replace(stack.settings, public_url=console.base)
        crn = await to_owner(stack)
        owner = (await stack.status(crn)).owner
        assert owner is not None
        await plan_agreed(stack, crn, owner, fix=True)
        state = await stack.until(crn, lambda s: s.deadline(RND_FIX) is not None)
        d = state.deadline(RND_FIX)
        assert d is not None
        async with signed_in(console, "rhea") as rhea:
            page = await rhea.get(f"/console/complaints/{crn}")
            assert page.status_code == 200
            assert "R&amp;D&#39;s technical fix (team rnd)" in page.text
        link = CustomerLinks(secret, console.base).url(crn, "status", "kite@kite.example")
        assert link is not None
        async with httpx.AsyncClient() as http:
            status = await http.get(link)
        assert status.status_code == 200, status.text
        assert "Our R&amp;D team is making the fix we agreed with you, by " in status.text
        assert f"{d.due_at:%d %B %Y, %H:%M} UTC" in status.text
