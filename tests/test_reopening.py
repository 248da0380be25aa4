"""A resolved or closed complaint taken up again: the customer's reply within the policy's
`reopen_within` reopens it (back to its resolution phase, a new resolution deadline from the
reopening instant, the owner and the team lead told); after the window, or once archived, the
reply starts a new complaint linked to it and the customer is told its reference; staff
reopen with the `reopen` action (CLI, API, console); a withdrawn complaint is never reopened.

Real time-skipping Temporal server, real PostgreSQL (demo seed), the real mail gateway and
SMTP sink. Every instant asserted exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from starter.operations import ActionNotPermitted, ActionRefused, ComplaintNotFound
from tests import mail_channel
from tests.api_stack import api_on
from tests.cli_runner import Cli
from tests.conftest import ComplaintStack, text_of
from tests.console_stack import console_on, signed_in, token
from tests.mail_channel import Channel, new_complaint, reply_to
from tests.scenarios import plan_agreed, refused, signed_off_and_reviewed, to_owner
from workflows import calendar
from workflows import models as m
from workflows.events import RESOLUTION, Event
from workflows.models import ComplaintState, Phase, Status, complaint_reference
from workflows.policy import PolicyAdoption, SlaPolicy, load_policy, snapshot_policy
from workflows.refusals import AlreadyWithdrawn

channel = mail_channel.channel  # the fixture: the gateway, the worker and the pages


def last(state: ComplaintState, event: Event) -> m.TimelineEvent:
    found = [e for e in state.timeline if e.event == event]
    assert found, f"no {event} in {[e.event for e in state.timeline]}"
    return found[-1]


def policy_of(stack: ComplaintStack, state: ComplaintState) -> SlaPolicy:
    """The policy the complaint snapshotted (bank holidays resolved)."""
    return snapshot_policy(stack.policy, state.received_at)


@dataclass
class Closed:
    crn: str
    owner: str
    ack: object
    resolved_at: datetime


async def closed_by_email(channel: Channel, review_after: timedelta | None = None) -> Closed:
    """A complaint by email, resolved (the customer's sign-off), reviewed (`review_after`
    the resolution) and closed."""
    stack = channel.stack
    crn, _, ack = await new_complaint(channel)
    await stack.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
        actor="ana", message="Dear Jon, I am sorry about the totals; I am looking into it."))
    await stack.until(crn, lambda s: s.owner is not None)
    # Sam owns it (no category, so a team lead took it first): the team lead is another.
    owner = "sam"
    await stack.act(crn, "reassign", m.Reassignment(actor="tom", owner=owner))
    await plan_agreed(stack, crn, owner, fix=False)
    if review_after is None:
        await signed_off_and_reviewed(stack, crn, owner)
    else:
        await stack.act(crn, "confirm_resolution", m.ResolutionConfirmation(
            actor=owner, confirmation_text="Resolution Confirmed"))
        await stack.act(crn, "record_csat", m.CsatResponse(actor="ana", score=4))
        resolved_at = (await stack.status(crn)).resolved_at
        assert resolved_at is not None
        await skip_to(stack, resolved_at + review_after)
        await stack.act(crn, "submit_rca", m.RootCauseAnalysis(
            actor=owner, root_cause="Rounding twice", process_failures=["No review"],
            corrective_actions=["A test"], kb_article_needed=False))
    state = await stack.until(crn, lambda s: s.status == Status.closed)
    assert state.resolved_at is not None
    return Closed(crn, owner, ack, state.resolved_at)


async def skip_to(stack: ComplaintStack, instant: datetime) -> None:
    """Server time skipped to `instant`; the hourly cap on automatic mail to one address
    counts real hours, so what went out is aged by the weeks skipped as well."""
    await stack.sleep(instant - await stack.env.get_current_time())
    async with stack.pool.acquire() as conn:
        await conn.execute("UPDATE email_outbox SET sent_at = sent_at - interval '7 days'")


# --- by the customer's email -----------------------------------------------------------------


async def test_a_reply_on_day_29_reopens_it_and_it_resolves_and_closes_again_then_a_reply_to_the_archived_one_starts_a_new_complaint(  # noqa: E501
        channel: Channel):
    stack = channel.stack
    c = await closed_by_email(channel)
    await skip_to(stack, c.resolved_at + timedelta(days=29))

    text = "The totals are wrong again since the last release, by exactly the VAT."
    reply = reply_to(c.ack, text)  # type: ignore[arg-type]
    assert await channel.deliver(reply) == "reopened"
    state = await stack.until(c.crn, lambda s: s.reopens == 1)
    reopened = last(state, Event.reopened)
    assert reopened.actor == "customer:cust-kite" and reopened.reason == text
    assert reply["Message-ID"] in reopened.detail  # the whole message stays on its row
    assert (state.status, state.phase, state.owner) == (
        Status.under_investigation, Phase.resolution, c.owner)
    assert state.reopened_at == reopened.at and state.resolved_at is None
    assert state.outcome is None and not state.rca_submitted
    # A new resolution deadline from the reopening instant, in business time.
    policy = policy_of(stack, state)
    target = policy.resolution.target(state.severity)
    due = state.deadline(f"{RESOLUTION}_2")
    assert due is not None and due.met_at is None
    assert due.due_at == calendar.business_deadline(policy.calendar, reopened.at, target)
    assert due.warn_at == calendar.business_deadline(policy.calendar, reopened.at, target,
                                                     policy.resolution.warn_at)
    assert state.estimated_resolution_at == due.due_at
    row = await stack.until_row(c.crn, lambda r: r["status"] == "under_investigation")
    assert row["resolved_at"] is None and row["closed_at"] is None
    # The owner and the team lead are told, with the customer's words.
    owner_mail = await stack.mail_for(c.crn, "reopened:1:0")
    lead_mail = await stack.mail_for(c.crn, "reopened:1:1")
    assert owner_mail["To"] == f"{c.owner}@example.com" and lead_mail["To"] == "tom@example.com"
    assert "by exactly the VAT" in text_of(owner_mail) and "Reopened" in owner_mail["Subject"]
    inbound = (await stack.rows("SELECT outcome, crn FROM inbound_messages WHERE message_id = $1",
                                reply["Message-ID"]))[0]
    assert (inbound["outcome"], inbound["crn"]) == ("reopened", c.crn)
    # The customer's status page shows what they wrote (as any reply).
    async with httpx.AsyncClient() as http:
        page = await http.get(channel.link(c.ack, "status"))  # type: ignore[arg-type]
    assert "by exactly the VAT" in page.text

    # The resolution phase runs again, and it closes again properly: a new sign-off and RCA.
    await signed_off_and_reviewed(stack, c.crn, c.owner)
    state = await stack.until(c.crn, lambda s: s.status == Status.closed)
    again = state.deadline(f"{RESOLUTION}_2")
    assert again is not None and again.met_at is not None
    assert [e.event for e in state.timeline].count(Event.closed) == 2
    assert state.closed_at is not None and state.resolved_at is not None
    assert len(stack.mails(c.crn, "survey")) == 2  # the survey again, for the second time

    # Archived after the policy's archive_after from the second close; then a reply starts a
    # new complaint linked to it, and the customer is told the new reference.
    archive_at = state.closed_at + stack.policy.lifecycle.archive_after
    # (Past its last timer the test server waits in real time: a second past it.)
    await skip_to(stack, archive_at + timedelta(seconds=1))
    archived = await stack.until(c.crn, lambda s: s.status == Status.archived)
    assert archived.archived_at is not None and archived.archived_at >= archive_at
    late = reply_to(c.ack, "And now the quarterly export is wrong too.")  # type: ignore[arg-type]
    assert await channel.deliver(late) == "new_complaint"
    new_crn = complaint_reference("email", late["Message-ID"])
    new = await stack.until(new_crn, lambda s: s.recurrent_of is not None)
    assert new.recurrent_of == c.crn and new.retention_risk
    assert any(c.crn in r for r in new.retention_risk_reasons)
    told = await stack.mail_for(new_crn, "follow_up_started")
    assert told["To"] == "kite@kite.example" and new_crn in text_of(told)
    assert c.crn in text_of(told)
    assert (await stack.status(c.crn)).status == Status.archived  # the old one untouched


async def test_a_reply_on_day_31_starts_a_linked_complaint_and_the_old_one_stays_closed(
        channel: Channel):
    stack = channel.stack
    # Reviewed (so closed) five days after its resolution: archived 35 days after it.
    c = await closed_by_email(channel, review_after=timedelta(days=5))
    await skip_to(stack, c.resolved_at + timedelta(days=31))
    before = await stack.status(c.crn)

    # Written in German this time (Content-Language): the new complaint, and the email
    # that names it, are in German.
    reply = reply_to(c.ack, "Die Summen sind wieder falsch.",  # type: ignore[arg-type]
                     Content_Language="de")
    assert await channel.deliver(reply) == "new_complaint"
    new_crn = complaint_reference("email", reply["Message-ID"])
    new = await stack.until(new_crn, lambda s: s.recurrent_of is not None)
    assert new.recurrent_of == c.crn and new.retention_risk and new.language == "de"
    assert last(new, Event.marked_recurrent).detail.startswith(
        f"the customer wrote again about {c.crn}")
    told = await stack.mail_for(new_crn, "follow_up_started")
    assert new_crn in told["Subject"] and c.crn in text_of(told)
    assert told["Subject"].startswith(f"[{new_crn}] Ihre neue Vorgangsnummer: ")
    assert f"Ihre neue Vorgangsnummer ist {new_crn}." in text_of(told)
    assert "Thank you" not in text_of(told)
    row = (await stack.rows("SELECT outcome, crn, detail FROM inbound_messages "
                            "WHERE message_id = $1", reply["Message-ID"]))[0]
    assert (row["outcome"], row["crn"]) == ("new_complaint", new_crn)
    assert "more than 30 days ago" in row["detail"]
    await stack.settle()
    after = await stack.status(c.crn)
    assert (after.status, after.reopens, len(after.timeline)) == (
        Status.closed, 0, len(before.timeline))


async def test_a_reply_to_a_withdrawn_complaint_waits_in_the_suspended_list(channel: Channel):
    stack = channel.stack
    crn, _, ack = await new_complaint(channel)
    await stack.until(crn, lambda s: s.handling_agent is not None)
    await stack.act(crn, "withdraw", m.Withdrawal(actor="tom", reason="Customer asked"))
    reply = reply_to(ack, "Actually, please look at it after all.")
    assert await channel.deliver(reply) == "suspended"
    row = (await stack.rows("SELECT suspended, crn FROM inbound_messages WHERE message_id = $1",
                            reply["Message-ID"]))[0]
    assert row["crn"] == crn and "withdrawn" in row["suspended"]
    from database.mailbox import list_suspended
    assert reply["Message-ID"] in [r["message_id"] for r in await list_suspended(stack.pool)]


# --- by staff ----------------------------------------------------------------------------------


async def closed(stack: ComplaintStack) -> tuple[str, str]:
    crn = await to_owner(stack)
    owner = (await stack.status(crn)).owner
    assert owner is not None
    await plan_agreed(stack, crn, owner, fix=False)
    await signed_off_and_reviewed(stack, crn, owner)
    await stack.until(crn, lambda s: s.status == Status.closed)
    return crn, owner


async def test_staff_reopen_through_the_cli_the_api_and_the_console(
        stack: ComplaintStack, monkeypatch, capsys):
    async with api_on(stack) as api:
        crn, owner = await closed(stack)
        # An agent may not; the owner may.
        forbidden = await api.act(crn, "reopen", "ana", reason="Customer called back")
        assert forbidden.status_code == 403, forbidden.text
        done = await api.act(crn, "reopen", owner, reason="Customer called back: still wrong")
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["phase"]) == ("under_investigation",
                                                                  "resolution")
        state = await stack.status(crn)
        assert last(state, Event.reopened).actor == owner and state.reopens == 1
        # Reopened already: a second reopen is refused with its reason, nothing changed.
        again = await api.act(crn, "reopen", "tom", reason="again")
        assert again.status_code == 409 and "under investigation" in again.json()["message"]

        # The CLI, as the team lead, on another closed complaint.
        other, _ = await closed(stack)
        monkeypatch.setenv("TEMPORAL_ADDRESS", stack.env.client.service_client.config.target_host)
        monkeypatch.setenv("DATABASE_URL", stack.settings.database_url)
        code, out, err = await Cli(capsys)("reopen", other, "--actor", "tom", "--reason",
                                           "The fix did not hold")
        assert code == 0, err
        assert f"{other}: under_investigation, phase resolution" in out
        assert last(await stack.status(other), Event.reopened).reason == "The fix did not hold"

    async with console_on(stack) as console:
        crn, owner = await closed(stack)
        async with signed_in(console, "ana") as ana:
            page = await ana.get(f"/console/complaints/{crn}")
            assert page.status_code == 200 and "Reopen</button>" not in page.text
        async with signed_in(console, "tom") as tom:
            page = await tom.get(f"/console/complaints/{crn}")
            assert "Reopen</button>" in page.text
            posted = await tom.post(f"/console/complaints/{crn}/actions/reopen", data={
                "csrf_token": token(page.text), "reason": "The customer rang: still wrong"})
            assert posted.status_code == 303, re.findall(r"class=\"error[^<]*<[^<]*", posted.text)
            state = await stack.until(crn, lambda s: s.reopens == 1)
            assert state.status == Status.under_investigation
            shown = await tom.get(f"/console/complaints/{crn}")
            assert "Reopened on" in shown.text


async def test_a_withdrawn_complaint_is_not_reopened(stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack)
        await stack.act(crn, "withdraw", m.Withdrawal(actor="tom", reason="Customer asked"))
        await stack.settle()
        before = await stack.status(crn)
        # Its run has ended, so Temporal itself refuses (the test server: "not found").
        with pytest.raises((ActionRefused, ComplaintNotFound)):
            await stack.act(crn, "reopen", m.Reopen(actor="tom", reason="Reopen it"))
        assert await stack.status(crn) == before
    # The rule's own reason, on the withdrawn state.
    from workflows.complaint import rules
    from workflows.records import StaffMember
    roster = {"tom": StaffMember(id="tom", name="Tom", role="team_lead", email="t@x.example")}
    with pytest.raises(AlreadyWithdrawn, match="withdrawn at the customer's request"):
        rules.reopen(rules.ActionFacts(state=before, roster=roster, policy=stack.policy),
                     m.Reopen(actor="tom", reason="Reopen it"), before.received_at)


async def test_an_open_complaint_is_not_reopened_and_an_agent_may_not(stack: ComplaintStack):
    async with stack.worker():
        crn = await to_owner(stack)
        await refused(stack, crn, "reopen", m.Reopen(actor="tom", reason="Reopen it"),
                      "only a resolved or closed complaint is reopened")
        with pytest.raises(ActionNotPermitted):
            await stack.act(crn, "reopen", m.Reopen(actor="ana", reason="Reopen it"))


async def test_the_customer_reopens_from_the_status_page(channel: Channel):
    stack = channel.stack
    c = await closed_by_email(channel)
    async with httpx.AsyncClient() as http:
        status = await http.get(channel.link(c.ack, "status"))  # type: ignore[arg-type]
        assert status.status_code == 200 and "Reopen this complaint" in status.text
        link = re.search(r'href="([^"]+/c/reopen/[^"]+)"', status.text)
        assert link is not None
        page = await http.get(link.group(1))  # a GET changes nothing
        assert page.status_code == 200 and "Is something still wrong?" in page.text
        assert (await stack.status(c.crn)).status == Status.closed
        empty = await http.post(link.group(1), data={"comment": ""})
        assert empty.status_code == 422 and (await stack.status(c.crn)).reopens == 0
        done = await http.post(link.group(1), data={"comment": "The totals are off again."})
        assert done.status_code == 200 and "reopened" in done.text
        state = await stack.until(c.crn, lambda s: s.reopens == 1)
        assert last(state, Event.reopened).actor == "customer:cust-kite"
        assert state.status == Status.under_investigation
        shown = await http.get(channel.link(c.ack, "status"))  # type: ignore[arg-type]
        assert "We reopened your complaint on" in shown.text
        assert "Reopen this complaint" not in shown.text
        # The same pages in German (the browser asks for it; the complaint has no language).
        german = {"Accept-Language": "de"}
        shown = await http.get(channel.link(c.ack, "status"),  # type: ignore[arg-type]
                               headers=german)
        assert "Wir haben Ihre Beschwerde am " in shown.text and " wieder eröffnet." in shown.text
        used = await http.get(link.group(1), headers=german)  # reopened now: nothing to reopen
        assert "Nichts wieder zu eröffnen" in used.text


async def test_the_reopen_page_in_german(channel: Channel):
    c = await closed_by_email(channel)
    german = {"Accept-Language": "de"}
    async with httpx.AsyncClient() as http:
        status = await http.get(channel.link(c.ack, "status"),  # type: ignore[arg-type]
                                headers=german)
        assert "Diese Beschwerde wieder eröffnen" in status.text
        assert "Reopen this complaint" not in status.text
        link = re.search(r'href="([^"]+/c/reopen/[^"]+)"', status.text)
        assert link is not None
        page = await http.get(link.group(1), headers=german)
        assert page.status_code == 200 and "Ist noch etwas nicht in Ordnung?" in page.text
        assert "Meine Beschwerde wieder eröffnen" in page.text
        empty = await http.post(link.group(1), data={"comment": ""}, headers=german)
        assert empty.status_code == 422
        assert "Bitte schildern Sie uns, was noch nicht in Ordnung ist." in empty.text
        done = await http.post(link.group(1), data={"comment": "Die Summen sind falsch."},
                               headers=german)
        assert done.status_code == 200 and "Ihre Beschwerde ist wieder eröffnet" in done.text
    assert (await channel.stack.until(c.crn, lambda s: s.reopens == 1)).reopens == 1


# --- beside the changes under way: re-triage and a new policy ----------------------------------


async def test_a_reopened_complaint_retriaged_and_moved_to_a_new_policy_counts_from_its_reopening(
        stack: ComplaintStack):
    """Each new resolution clock takes the next free name (a re-triage's, a reopening's, a
    re-triage's again); after a reopening, re-triage and adopt_policy measure the target from
    the reopening, not from intake (long past: it would breach at once)."""
    async with stack.worker():
        crn = await to_owner(stack)
        state = await stack.status(crn)
        owner = state.owner
        assert owner is not None
        first = 4 if state.severity != 4 else 3  # both 5d: no escalation
        await stack.act(crn, "retriage", m.Retriage(actor=owner, severity=first,
                                                    reason="only one report is affected"))
        await plan_agreed(stack, crn, owner, fix=False)
        await signed_off_and_reviewed(stack, crn, owner)
        await stack.until(crn, lambda s: s.status == Status.closed)
        await skip_to(stack, await stack.env.get_current_time() + timedelta(days=3))
        await stack.act(crn, "reopen", m.Reopen(actor="tom", reason="The fix did not hold"))
        state = await stack.status(crn)
        reopened_at = state.reopened_at
        assert reopened_at is not None
        cal = policy_of(stack, state).calendar
        third = state.deadline(f"{RESOLUTION}_3")
        assert third is not None and third.started_at == reopened_at
        assert third.due_at == calendar.business_deadline(cal, reopened_at, "5d")

        # Re-triaged to severity 2 now: 24 business hours from the reopening.
        await stack.act(crn, "retriage", m.Retriage(actor=owner, severity=2,
                                                    reason="the whole team is blocked again"))
        state = await stack.status(crn)
        names = [d.name for d in state.deadlines if d.name.startswith(RESOLUTION)]
        assert names == [RESOLUTION, f"{RESOLUTION}_2", f"{RESOLUTION}_3", f"{RESOLUTION}_4"]
        third, fourth = state.deadline(f"{RESOLUTION}_3"), state.deadline(f"{RESOLUTION}_4")
        assert third is not None and third.superseded
        assert fourth is not None and not fourth.breached and fourth.met_at is None
        assert fourth.due_at == calendar.business_deadline(cal, reopened_at, "24h")
        assert state.estimated_resolution_at == fourth.due_at and not state.sla_breached

        # A new policy (severity 2 in 16h): the open resolution clock from the reopening.
        stricter = stack.policy.model_copy(update={
            "name": "stricter",
            "resolution": stack.policy.resolution.model_copy(update={"sev2": "16h"})})
        await stack.act(crn, "adopt_policy", PolicyAdoption(
            actor="helen", policy=snapshot_policy(stricter, state.received_at)))
        state = await stack.status(crn)
        fourth = state.deadline(f"{RESOLUTION}_4")
        assert fourth is not None and not fourth.breached
        assert fourth.due_at == calendar.business_deadline(cal, reopened_at, "16h")
        assert not [e.deadline for e in state.timeline if e.event == Event.deadline_breached
                    and (e.deadline or "").startswith(RESOLUTION)]


def test_the_what_if_moves_each_resolution_round_by_the_time_paused_in_it():
    from tests.scenarios import at
    from workflows.models import Impact
    from workflows.whatif import LoggedEvent, PastComplaint, replay_complaint

    policy = snapshot_policy(load_policy(), at(2, 9))
    # Received Monday 2 March 09:00 at severity 3 (5 business days): resolved Friday 6th
    # 12:00 (in time). Reopened Monday 9th 09:00: due Friday 13th 17:00 plus the 4 business
    # hours paused on Tuesday 10th 09:00-13:00, so Monday 16th 13:00 (business day 9:00-17:00).
    events = (
        LoggedEvent(at(2, 9), "received"),
        LoggedEvent(at(6, 12), "resolved", actor="sam"),
        LoggedEvent(at(9, 9), "reopened", actor="tom"),
        LoggedEvent(at(10, 9), "clocks_paused", actor="sam"),
        LoggedEvent(at(10, 13), "clocks_resumed", actor="customer:c"),
    )
    in_time = PastComplaint("CRN-R1", at(2, 9), Impact.partial, None, at(16, 12),
                            (*events, LoggedEvent(at(16, 12), "resolved", actor="sam")))
    late = PastComplaint("CRN-R2", at(2, 9), Impact.partial, None, at(16, 14),
                         (*events, LoggedEvent(at(16, 14), "resolved", actor="sam")))
    assert all(name != RESOLUTION for _, name in
               replay_complaint(policy, in_time, {}, at(30, 9)).breaches)
    due = calendar.add_business_time(
        policy.calendar, calendar.business_deadline(policy.calendar, at(9, 9), "5d"),
        timedelta(hours=4))
    assert (due, RESOLUTION) in replay_complaint(policy, late, {}, at(30, 9)).breaches
    # The pause in the second round does not move the first round's target.
    assert all(name != RESOLUTION or t > at(9, 9) for t, name in
               replay_complaint(policy, late, {}, at(30, 9)).breaches)
