"""Reports for the Head of Customer Success.

- the period maths (weeks, months, quarters in the policy's time zone, across DST);
- the metrics on a history written straight into PostgreSQL, against numbers worked out
  by hand below;
- the rendered email: the HTML parses, carries its three charts and the numbers, and
  loads nothing from outside;
- `ReportWorkflow` sends a report once, keeps it, and retries while SMTP is down;
- the schedules exist once the worker has started, and a triggered one sends one email.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import asyncpg
import pytest
from temporalio.client import ScheduleActionStartWorkflow

from reporting.figures import compute_metrics
from reporting.rendering import ReportRenderer
from settings import TEMPLATES_DIR, Settings
from tests.conftest import ComplaintStack
from workers.schedules import ensure_report_schedules, schedule_id
from workflows.events import deadline_type
from workflows.policy import load_policy
from workflows.report import (
    ReportKind,
    ReportRequest,
    ReportWorkflow,
    last_complete_period,
    parse_period,
    period_containing,
)

LONDON = "Europe/London"
WEEK_10 = parse_period("weekly", "2026-W10", LONDON)  # Mon 2 Mar - Sun 8 Mar 2026 (GMT = UTC)
# Made 10 minutes after the week ended: D's hour to be acknowledged is not over yet.
AS_OF = datetime(2026, 3, 9, 0, 10, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# --- the period maths ----------------------------------------------------------------


def test_periods_in_the_policy_time_zone():
    # Monday 08:00 London reports on the week that has just ended.
    week = last_complete_period("weekly", datetime(2026, 3, 9, 8, 0, tzinfo=UTC), LONDON)
    assert (week.key, week.first_day, week.end_day) == ("2026-W10", date(2026, 3, 2),
                                                         date(2026, 3, 9))
    assert (week.start, week.end) == (at(2, 0), at(9, 0))
    # The clocks go forward on Sun 29 March: that week ends at 23:00 UTC, and a schedule
    # firing at 00:30 on Monday London time (still Sunday in UTC) reports on it.
    dst = last_complete_period("weekly", datetime(2026, 3, 29, 23, 30, tzinfo=UTC), LONDON)
    assert (dst.key, dst.start, dst.end) == ("2026-W13", at(23, 0), at(29, 23))
    assert len(dst.days) == 7

    month = last_complete_period("monthly", datetime(2026, 4, 1, 7, 0, tzinfo=UTC), LONDON)
    assert (month.key, month.start, month.end) == ("2026-03", at(1, 0), at(31, 23))
    quarter = last_complete_period("quarterly", datetime(2026, 1, 1, 8, 0, tzinfo=UTC), LONDON)
    assert (quarter.key, quarter.first_day, quarter.end_day) == (
        "2025-Q4", date(2025, 10, 1), date(2026, 1, 1))
    assert quarter.label == "Q4 2025 (October to December 2025)"

    assert parse_period("weekly", "2026-03-04", LONDON) == WEEK_10
    assert parse_period("monthly", "2026-02", LONDON).end_day == date(2026, 3, 1)
    assert parse_period("quarterly", "2026-q2", LONDON).first_day == date(2026, 4, 1)
    assert parse_period("weekly", "2021-W01", "UTC").first_day == date(2021, 1, 4)
    assert period_containing("weekly", date(2021, 1, 3), "UTC").key == "2020-W53"
    now = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert parse_period("weekly", "current", LONDON, now=now) == WEEK_10
    assert parse_period("weekly", "last", LONDON, now=now).key == "2026-W09"
    for kind, bad in (("weekly", "2026-13"), ("monthly", "2026-13"), ("quarterly", "2026-Q5"),
                      ("monthly", "soon")):
        with pytest.raises(ValueError, match="is not a"):
            parse_period(kind, bad, LONDON)


def test_deadline_names_lose_their_numbering():
    assert deadline_type("customer_update_3") == "customer_update"
    assert deadline_type("escalation_level_1") == "escalation_level_1"
    assert deadline_type("escalation_level_1_2") == "escalation_level_1"
    assert deadline_type("phone_contact_2") == "phone_contact"
    assert deadline_type("resolution") == "resolution"


# --- a history written straight into PostgreSQL -------------------------------------


async def add_complaint(conn: asyncpg.Connection, crn: str, received_at: datetime, *,
                        source: str = "email", category: str | None = "billing_dispute",
                        severity: int = 3, customer: str = "cust-kite",
                        acknowledged_at: datetime | None = None,
                        resolved_at: datetime | None = None, escalation_level: int = 0,
                        csat_score: int | None = None, recurrent_of: str | None = None,
                        events: Sequence[tuple[datetime, str, str | tuple[str, dict]]] = (),
                        actors: dict[int, str] | None = None) -> None:
    """One complaint row and its resolution log: events are (at, event, detail), the detail
    with the typed fields where the event has them (`breach`, `escalated`)."""
    status = "open" if resolved_at is None else "resolved"
    await conn.execute(
        """INSERT INTO complaints (crn, source, external_ref, customer_id, subject, description,
               category, severity, severity_score, status, phase, policy_name, received_at,
               acknowledged_at, resolved_at, escalation_level, csat_score, recurrent_of)
           VALUES ($1, $2, $1, $3, 'subject', 'description', $4, $5, 0, $6, 'resolution',
                   'default', $7, $8, $9, $10, $11, $12)""",
        crn, source, customer, category, severity, status, received_at, acknowledged_at,
        resolved_at, escalation_level, csat_score, recurrent_of)
    rows = [(crn, 1, received_at, "received", "system", "", None, None, None)]
    for i, (when, event, logged) in enumerate(events, start=2):
        detail, fields = logged if isinstance(logged, tuple) else (logged, {})
        rows.append((crn, i, when, event, (actors or {}).get(i - 2, "system"), detail,
                     fields.get("deadline"), fields.get("level"), fields.get("reason")))
    await conn.executemany(
        "INSERT INTO complaint_events (crn, seq, at, event, actor, detail, deadline, level, "
        "reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", rows)


async def add_refund(conn: asyncpg.Connection, crn: str, refund_id: int, amount: str,
                     applied_at: datetime) -> None:
    note = f"CN-{crn}-{refund_id}"
    await conn.execute("INSERT INTO credit_notes (id, order_id, amount, crn) "
                       "VALUES ($1, 'ord-3001', $2, $3)", note, Decimal(amount), crn)
    await conn.execute(
        """INSERT INTO refunds (crn, refund_id, customer_id, order_id, amount, currency,
               approved_by, credit_note, applied_at)
           VALUES ($1, $2, 'cust-kite', 'ord-3001', $3, 'GBP', 'fiona', $4, $5)""",
        crn, refund_id, Decimal(amount), note, applied_at)


def breach(name: str) -> tuple[str, dict]:
    """A `deadline_breached` event as the workflow logs it: its detail and typed fields."""
    return f"{name}: was due", {"deadline": name}


def escalated(level: int, reason: str) -> tuple[str, dict]:
    who = "team lead" if level == 1 else "head of customer success"
    return f"level {level} ({who}): {reason}", {"level": level, "reason": reason}


async def seed_week_10(conn: asyncpg.Connection) -> None:
    """Week 10 of 2026 (Mon 2 - Sun 8 March; London is on GMT, so UTC = local time).
    Business hours 09:00-17:00 Mon-Fri: a business day is 8 hours."""
    # Before the week: OLD (its CSAT answer comes in week 10), G (resolved in week 10),
    # H (still open, its escalation chain moves in week 10).
    await add_complaint(conn, "CRN-OLD", at(2, 10, month=2), category="data_inaccuracy",
                        acknowledged_at=at(2, 10, 30, month=2), resolved_at=at(4, 12, month=2),
                        csat_score=2, events=[(at(2, 12), "csat", "2/5")])
    await add_complaint(conn, "CRN-G", at(27, 14, month=2), source="phone",
                        category="technical_bug", severity=1, escalation_level=2,
                        acknowledged_at=at(27, 14, 20, month=2), resolved_at=at(2, 11),
                        events=[(at(27, 14, 1, month=2), "escalated",
                                 escalated(1, "Severity 1 at intake")),
                                (at(27, 15, month=2), "deadline_breached", breach("resolution")),
                                (at(2, 11), "resolved", "Resolution Confirmed")])
    await add_complaint(conn, "CRN-H", at(26, 10, month=2), category="service_deficiency",
                        acknowledged_at=at(26, 10, 10, month=2), escalation_level=2,
                        events=[(at(2, 9), "deadline_breached", breach("escalation_level_1_2")),
                                (at(2, 9), "escalated",
                                 escalated(2, "nobody acted on the level 1 escalation"))])
    # Received in week 10.
    await add_complaint(conn, "CRN-A", at(2, 9), source="email", acknowledged_at=at(2, 9, 30),
                        resolved_at=at(4, 13), csat_score=5,
                        events=[(at(4, 13), "resolved", ""), (at(5, 10), "csat", "5/5")])
    await add_complaint(conn, "CRN-B", at(2, 16), source="web", category="technical_bug",
                        severity=2, acknowledged_at=at(2, 17, 30), resolved_at=at(6, 12),
                        escalation_level=1, csat_score=3,
                        events=[(at(2, 16, 0), "escalated", escalated(1, "Severity 2 at intake")),
                                (at(2, 17), "deadline_breached",
                                 breach("personal_acknowledgement")),
                                (at(2, 17), "escalated",
                                 escalated(1, "SLA breached: personal acknowledgement")),
                                (at(6, 12), "resolved", ""), (at(6, 15), "csat", "3/5")])
    await add_complaint(conn, "CRN-C", at(3, 10), source="phone", category="data_inaccuracy",
                        acknowledged_at=at(3, 10, 20), resolved_at=at(10, 12),
                        escalation_level=1, recurrent_of="CRN-OLD",
                        events=[(at(5, 10), "deadline_breached", breach("customer_update_2")),
                                (at(5, 10), "escalated",
                                 escalated(1, "SLA breached: customer update"))])
    await add_complaint(conn, "CRN-D", at(8, 23, 30), source="email", category=None)
    await add_complaint(conn, "CRN-E", at(4, 11), source="api", severity=4,
                        acknowledged_at=at(4, 11, 45), resolved_at=at(4, 15), csat_score=4,
                        events=[(at(4, 16), "csat", "4/5")])
    await add_complaint(conn, "CRN-F", at(5, 9), source="web", acknowledged_at=at(5, 11),
                        resolved_at=at(6, 17), escalation_level=2, recurrent_of="CRN-E",
                        events=[(at(5, 10), "deadline_breached",
                                 breach("personal_acknowledgement")),
                                (at(5, 10), "escalated",
                                 escalated(1, "SLA breached: personal acknowledgement")),
                                (at(5, 12), "deadline_breached", breach("escalation_level_1")),
                                (at(5, 12), "escalated",
                                 escalated(2, "nobody acted on the level 1 escalation"))])
    await add_refund(conn, "CRN-G", 1, "120.00", at(2, 11, 30))
    await add_refund(conn, "CRN-A", 1, "30.50", at(4, 14))
    await add_refund(conn, "CRN-G", 2, "10.00", at(28, 10, month=2))  # the week before


async def test_metrics_on_a_seeded_history(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        await seed_week_10(conn)
        m = await compute_metrics(conn, WEEK_10, load_policy(), as_of=AS_OF)

    # Received A B C D E F; resolved A B E F and G (received the week before); open at the
    # week's end: C (resolved on the 10th), D, H.
    assert (m.received, m.resolved, m.open_at_end) == (6, 5, 3)
    # First contact resolution: only A. B, F and G were escalated; E came back as F.
    assert (m.first_contact_resolutions, m.fcr_rate) == (1, 0.2)
    # Business days of 8 hours: A Mon 09:00-Wed 13:00 = 8+8+4 h = 2.5; B Mon 16:00-Fri 12:00
    # = 1+8+8+8+3 h = 3.5; E Wed 11:00-15:00 = 0.5; F Thu 09:00-Fri 17:00 = 2; G Fri 27 Feb
    # 14:00-Mon 11:00 = 3+2 h = 0.625. Average 9.125 / 5, median 2.
    assert m.average_resolution_days == pytest.approx(1.825)
    assert m.median_resolution_days == pytest.approx(2.0)
    by_severity = {r.severity: (r.resolved, r.average_days, r.target_days)
                   for r in m.resolution_by_severity}
    assert by_severity == {1: (1, pytest.approx(0.625), 1.0), 2: (1, pytest.approx(3.5), 3.0),
                           3: (2, pytest.approx(2.25), 5.0), 4: (1, pytest.approx(0.5), 5.0)}
    # CSAT answers given in the week: A 5, B 3, E 4 and OLD 2 (resolved in February).
    assert (m.csat_responses, m.csat_average, m.csat_satisfied, m.csat_satisfied_rate) == (
        4, 3.5, 2, 0.5)
    # Within the hour: A (30 min), C (20), E (45); late: B (90), F (120); D's hour is not
    # over at 00:10 on the 9th, so it is left out.
    assert (m.acknowledged_within_hour, m.acknowledgement_measured) == (3, 5)
    assert m.acknowledged_within_hour_rate == 0.6
    assert (m.recurrent, m.recurrence_rate) == (2, pytest.approx(1 / 3))
    # Breaches in the week (G's in February is not): B and F personal acknowledgement, C's
    # second customer update, F's and H's team lead to act (H's is numbered _2).
    assert m.breaches == 5
    assert {b.name: b.count for b in m.breaches_by_deadline} == {
        "personal_acknowledgement": 2, "escalation_level_1": 2, "customer_update": 1}
    assert {c.name: c.count for c in m.breaches_by_category} == {
        "technical_bug": 1, "billing_dispute": 2, "data_inaccuracy": 1,
        "feature_request": 0, "service_deficiency": 1}
    # Escalations in the week: B twice, C, F at level 1; F and H at level 2.
    assert m.escalations == 6
    assert {e.name: e.count for e in m.escalations_by_level} == {"level 1": 4, "level 2": 2}
    assert {c.name: c.count for c in m.by_category} == {
        "technical_bug": 1, "billing_dispute": 3, "data_inaccuracy": 1, "feature_request": 0,
        "service_deficiency": 0, "uncategorised": 1}
    assert {c.name: c.count for c in m.by_severity} == {"1": 0, "2": 1, "3": 4, "4": 1}
    assert {c.name: c.count for c in m.by_channel} == {"email": 2, "web": 2, "phone": 1,
                                                       "api": 1}
    assert [(r.currency, r.count, r.total) for r in m.refunds] == [("GBP", 2, Decimal("150.50"))]
    assert [(d.day.day, d.count) for d in m.per_day] == [
        (2, 2), (3, 1), (4, 1), (5, 1), (6, 0), (7, 0), (8, 1)]
    assert [(t.metric, t.shown, t.met) for t in m.targets] == [
        ("First contact resolution", "20.0%", False),
        ("Average resolution time", "1.82 days", True),
        ("CSAT (satisfied, 4-5 of 5)", "50.0%", False),
        ("Acknowledged within 1 hour", "60.0%", False),
    ]


async def test_an_empty_period_has_no_data_rather_than_zero_percent(pool: asyncpg.Pool):
    async with pool.acquire() as conn:
        m = await compute_metrics(conn, WEEK_10, load_policy(), as_of=AS_OF)
    assert (m.received, m.resolved, m.open_at_end, m.breaches, m.escalations) == (0, 0, 0, 0, 0)
    assert [t.met for t in m.targets] == [None, None, None, None]
    assert all(t.shown == "no data" for t in m.targets)
    html = ReportRenderer(TEMPLATES_DIR).render(m).html
    assert html.count("<svg") == 3 and "NO DATA" in html


# --- the rendered email ---------------------------------------------------------------

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}


class Page(HTMLParser):
    """Checks that every element is closed in order; collects the charts and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []
        self.svgs: list[dict[str, Any]] = []
        self.text: list[str] = []
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs
        if tag == "svg":
            self.svgs.append({"title": None, "rects": 0, "label": dict(attrs).get("aria-label")})
        elif tag == "rect" and self.svgs:
            self.svgs[-1]["rects"] += 1
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs  # <line .../> and the like: nothing to close

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(" ".join(data.split()))


async def test_report_html_parses_with_its_charts_and_numbers(seeded: asyncpg.Pool):
    async with seeded.acquire() as conn:
        await seed_week_10(conn)
        m = await compute_metrics(conn, WEEK_10, load_policy(), as_of=AS_OF)
    report = ReportRenderer(TEMPLATES_DIR).render(m)

    assert report.subject == ("Complaints weekly report, week 10 of 2026 (Mon 02 Mar to Sun 08 "
                              "Mar 2026): 6 received, 5 resolved, 1 of 4 targets met")
    page = Page()
    page.feed(report.html)
    page.close()
    assert page.problems == [] and page.open == []
    assert [s["label"] for s in page.svgs] == [
        "Complaints received per day",
        "Average resolution time against target (business days)",
        "SLA breaches by category"]
    per_day, resolution, breaches = page.svgs
    assert per_day["rects"] == 7  # one bar a day
    assert resolution["rects"] == 5  # severities 1-4 and all severities, each with data
    assert breaches["rects"] == 5  # every category, zeros included
    text = " ".join(page.text)
    for shown in ("20.0%", "1.82 days", "1.82 business days", "50.0%", "60.0%", "MISSED", "MET",
                  "1 of 5 (20.0%)", "3 of 5 (60.0%)", "2 of 6 (33.3%)", "150.50 GBP",
                  "Personal acknowledgement", "Team lead to act on an escalation",
                  "SLA breaches: 5", "Escalations: 6", "3.50 of 5", "Times in Europe/London"):
        assert shown in text, shown
    # Nothing to fetch: no scripts, images, stylesheets or links; the only URL is SVG's
    # namespace name.
    assert not page.tags & {"script", "img", "link", "iframe", "object"}
    urls = {v for k, v in page.attrs if k in ("src", "href", "xmlns") and v}
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "url(" not in report.html and "@import" not in report.html

    for shown in ("MISSED   First contact resolution", "MET      Average resolution time",
                  "Received                    6", "150.50 GBP", "Mon 02 Mar  2",
                  "Personally acknowledged within 1 hour: 3 of 5 (60.0%); 1 still within"):
        assert shown in report.text, shown


# --- ReportWorkflow: kept in PostgreSQL, sent once, retried -----------------------------


def report_mails(stack: ComplaintStack, key: str) -> list[Any]:
    return stack.mail.matching(lambda msg: msg["X-Complaint-Report"] == key)


async def run_report(stack: ComplaintStack, kind: str, period: str, run: int = 1) -> Any:
    return await stack.client.execute_workflow(
        ReportWorkflow.run, ReportRequest(kind=kind, timezone=LONDON, period=period),
        id=f"report-{kind}-{period}-{run}", task_queue=stack.settings.task_queue)


async def test_report_workflow_sends_once_and_keeps_the_report(stack: ComplaintStack):
    async with stack.pool.acquire() as conn:
        await seed_week_10(conn)
    async with stack.worker():
        first = await run_report(stack, "weekly", "2026-W10")
        again = await run_report(stack, "weekly", "2026-03-05", run=2)  # the same week
    assert (first.status, again.status) == ("sent", "already sent")
    assert first.recipients == ["helen@example.com"] and first.key == "2026-W10"
    mails = report_mails(stack, "weekly:2026-W10")
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == "helen@example.com" and mail["Subject"] == first.subject
    assert mail.get_content_type() == "multipart/alternative"
    text, html = (mail.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
    assert "Received                    6" in text.get_content()
    assert html.get_content().count("<svg") == 3
    row = (await stack.rows("SELECT * FROM reports WHERE kind = 'weekly'"))[0]
    assert (row["period_key"], row["attempts"], row["policy_name"]) == ("2026-W10", 1, "default")
    assert row["sent_at"] is not None
    assert row["body_html"] == html.get_content().replace("\r\n", "\n")
    assert row["message_id"] == mail["Message-ID"]
    metrics = json.loads(row["metrics"])
    assert (metrics["received"], metrics["resolved"], metrics["breaches"]) == (6, 5, 5)


async def test_a_period_not_over_is_refused(stack: ComplaintStack):
    from temporalio.client import WorkflowFailureError

    async with stack.worker():
        with pytest.raises(WorkflowFailureError) as failure:
            await run_report(stack, "monthly", "current")
    assert "is not over until" in str(failure.value.cause)
    assert await stack.rows("SELECT * FROM reports") == []


async def test_report_waits_for_smtp_and_goes_out_once(stack: ComplaintStack):
    stack.mail.stop()
    async with stack.worker():
        run = asyncio.create_task(run_report(stack, "monthly", "2026-03"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:  # retried with backoff while SMTP is down; the report is kept meanwhile
            rows = await stack.rows("SELECT * FROM reports")
            if rows and rows[0]["attempts"] >= 2 and rows[0]["last_error"]:
                break
            assert loop.time() < deadline, rows
            await asyncio.sleep(0.2)
        assert rows[0]["sent_at"] is None and report_mails(stack, "monthly:2026-03") == []
        stack.mail.start()
        receipt = await asyncio.wait_for(run, 60)
    assert receipt.status == "sent"
    assert len(report_mails(stack, "monthly:2026-03")) == 1
    row = (await stack.rows("SELECT * FROM reports"))[0]
    assert row["sent_at"] is not None and row["last_error"] is None and row["attempts"] >= 3


async def test_a_report_with_nobody_to_send_to_waits_for_a_head_of_cs(pool: asyncpg.Pool,
                                                                      mail: Any):
    """Activities alone (ActivityEnvironment): no head of customer success on the roster
    keeps the report unsent; once there is one, the next run sends it to them."""
    from temporalio.testing import ActivityEnvironment

    from activities.reports import ReportActivities

    reports = ReportActivities(pool, ReportRenderer(TEMPLATES_DIR), load_policy(), "127.0.0.1",
                               mail.port, "Customer Care <care@example.com>")
    env = ActivityEnvironment()
    stored = await env.run(reports.prepare_report, WEEK_10)
    assert (stored.recipients, stored.sent) == ([], False)
    assert (await env.run(reports.send_report, WEEK_10)).status == "no recipient"
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO staff (id, name, email, role) "
                           "VALUES ('hana', 'Hana Lee', 'hana@example.com', 'head_of_cs')")
    receipt = await env.run(reports.send_report, WEEK_10)
    assert (receipt.status, receipt.recipients) == ("sent", ["hana@example.com"])
    assert (await env.run(reports.send_report, WEEK_10)).status == "already sent"
    assert (await env.run(reports.prepare_report, WEEK_10)).sent is True
    assert len(mail.matching(lambda msg: msg["X-Complaint-Report"] == "weekly:2026-W10")) == 1


# --- the schedules ----------------------------------------------------------------------


async def delete_schedules(stack: ComplaintStack) -> None:
    for kind in ReportKind:
        try:
            await stack.client.get_schedule_handle(schedule_id(stack.settings, kind)).delete()
        except Exception:
            pass


async def test_worker_start_creates_the_schedules(local_stack: ComplaintStack):
    """`python -m workers` (workers.worker.run) creates them before it takes work."""
    from workers.worker import run

    stack = local_stack
    target = stack.client.service_client.config.target_host
    settings = replace(stack.settings, temporal_address=target)
    loop = asyncio.get_running_loop()
    worker = asyncio.create_task(run(settings))
    try:
        deadline = loop.time() + 30
        # run() installs its SIGTERM handler once the schedules are in place and the worker
        # is about to poll; until then a SIGTERM would end the test run itself.
        while signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            assert not worker.done(), worker.exception()
            assert loop.time() < deadline, "the worker never started"
            await asyncio.sleep(0.05)
        # The server keeps the cron strings as calendars: 08:00 on Mondays; on the 1st; on
        # the 1st of January, April, July and October.
        fires = {ReportKind.weekly: ((1, 31), [(1, 12)], (1, 1)),
                 ReportKind.monthly: ((1, 1), [(1, 12)], (0, 6)),
                 ReportKind.quarterly: ((1, 1), [(1, 1), (4, 4), (7, 7), (10, 10)], (0, 6)),
                 ReportKind.half_year: ((1, 1), [(1, 1), (7, 7)], (0, 6))}
        for kind in ReportKind:
            described = await stack.client.get_schedule_handle(
                schedule_id(settings, kind)).describe()
            spec, action = described.schedule.spec, described.schedule.action
            assert spec.time_zone_name == LONDON
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert action.workflow == "ReportWorkflow"
            assert action.task_queue == settings.task_queue
            assert described.schedule.state.paused is False
            [when] = spec.calendars
            assert [(r.start, r.end) for r in when.hour] == [(8, 8)]
            assert [(r.start, r.end) for r in when.minute] == [(0, 0)]
            assert ((when.day_of_month[0].start, when.day_of_month[0].end),
                    [(r.start, r.end) for r in when.month],
                    (when.day_of_week[0].start, when.day_of_week[0].end)) == fires[kind]
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(worker, 30)
    finally:
        if not worker.done():
            worker.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await delete_schedules(stack)


async def test_schedules_update_in_place_and_a_trigger_sends_one_report(
        local_stack: ComplaintStack):
    stack = local_stack
    policy = stack.policy
    try:
        ids = await ensure_report_schedules(stack.client, stack.settings, policy)
        assert ids == [f"{stack.settings.task_queue}-report-{k}" for k in
                       ("weekly", "monthly", "quarterly", "half-year")]
        weekly = stack.client.get_schedule_handle(ids[0])
        await weekly.pause(note="paused by an operator")
        # A worker restart with another time zone updates them, and keeps the pause.
        other = policy.model_copy(update={"calendar": policy.calendar.model_copy(
            update={"timezone": "UTC"})})
        assert await ensure_report_schedules(stack.client, stack.settings, other) == ids
        described = await weekly.describe()
        assert described.schedule.spec.time_zone_name == "UTC"
        assert described.schedule.state.paused and "operator" in described.schedule.state.note
        monthly = stack.client.get_schedule_handle(ids[1])
        assert (await monthly.describe()).schedule.spec.time_zone_name == "UTC"
        assert await ensure_report_schedules(stack.client, stack.settings, policy) == ids
        await weekly.unpause()

        week = last_complete_period("weekly", datetime.now(UTC), LONDON)
        async with stack.worker():
            await weekly.trigger()
            await stack.mail.wait_for(
                lambda msg: msg["X-Complaint-Report"] == f"weekly:{week.key}", timeout=30)
            # The same week again: kept, not sent twice. A schedule names each run by its
            # nominal time to the second, so a trigger within the same second as the first
            # would be the same run; wait past it.
            await asyncio.sleep(1.1)
            await weekly.trigger()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:  # until the second run has finished
                info = (await weekly.describe()).info
                if info.num_actions >= 2 and not info.running_actions:
                    break
                assert loop.time() < deadline, info
                await asyncio.sleep(0.2)
        assert len(report_mails(stack, f"weekly:{week.key}")) == 1
        rows = await stack.rows("SELECT kind, period_key, sent_at FROM reports")
        assert [(r["kind"], r["period_key"]) for r in rows] == [("weekly", week.key)]
        assert rows[0]["sent_at"] is not None
    finally:
        await delete_schedules(stack)


async def test_a_backfilled_monday_reports_on_the_week_before_it(local_stack: ComplaintStack):
    """A run reports on the period before the instant it was scheduled for, not the one
    before it happened to start: backfilling Monday 9 March sends week 10's report."""
    from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy

    stack = local_stack
    async with stack.pool.acquire() as conn:
        await seed_week_10(conn)
    try:
        ids = await ensure_report_schedules(stack.client, stack.settings, stack.policy)
        async with stack.worker():
            await stack.client.get_schedule_handle(ids[0]).backfill(ScheduleBackfill(
                start_at=at(9, 7, 59), end_at=at(9, 8, 1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL))
            mail = await stack.mail.wait_for(
                lambda msg: msg["X-Complaint-Report"] == "weekly:2026-W10", timeout=30)
        assert "6 received, 5 resolved, 1 of 4 targets met" in mail["Subject"]
    finally:
        await delete_schedules(stack)


def test_report_schedule_spec():
    from workers.schedules import report_schedule

    schedule = report_schedule(Settings(), load_policy(), ReportKind.weekly)
    # A worker down over Monday morning still sends that week's report when it is back.
    assert schedule.policy.catchup_window == timedelta(days=7)
    assert schedule.spec.cron_expressions == ["0 8 * * MON"]
    assert schedule.spec.time_zone_name == LONDON
