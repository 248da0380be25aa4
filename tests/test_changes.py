"""Complaints that change under way: re-triaged, waiting on the customer (the clocks paused),
moved to a new policy.

Real time-skipping Temporal server, real PostgreSQL (demo seed), real SMTP delivery to the
sink. Every moved deadline is asserted at its exact instant, in business time (across a
weekend and a bank holiday).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from reporting.figures import compute_metrics
from reporting.rendering import metrics_csv
from tests.api_stack import api_on
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack, text_of
from tests.console_stack import Console, console_on, passwords_set, signed_in, token
from tests.scenarios import ack, call, confirm, drive, plan, propose, refused, reply, review
from workflows import calendar
from workflows.events import INFORMATION_WAIT, RESOLUTION, Event
from workflows.models import (
    ClockResume,
    ComplaintState,
    InformationRequest,
    Retriage,
)
from workflows.policy import SlaPolicy, load_policy, snapshot_policy
from workflows.report import ReportPeriod

LINK_SECRET = "a-test-link-secret-of-at-least-32-bytes!"


def event_at(state: ComplaintState, event: Event) -> datetime:
    found = [e for e in state.timeline if e.event == event]
    assert found, f"no {event} in {[e.event for e in state.timeline]}"
    return found[-1].at


def fell_at(moment: datetime, due: datetime) -> bool:
    """`moment` is the instant a timer due at `due` was acted on (within the same second)."""
    return due <= moment < due + timedelta(seconds=1)


def long_updates(policy: SlaPolicy, **resolution: str) -> SlaPolicy:
    """The policy with the customer-update clock out of the way (and resolution targets)."""
    return policy.model_copy(update={
        "resolution": policy.resolution.model_copy(update=resolution),
        "communication": policy.communication.model_copy(update={
            "customer_update_every": timedelta(days=120)})})


async def policy_of(stack: ComplaintStack, crn: str) -> SlaPolicy:
    return snapshot_policy(stack.policy, (await stack.status(crn)).received_at)


async def skip_to(stack: ComplaintStack, instant: datetime) -> None:
    await stack.sleep(instant - await stack.env.get_current_time())


def next_weekday(after: datetime, weekday: int, hour: int) -> datetime:
    """The next `weekday` (0 Monday) at `hour`:00 UTC at least a day after `after`."""
    day = after.date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# --- re-triage -----------------------------------------------------------------------------


async def test_a_retriage_from_3_to_1_breaches_at_once_and_escalates_through_the_cli(
        stack: ComplaintStack, monkeypatch, capsys):
    stack.policy = long_updates(load_policy())
    async with stack.worker():
        crn, state = await drive(stack, "owner")  # data_inaccuracy, partial: severity 3
        assert state.severity == 3 and state.escalation_level == 0
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_phone_contact", call(owner))
        cal = (await policy_of(stack, crn)).calendar
        received = state.received_at
        sev1_due = calendar.business_deadline(cal, received, "8h")
        sev3_due = calendar.business_deadline(cal, received, "5d")
        assert state.deadline(RESOLUTION) is not None
        assert state.deadline(RESOLUTION).due_at == sev3_due
        # Two working days on: severity 1's target from intake is past, severity 3's is not.
        await skip_to(stack, calendar.business_deadline(cal, received, "2d"))

        monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        code, out, err = await Cli(capsys)("retriage", crn, "--actor", owner, "--severity", "1",
                                           "--category", "technical_bug", "--reason",
                                           "every customer's export is wrong, not one")
        assert code == 0, err
        state = await stack.until(crn, lambda s: s.escalation_level == 1)
        assert (state.severity, state.category) == (1, "technical_bug")
        first, second = state.deadline(RESOLUTION), state.deadline(f"{RESOLUTION}_2")
        assert first is not None and first.superseded and not first.breached
        assert second is not None and second.due_at == sev1_due and second.warn_at is None
        assert second.breached and second.breached_at == sev1_due  # at once, as it was due
        assert state.sla_breached and state.estimated_resolution_at == sev1_due
        retriaged = next(e for e in state.timeline if e.event == Event.retriaged)
        assert (retriaged.before, retriaged.after) == ("severity 3, data_inaccuracy",
                                                       "severity 1, technical_bug")
        assert retriaged.actor == owner and retriaged.reason
        escalated = next(e for e in state.timeline if e.event == Event.escalated)
        assert escalated.level == 1 and escalated.seq > retriaged.seq
        breached = [e for e in state.timeline if e.event == Event.deadline_breached]
        assert [e.deadline for e in breached] == [f"{RESOLUTION}_2"]
        # Said plainly: `status` (the CLI), and the row the reports read.
        code, out, err = await Cli(capsys)("status", crn)
        assert code == 0, err
        assert "severity changed from 3 to 1 on" in " ".join(out.split())
        row = await stack.until_row(crn, lambda r: r["severity"] == 1)
        assert row["category"] == "technical_bug"
        logged = await stack.rows("SELECT before, after FROM complaint_events WHERE crn = $1 "
                                  "AND event = 'retriaged'", crn)
        assert [tuple(r) for r in logged] == [("severity 3, data_inaccuracy",
                                               "severity 1, technical_bug")]
        # The reports count it at its final severity, and say it was re-triaged.
        period = ReportPeriod(kind="weekly", key="test", first_day=received.date(),
                              end_day=received.date() + timedelta(days=7), timezone="UTC")
        async with stack.pool.acquire() as conn:
            m = await compute_metrics(conn, period, stack.policy)
        assert {c.name: c.count for c in m.by_severity} == {"1": 1, "2": 0, "3": 0, "4": 0}
        assert m.retriaged == 1 and m.policy_changes == 0
        assert [(c.name, c.count) for c in m.by_policy_version] == [
            (state.policy_version, 1)]
        assert "retriaged,1" in metrics_csv(m)


# --- waiting on the customer -----------------------------------------------------------------


async def test_a_pause_across_a_weekend_and_a_bank_holiday_moves_the_resolution_by_the_paused_business_time(
        stack: ComplaintStack):
    now = await stack.env.get_current_time()
    friday = next_weekday(now, 4, 15)  # Friday 15:00 UTC
    monday = (friday + timedelta(days=3)).date()
    base = long_updates(load_policy(), sev3="20d")
    stack.policy = base.model_copy(update={"calendar": base.calendar.model_copy(
        update={"extra_holidays": [monday]})})  # the bank holiday
    stack.settings = replace(stack.settings, link_secret=LINK_SECRET)
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_phone_contact", call(owner))
        cal = (await policy_of(stack, crn)).calendar
        due_before = state.deadline(RESOLUTION).due_at
        warn_before = state.deadline(RESOLUTION).warn_at
        assert warn_before is not None
        await skip_to(stack, friday)

        await stack.act(crn, "request_information", InformationRequest(
            actor=owner, message="Which export file shows the wrong totals?"))
        state = await stack.status(crn)
        paused_at = event_at(state, Event.clocks_paused)
        assert state.paused is not None and state.paused.since == paused_at
        resolution = state.deadline(RESOLUTION)
        assert resolution is not None and resolution.paused_since == paused_at
        wait = state.deadline(INFORMATION_WAIT)
        waiting = stack.policy.waiting
        assert wait is not None and wait.due_at == calendar.business_deadline(
            cal, paused_at, waiting.information_wait)
        asked = await stack.mail_for(crn, "information_request:1")
        assert asked["To"] == "kite@kite.example" and "/c/information/" in text_of(asked)
        assert any("waiting for the customer's information since" in line
                   for line in _changes(state))

        # Tuesday 11:00, after the weekend and Monday's bank holiday: the customer answers.
        tuesday = friday + timedelta(days=4) - timedelta(hours=4)
        await skip_to(stack, tuesday)
        state = await stack.status(crn)
        assert not any(e.event == Event.deadline_warning and e.deadline == RESOLUTION
                       for e in state.timeline)
        await stack.act(crn, "record_customer_response", {
            "actor": "customer:cust-kite", "agrees": None,
            "message": "It is the March export, attached again."})
        state = await stack.status(crn)
        resumed_at = event_at(state, Event.clocks_resumed)
        paused_for = calendar.business_time_between(cal, paused_at, resumed_at)
        # Friday 15:00-17:00 and Tuesday 09:00-11:00 (plus the seconds the actions took).
        assert abs(paused_for - timedelta(hours=4)) < timedelta(minutes=1)
        resolution = state.deadline(RESOLUTION)
        assert resolution is not None and resolution.paused_since is None
        assert resolution.due_at == calendar.add_business_time(cal, due_before, paused_for)
        assert resolution.warn_at == calendar.add_business_time(cal, warn_before, paused_for)
        assert resolution.paused_for == paused_for and state.paused is None
        wait = state.deadline(INFORMATION_WAIT)
        assert wait is not None and wait.met_at == resumed_at
        kinds = [e.event for e in state.timeline]
        assert kinds.count(Event.clocks_paused) == kinds.count(Event.clocks_resumed) == 1
        assert "update_clock_resumed" in kinds
        # The moved deadline falls due at its new instant, not a second before.
        assert resolution.warn_at is not None
        await skip_to(stack, resolution.warn_at - timedelta(seconds=1))
        state = await stack.status(crn)
        assert not any(e.event == Event.deadline_warning and e.deadline == RESOLUTION
                       for e in state.timeline)
        await stack.sleep(timedelta(seconds=2))
        state = await stack.until(crn, lambda s: any(
            e.event == Event.deadline_warning and e.deadline == RESOLUTION for e in s.timeline))
        warned = next(e for e in state.timeline if e.event == Event.deadline_warning
                      and e.deadline == RESOLUTION)
        assert fell_at(warned.at, resolution.warn_at)


def _changes(state: ComplaintState) -> list[str]:
    from workflows.complaint.presentation import changes
    return changes(state)


async def test_the_wait_reminds_the_customer_at_half_and_at_its_end_the_clocks_resume_and_the_owner_is_told(
        stack: ComplaintStack):
    stack.policy = long_updates(load_policy(), sev3="20d")
    stack.settings = replace(stack.settings, link_secret=LINK_SECRET)
    async with api_on(stack) as api:
        crn, state = await drive(stack, "owner")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_phone_contact", call(owner))
        # Through the API: someone not the owner is refused (403), the owner is not.
        other = "priya" if owner != "priya" else "sam"
        refused_by_role = await api.act(crn, "request_information", other, message="Which file?")
        assert refused_by_role.status_code == 403, refused_by_role.text
        done = await api.act(crn, "request_information", owner, message="Which file?")
        assert done.status_code == 200, done.text
        state = await stack.status(crn)
        cal = (await policy_of(stack, crn)).calendar
        wait = state.deadline(INFORMATION_WAIT)
        assert wait is not None and wait.warn_at is not None
        paused_at = event_at(state, Event.clocks_paused)
        assert wait.warn_at == calendar.business_deadline(cal, paused_at, "5d", 0.5)

        await skip_to(stack, wait.warn_at + timedelta(seconds=1))
        reminder = await stack.mail_for(crn, "information_reminder:1")
        assert "/c/information/" in text_of(reminder)
        await skip_to(stack, wait.due_at + timedelta(seconds=1))
        state = await stack.until(crn, lambda s: s.paused is None)
        assert fell_at(event_at(state, Event.clocks_resumed), wait.due_at)
        resolution = state.deadline(RESOLUTION)
        assert resolution is not None and resolution.paused_since is None
        assert resolution.paused_for == calendar.business_time_between(cal, paused_at,
                                                                       wait.due_at)
        told = await stack.mail_for(crn, "information_wait_ended:1")
        assert told["To"] == "sam@example.com" and "not sent the information" in text_of(told)
        assert not state.sla_breached and state.escalation_level == 0


async def test_the_console_resumes_the_clocks_with_a_reason(stack: ComplaintStack):
    stack.policy = long_updates(load_policy(), sev3="20d")
    async with console_on(stack) as console:
        crn, state = await drive(stack, "owner")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "request_information", InformationRequest(
            actor=owner, message="Which export file?"))
        async with signed_in(console, owner) as http:
            page = await http.get(f"/console/complaints/{crn}")
            assert "Resume the clocks" in page.text and "paused since" in page.text
            assert "waiting for the customer&#39;s information since" in page.text
            done = await http.post(f"/console/complaints/{crn}/actions/resume", data={
                "csrf_token": token(page.text), "reason": "found the file in the ticket"})
            assert done.status_code in (200, 303), done.text
        state = await stack.status(crn)
        assert state.paused is None
        resumed = next(e for e in state.timeline if e.event == Event.clocks_resumed)
        assert resumed.actor == owner and resumed.reason == "found the file in the ticket"


async def test_retriage_through_the_api_and_the_console_and_a_request_through_the_cli_answered_on_the_customer_page(
        stack: ComplaintStack, monkeypatch, capsys):
    import re

    import httpx

    stack.policy = long_updates(load_policy(), sev3="20d")
    stack.settings = replace(stack.settings, link_secret=LINK_SECRET)
    await passwords_set(stack)
    async with api_on(stack) as api:
        crn, state = await drive(stack, "owner")
        owner = state.owner
        assert owner is not None
        await stack.act(crn, "record_phone_contact", call(owner))
        # The API: a team lead re-triages to 4; severity 5 is refused naming the field.
        bad = await api.act(crn, "retriage", "tom", severity=5, reason="x")
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"].endswith("severity")
        done = await api.act(crn, "retriage", "tom", severity=4, reason="cosmetic only")
        assert done.status_code == 200, done.text
        assert (await stack.status(crn)).severity == 4
        # The console: the owner re-triages back to 2 (escalates to a team lead).
        async with signed_in(Console(api.base, stack), owner) as http:
            page = await http.get(f"/console/complaints/{crn}")
            assert "Re-triage" in page.text
            posted = await http.post(f"/console/complaints/{crn}/actions/retriage", data={
                "csrf_token": token(page.text), "severity": "2",
                "reason": "a whole team cannot export"})
            assert posted.status_code in (200, 303), posted.text
            page = await http.get(f"/console/complaints/{crn}")
            assert "severity changed from 4 to 2 on" in page.text
        state = await stack.until(crn, lambda s: s.escalation_level == 1)
        assert state.severity == 2
        assert [(e.before, e.after) for e in state.timeline if e.event == Event.retriaged] == [
            ("severity 3, data_inaccuracy", "severity 4, data_inaccuracy"),
            ("severity 4, data_inaccuracy", "severity 2, data_inaccuracy")]

        # The CLI asks for information; the customer answers on the page the email links.
        monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        code, out, err = await Cli(capsys)("request-information", crn, "--actor", owner,
                                           "--message", "Which export file is it?")
        assert code == 0, err
        asked = await stack.mail_for(crn, "information_request:1")
        link = re.search(r"https?://\S+/c/information/\S+", text_of(asked))
        assert link is not None
        path = "/c/" + link.group(0).split("/c/", 1)[1]
        async with httpx.AsyncClient(base_url=api.base, timeout=60) as customer:
            status_page = await customer.get(path)
            assert status_page.status_code == 200 and "The information we asked for" in \
                status_page.text
            empty = await customer.post(path, data={"comment": ""})
            assert empty.status_code == 422 and (await stack.status(crn)).paused is not None
            sent = await customer.post(path, data={"comment": "The March export."})
            assert sent.status_code == 200 and "Thank you" in sent.text
        state = await stack.until(crn, lambda s: s.paused is None)
        resumed = next(e for e in state.timeline if e.event == Event.clocks_resumed)
        assert resumed.actor == "customer:cust-kite"
        assert "the customer replied" in resumed.detail


# --- bad input -----------------------------------------------------------------------------


async def test_bad_input_is_refused_with_its_reason_and_changes_nothing(
        stack: ComplaintStack, monkeypatch, capsys, tmp_path):
    stack.policy = long_updates(load_policy())
    async with stack.worker():
        crn, state = await drive(stack, "owner")
        owner = state.owner
        assert owner is not None
        await refused(stack, crn, "retriage", {"actor": owner, "severity": 5, "reason": "x"},
                      "severity", "less than or equal to 4")
        await refused(stack, crn, "retriage", Retriage(actor=owner, severity=3, reason="same"),
                      "already severity 3")
        await refused(stack, crn, "resume", ClockResume(actor=owner, reason="go"),
                      "nothing is paused")
        other = "priya" if owner != "priya" else "sam"
        await refused(stack, crn, "request_information",
                      InformationRequest(actor=other, message="Which file?"), "only the owner")
        # A policy file that does not parse: refused naming the file, nothing sent.
        bad = tmp_path / "broken.toml"
        bad.write_text("[resolution\nsev1 = ")
        monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        before = await stack.status(crn)
        code, out, err = await Cli(capsys)("policy", "apply", str(bad), "--actor", "helen",
                                           "--only", crn)
        assert code != 0 and "not valid TOML" in err and str(bad) in err
        assert await stack.status(crn) == before


# --- a new policy for the open complaints ----------------------------------------------------


# Shorter clocks all round: moves nearly every open deadline, the calls not made yet to
# the past (a second from the owner's assignment).
STRICTER = """name = "stricter"
[ownership]
phone_contact_within = "1s"
[resolution]
sev3 = "3d"
[communication]
customer_update_every = "12h"
[escalation]
head_of_cs_acts_within = "2h"
[waiting]
information_wait = "3d"
agreement_wait = "2d"
"""


def _all_breached(names: list[str]) -> Callable[[ComplaintState], bool]:
    def check(s: ComplaintState) -> bool:
        return all(d is not None and d.breached for d in map(s.deadline, names))
    return check


async def _owned(stack: ComplaintStack) -> tuple[str, str]:
    """Submitted, acknowledged personally, owned (patient: a hundred share two cores)."""
    crn = (await stack.submit()).crn
    await stack.mail_for(crn, "acknowledgement", timeout=120)
    await stack.act(crn, "acknowledge_personally", ack())
    owner = (await stack.until(crn, lambda s: s.owner is not None, timeout=120)).owner
    assert owner is not None
    return crn, owner


async def _in_phase(stack: ComplaintStack, n: int) -> str:
    """Complaint number `n` of the hundred, left in one of five phases."""
    phase = n % 5
    if phase == 0:  # registered, not yet acknowledged personally
        crn = (await stack.submit()).crn
        await stack.until(crn, lambda s: s.handling_agent is not None, timeout=120)
        return crn
    crn, owner = await _owned(stack)
    if phase == 1:  # owned, the call not made yet (its clock open)
        return crn
    await stack.act(crn, "record_phone_contact", call(owner))
    if phase == 2:  # waiting for the customer's information: clocks paused
        await stack.act(crn, "request_information", InformationRequest(
            actor=owner, message="Which export file?"))
        return crn
    await stack.act(crn, "submit_internal_review", review(owner))
    await stack.act(crn, "submit_action_plan", plan(owner))
    await stack.act(crn, "propose_solution", propose(owner))
    if phase == 4:  # resolved: not open, left as it is
        await stack.act(crn, "record_customer_response", reply(True))
        await stack.act(crn, "confirm_resolution", confirm(owner))
    return crn  # phase 3: a proposal waits for the customer's answer


async def test_a_policy_applied_to_a_hundred_open_complaints_moves_what_the_dry_run_said(
        local_stack: ComplaintStack, monkeypatch, capsys, tmp_path):
    """On the dev server (real time, real visibility): a hundred complaints in five phases."""
    import asyncio

    stack = local_stack
    stack.policy = load_policy()
    path = tmp_path / "stricter.toml"
    path.write_text(STRICTER)
    await passwords_set(stack)
    async with api_on(stack) as api:  # the API mounts the console
        console = Console(api.base, stack)
        crns: list[str] = []
        for batch in range(25):  # four at a time: the machine is shared
            crns += await asyncio.gather(*(_in_phase(stack, batch * 4 + i) for i in range(4)))
        assert len(set(crns)) == 100
        await stack.settle()
        before = {crn: await stack.status(crn) for crn in crns}

        # The dry run, through the API: nothing sent, nothing changed.
        dry = await api("POST", "/policy/apply", "helen", json={
            "policy_toml": path.read_text(), "dry_run": True, "only": crns})
        assert dry.status_code == 200, dry.text
        what = dry.json()
        assert what["dry_run"] and len(what["complaints"]) == 100
        assert {c["crn"]: c["outcome"] for c in what["complaints"]} == {
            crn: ("skipped: resolved" if n % 5 == 4 else "would move")
            for n, crn in enumerate(crns)}
        assert what["moving"] == 80 and what["breaching_at_once"] >= 20
        assert {crn: await stack.status(crn) for crn in crns} == before
        refused_by_role = await api("POST", "/policy/apply", "tom", json={
            "policy_toml": path.read_text(), "dry_run": True, "only": crns[:1]})
        assert refused_by_role.status_code == 403, refused_by_role.text

        # The real run, through the CLI.
        monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        only = [arg for crn in crns for arg in ("--only", crn)]
        code, out, err = await Cli(capsys)("policy", "apply", str(path), "--actor", "helen",
                                           *only)
        assert code == 0, err
        assert f"80 moved to it ({sum(len(c['moves']) for c in what['complaints'])} " \
               f"deadline(s), {what['breaching_at_once']} breaching at once)" in out

        # What the dry run said is what each complaint did.
        breaches = 0
        for c in what["complaints"]:
            crn = c["crn"]
            if c["outcome"] != "would move":
                assert not any(e.event == Event.policy_changed
                               for e in (await stack.status(crn)).timeline)
                continue
            at_once = [m["deadline"] for m in c["moves"] if m["breaches_at_once"]]
            state = await stack.until(crn, _all_breached(at_once))
            moved = {m["deadline"]: m for m in c["moves"]}
            for d in state.deadlines:
                old = before[crn].deadline(d.name)
                if d.name in moved:
                    assert d.due_at == datetime.fromisoformat(moved[d.name]["due_after"]), d
                    if moved[d.name]["breaches_at_once"]:
                        assert d.breached and d.breached_at == d.due_at
                        breaches += 1
                elif old is not None:  # met, breached, superseded or not moved: as it was
                    assert (d.due_at, d.met_at, d.breached_at) == (
                        old.due_at, old.met_at, old.breached_at), d
            changed = [e for e in state.timeline if e.event == Event.policy_changed]
            assert len(changed) == 1 and changed[0].after == what["version"]
            assert changed[0].before == before[crn].policy_version
            assert state.adopted_policy_version == what["version"]
        assert breaches == what["breaching_at_once"]
        # Paused clocks stay paused, moved: the new resolution target plus the paused time.
        paused = [crn for n, crn in enumerate(crns) if n % 5 == 2]
        for crn in paused:
            s = await stack.status(crn)
            assert s.paused is not None and s.deadline(RESOLUTION).paused_since is not None

        # Twice is safe: the console's real run finds every one under it already.
        async with signed_in(console, "helen") as http:
            page = await http.get("/console/reports")
            done = await http.post("/console/reports/policy-apply", data={
                "csrf_token": token(page.text), "mode": "apply", "only": " ".join(crns)},
                files={"policy": ("stricter.toml", path.read_bytes(), "text/plain")})
            assert done.status_code == 200, done.text
            assert "0 moved to it" in done.text and "80 already under it" in done.text
        for crn in crns:
            assert sum(1 for e in (await stack.status(crn)).timeline
                       if e.event == Event.policy_changed) <= 1
        row = await stack.until_row(crns[1], lambda r: r["adopted_policy_version"] is not None)
        assert row["policy_version"] == before[crns[1]].policy_version
        assert row["adopted_policy_version"] == what["version"]


# --- the what-if replays the changes -----------------------------------------------------------


def test_the_what_if_keeps_a_retriaged_severity_and_moves_the_target_by_the_paused_time():
    from tests.scenarios import at
    from workflows.models import Impact
    from workflows.whatif import LoggedEvent, PastComplaint, replay_complaint

    policy = snapshot_policy(load_policy(), at(2, 9))
    # Received Monday 2 March 09:00 at severity 3 (partial); re-triaged to 2 on Tuesday
    # 10:00; paused Wednesday 15:00 to Friday 11:00 (2h + 8h + 2h = 12 business hours).
    events = (
        LoggedEvent(at(2, 9), "received"),
        LoggedEvent(at(3, 10), "retriaged", actor="sam", after="severity 2, data_inaccuracy"),
        LoggedEvent(at(4, 15), "information_requested", actor="sam"),
        LoggedEvent(at(4, 15), "clocks_paused", actor="sam"),
        LoggedEvent(at(6, 11), "clocks_resumed", actor="customer:c"),
    )
    # Severity 2's 24 business hours from intake: Wednesday 17:00, plus the 12 paused:
    # Friday 13:00. Resolved on Friday 12:00: in time; at 14:00: breached at 13:00.
    in_time = PastComplaint("CRN-W1", at(2, 9), Impact.partial, None, at(6, 12), events)
    late = PastComplaint("CRN-W2", at(2, 9), Impact.partial, None, at(6, 14), events)
    replay = replay_complaint(policy, in_time, {}, at(20, 9))
    assert replay.severity == 2
    assert all(name != RESOLUTION for _, name in replay.breaches)
    # The move into severity 2 escalates when it was made (not at intake).
    assert at(3, 10) in [t for t, _ in replay.escalations]
    assert at(2, 9) not in [t for t, _ in replay.escalations]
    late_replay = replay_complaint(policy, late, {}, at(20, 9))
    assert (at(6, 13), RESOLUTION) in late_replay.breaches
