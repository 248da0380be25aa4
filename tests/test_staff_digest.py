"""Staff are told once: past the policy's `[digest] after` escalations to one person within its
`window`, the rest go out as one digest at the window's end (activities/digest.py).

Real time-skipping Temporal server, PostgreSQL (demo seed) and SMTP sink. Six Severity 1
complaints, a minute apart, each escalate to the team lead at intake: five escalation
emails go out at once, the sixth waits for the digest, which goes out once at the window's
end (ten minutes after the first) and lists only the sixth; every complaint's timeline
records its own escalation at its own instant. The worker is stopped for most of the window
and the digest still goes, once, at the window's end.
"""

from __future__ import annotations

from datetime import timedelta

from database import digests
from tests.conftest import ComplaintStack, text_of
from workflows.events import Event

TEAM_LEAD = "tom@example.com"  # the demo seed's team lead


def to_lead(stack: ComplaintStack, kind_prefix: str) -> list:
    return stack.mail.matching(lambda m: str(m["To"]) == TEAM_LEAD and str(
        m["X-Complaint-Message-Kind"]).startswith(kind_prefix))


async def test_six_escalations_to_one_team_lead_are_five_emails_and_one_digest(
        stack: ComplaintStack):
    crns, instants = [], []
    # No sticky cache: the time-skipping server would hold the digest's task for this
    # worker's sticky queue after it stopped (a real server gives it to the next worker).
    async with stack.worker(max_cached_workflows=0):
        first_at = await stack.env.get_current_time()
        for k in range(6):
            if k:
                await stack.sleep(timedelta(minutes=1))
            crns.append((await stack.submit(impact="many_users",
                                            external_ref=f"storm-{k}")).crn)
            state = await stack.until(crns[-1], lambda s: any(
                e.event == Event.escalated for e in s.timeline))
            instants.append(next(e.at for e in state.timeline if e.event == Event.escalated))
            await stack.settle()
        # The sixth is in the digest: its complaint logged the email as coalesced.
        sixth = await stack.until(crns[5], lambda s: any(
            e.event == Event.email_sent and "escalation" in e.detail for e in s.timeline))
        assert "digest" in next(e.detail for e in sixth.timeline
                                if e.event == Event.email_sent and "escalation" in e.detail)
    sent = to_lead(stack, "escalation:")
    assert sorted(str(m["X-Complaint-Reference"]) for m in sent) == sorted(crns[:5])
    assert to_lead(stack, "staff_digest") == []

    # Each complaint's timeline has its own escalation at its own instant, a minute apart.
    assert [round((at - instants[0]).total_seconds() / 60) for at in instants] == [0, 1, 2, 3, 4, 5]
    assert abs((instants[0] - first_at).total_seconds()) < 5

    # The worker is away for most of the window; a new one sends the digest at its end, once.
    window = await stack.rows("SELECT * FROM staff_alert_windows WHERE recipient = $1",
                              TEAM_LEAD)
    assert len(window) == 1 and window[0]["digest_taken_at"] is None
    closes_at = window[0]["closes_at"]
    assert closes_at - window[0]["opened_at"] == timedelta(minutes=10)
    digest_id = f"staff-digest-{window[0]['id']}"
    stack.started.append(digest_id)
    await stack.sleep(closes_at - await stack.env.get_current_time() - timedelta(minutes=1))
    assert to_lead(stack, "staff_digest") == []
    async with stack.worker():
        await stack.sleep(timedelta(seconds=30))
        assert to_lead(stack, "staff_digest") == []  # not before the window's end
        await stack.sleep(timedelta(seconds=45))
        digest = await stack.mail.wait_for(
            lambda m: str(m["X-Complaint-Message-Kind"]) == "staff_digest", timeout=20)
        result = await stack.client.get_workflow_handle(digest_id).result()
        history = await stack.client.get_workflow_handle(digest_id).fetch_history()
    fired = [e.event_time.ToDatetime(tzinfo=closes_at.tzinfo) for e in history.events
             if e.HasField("timer_fired_event_attributes")]
    assert len(fired) == 1 and abs((fired[0] - closes_at).total_seconds()) < 1
    assert result == 1
    assert str(digest["To"]) == TEAM_LEAD
    body = text_of(digest)
    assert crns[5] in body and not any(crn in body for crn in crns[:5]), body
    assert "5 alerts went to you on their own" in body
    assert "/console/complaints/" + crns[5] in body
    assert len(to_lead(stack, "staff_digest")) == 1
    assert len(to_lead(stack, "escalation:")) == 5  # the sixth was never sent on its own
    rows = await stack.rows("SELECT crn, ordinal, coalesced FROM staff_alerts ORDER BY ordinal")
    assert [(r["crn"], r["ordinal"], r["coalesced"]) for r in rows] == [
        (crn, k + 1, k >= 5) for k, crn in enumerate(crns)]


async def test_an_alert_is_counted_once_and_a_taken_window_takes_no_more(stack: ComplaintStack):
    """A retried alert gets the answer it got first; after the digest read its list, an alert
    opens a new window (it is never listed in a digest already sent, nor lost)."""
    now = await stack.env.get_current_time()

    async def admit(crn: str, kind: str, minutes: int) -> digests.Admission:
        return await digests.admit_alert(
            stack.pool, channel="email", recipient="Lead@Example.com", crn=crn, kind=kind,
            at=now + timedelta(minutes=minutes), summary="x", after=1,
            window=timedelta(minutes=10))

    first = await admit("C-1", "escalation:1", 0)
    second = await admit("C-2", "escalation:1", 1)
    again = await admit("C-2", "escalation:1", 2)
    assert (first.ordinal, first.coalesced) == (1, False)
    assert (second.ordinal, second.coalesced) == (2, True) and again == second
    taken = await digests.take_digest(stack.pool, second.window_id)
    assert [a["crn"] for a in taken.alerts] == ["C-2"] and taken.sent_on_their_own == 1
    assert taken.recipient == "lead@example.com"
    late = await admit("C-3", "warning:x", 3)
    assert late.window_id != second.window_id and (late.ordinal, late.coalesced) == (1, False)
    assert [a["crn"] for a in (await digests.take_digest(stack.pool, second.window_id)).alerts
            ] == ["C-2"]
