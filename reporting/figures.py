"""The success metrics over any period, from PostgreSQL: the complaint rows, the
resolution log (`complaint_events`) and the refunds.

Definitions (SOP v2.0 section 5 names the metrics and their targets):
- received: complaints whose `received_at` is in the period; by category, severity and
  channel, and per local day. Open: received before the period's end and not resolved by it.
- resolved: complaints whose `resolved_at` (the customer's written "Resolution Confirmed")
  is in the period. Their resolution time counts business time only (the policy's calendar),
  in business days of the calendar's length. A complaint withdrawn at the customer's request
  before its resolution has no `resolved_at`: it never counts as resolved (nor within its
  SLA, nor towards first contact resolution); one withdrawn in its post-mortem, after the
  customer's written sign-off, stays resolved.
- withdrawn: complaints withdrawn at the customer's request (`outcome` withdrawn) whose
  `closed_at` is in the period. A withdrawn complaint is no longer open from that instant.
- first contact resolution: a resolved complaint that was never escalated and never
  reopened: its log has a `reopened` event (the `reopen` action, or the customer's reply
  within the policy's window), or a later complaint recurs of it (`recurrent_of`: the
  customer came back after the window, or about the same issue).
- CSAT: the scores given in the period (the `csat` event's time); satisfied is 4 or 5 of 5.
- acknowledged within 1 hour: complaints received in the period whose personal
  acknowledgement (`acknowledged_at`) came within the hour; one whose hour is not over when
  the report is made is left out until it is.
- recurrence: complaints received in the period marked `recurrent_of` an earlier one.
- SLA breaches: `deadline_breached` events in the period, by deadline type (the event's
  `deadline`, without its _2, _3 numbering), by the complaint's category, and by the team
  that owned the deadline (`breaches_by_team`: R&D's fix counts against rnd, the KB article
  against qa, the finance decision against finance, every other against support, the
  complaint's owner; workflows/events.py `team_of`).
- escalations: `escalated` events in the period, by their `level`.
- refunds: refunds credited (approved and applied) in the period, per currency.
- how resolved: the complaints resolved in the period by their `outcome`: confirmed by the
  customer's written sign-off, not confirmed (no sign-off within the policy's wait), or a
  final response (upheld, partly upheld, not upheld), with each one's share.
- dismissed: complaints dismissed as not a complaint (`outcome` dismissed) whose `closed_at`
  is in the period, by reason. They count in no other figure: not received, not open, no
  breach, no acknowledgement.
- a regulator's figures (a policy with [regulatory]): the complaints resolved in the period
  by how long they took from receipt (within the summary resolution period, within the
  final-response limit, after it), their outcomes by category, and the redress paid (the
  refunds credited).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from workflows.calendar import (
    business_day_length,
    business_time_between,
    period_deadline,
    to_business_time,
)
from workflows.events import HANDOFF_TEAMS, SUPPORT_TEAM, Event, deadline_type, team_of
from workflows.models import Category, Model, Source
from workflows.policy import CalendarPolicy, SlaPolicy, snapshot_policy
from workflows.report import ReportPeriod

# SOP v2.0 section 5.
FCR_TARGET = 0.40
RESOLUTION_TARGET_DAYS = 5.0
CSAT_TARGET = 0.90
ACKNOWLEDGED_WITHIN = timedelta(hours=1)
UNCATEGORISED = "uncategorised"


class Count(Model):
    name: str
    count: int


class DayCount(Model):
    day: date
    count: int


class SeverityResolution(Model):
    severity: int
    resolved: int
    average_days: float | None
    target: str  # the policy's target, as written ("8h", "5d")
    target_days: float


class RefundTotal(Model):
    currency: str
    count: int
    total: Decimal


class TargetResult(Model):
    metric: str
    target: str
    value: float | None
    shown: str  # the value as the report prints it
    met: bool | None  # None: no data in the period


class CategoryOutcomes(Model):
    category: str
    closed: int
    upheld: int
    partly_upheld: int
    not_upheld: int


class RegulatorFigures(Model):
    """What a regulator's complaint return asks for, over the complaints resolved."""

    regulator: str
    summary_period: str | None  # e.g. "3 business days"
    limit: str  # e.g. "8 weeks"
    closed: int
    within_summary: int | None
    within_limit: int
    after_limit: int
    by_category: list[CategoryOutcomes]


class ReportMetrics(Model):
    period: ReportPeriod
    as_of: datetime
    policy_name: str
    received: int
    resolved: int
    open_at_end: int
    withdrawn: int = 0  # withdrawn at the customer's request in the period
    dismissed: int = 0  # dismissed as not a complaint in the period
    dismissed_by_reason: list[Count] = []
    # The resolved by outcome: confirmed, unconfirmed, upheld, partly_upheld, not_upheld.
    resolved_by_outcome: list[Count] = []
    regulator: RegulatorFigures | None = None
    first_contact_resolutions: int
    fcr_rate: float | None
    average_resolution_days: float | None
    median_resolution_days: float | None
    resolution_by_severity: list[SeverityResolution]
    csat_responses: int
    csat_average: float | None
    csat_satisfied: int
    csat_satisfied_rate: float | None
    acknowledgement_measured: int
    acknowledged_within_hour: int
    acknowledged_within_hour_rate: float | None
    recurrent: int
    recurrence_rate: float | None
    breaches: int
    breaches_by_deadline: list[Count]
    breaches_by_category: list[Count]
    breaches_by_team: list[Count] = []  # support (the owners), rnd, qa, finance
    escalations: int
    escalations_by_level: list[Count]
    by_category: list[Count]
    by_severity: list[Count]
    by_channel: list[Count]
    refunds: list[RefundTotal]
    per_day: list[DayCount]
    targets: list[TargetResult]
    # Changes under way: `by_severity` counts each complaint at its final severity; these
    # say how many were re-triaged, waited for the customer's information, or moved to a
    # new policy in the period, and the complaints received by the policy version they
    # started under (complaints started before and after a policy change apart).
    retriaged: int = 0
    information_requests: int = 0
    policy_changes: int = 0
    by_policy_version: list[Count] = []


def report_calendar(policy: SlaPolicy, first: datetime, last: datetime) -> CalendarPolicy:
    """The policy's calendar with its public holidays resolved for every year in between."""
    return snapshot_policy(policy, first, years_ahead=max(0, last.year - first.year)).calendar


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _tally(names: Iterable[str]) -> list[dict[str, Any]]:
    return [{"name": n, "count": c} for n, c in Counter(names).items()]


def _counts(rows: Sequence[Mapping[str, Any]], names: list[str]) -> list[Count]:
    """Every name of a vocabulary (zeros included, so charts compare), then any others."""
    found = {str(r["name"]): r["count"] for r in rows}
    extra = sorted(n for n in found if n not in names)
    return [Count(name=n, count=found.get(n, 0)) for n in [*names, *extra]]


async def compute_metrics(conn: asyncpg.Connection, period: ReportPeriod, policy: SlaPolicy,
                          as_of: datetime | None = None) -> ReportMetrics:
    """Every number of a report on `period`, as the database knows it at `as_of`."""
    start, end = period.start, period.end
    as_of = as_of or datetime.now(UTC)
    received = await conn.fetchrow(
        """SELECT count(*) AS received,
                  count(*) FILTER (WHERE recurrent_of IS NOT NULL) AS recurrent,
                  count(*) FILTER (WHERE acknowledged_at <= received_at + $3::interval)
                      AS acknowledged_on_time,
                  count(*) FILTER (WHERE acknowledged_at IS NULL
                                     AND received_at + $3::interval > $4) AS hour_not_over
           FROM complaints WHERE received_at >= $1 AND received_at < $2
             AND outcome IS DISTINCT FROM 'dismissed'""",
        start, end, ACKNOWLEDGED_WITHIN, as_of)
    open_at_end = await conn.fetchval(
        """SELECT count(*) FROM complaints
           WHERE received_at < $1 AND (resolved_at IS NULL OR resolved_at >= $1)
             AND (outcome NOT IN ('withdrawn', 'dismissed') OR outcome IS NULL
                  OR closed_at >= $1)""", end)
    withdrawn = await conn.fetchval(
        """SELECT count(*) FROM complaints
           WHERE outcome = 'withdrawn' AND closed_at >= $1 AND closed_at < $2""", start, end)
    by_category = await conn.fetch(
        f"""SELECT coalesce(category, '{UNCATEGORISED}') AS name, count(*) AS count
            FROM complaints WHERE received_at >= $1 AND received_at < $2
              AND outcome IS DISTINCT FROM 'dismissed' GROUP BY 1""", start, end)  # nosec B608 # SQL from constants only; values are bound $n parameters
    by_severity = await conn.fetch(
        """SELECT severity::text AS name, count(*) AS count
           FROM complaints WHERE received_at >= $1 AND received_at < $2
             AND outcome IS DISTINCT FROM 'dismissed' GROUP BY 1""", start, end)
    by_channel = await conn.fetch(
        """SELECT source AS name, count(*) AS count
           FROM complaints WHERE received_at >= $1 AND received_at < $2
             AND outcome IS DISTINCT FROM 'dismissed' GROUP BY 1""", start, end)
    per_day = await conn.fetch(
        """SELECT (received_at AT TIME ZONE $3)::date AS day, count(*) AS count
           FROM complaints WHERE received_at >= $1 AND received_at < $2
             AND outcome IS DISTINCT FROM 'dismissed' GROUP BY 1""",
        start, end, period.timezone)
    resolved = await conn.fetch(
        f"""SELECT c.crn, c.received_at, c.resolved_at, c.severity, c.outcome, c.category,
                  (c.escalation_level > 0 OR EXISTS (
                       SELECT 1 FROM complaint_events e
                       WHERE e.crn = c.crn AND e.event = '{Event.escalated}')) AS escalated,
                  (EXISTS (SELECT 1 FROM complaint_events e
                           WHERE e.crn = c.crn AND e.event = '{Event.reopened}')
                   OR EXISTS (SELECT 1 FROM complaints later
                              WHERE later.recurrent_of = c.crn)) AS reopened
           FROM complaints c WHERE c.resolved_at >= $1 AND c.resolved_at < $2
           ORDER BY c.resolved_at""", start, end)  # nosec B608 # SQL from constants only; values are bound $n parameters
    csat = await conn.fetchrow(
        f"""SELECT count(*) AS responses, avg(score)::float AS average,
                  count(*) FILTER (WHERE score >= 4) AS satisfied
           FROM (SELECT DISTINCT ON (c.crn) c.csat_score AS score
                 FROM complaints c
                 JOIN complaint_events e ON e.crn = c.crn AND e.event = '{Event.csat}'
                 WHERE e.at >= $1 AND e.at < $2 AND c.csat_score IS NOT NULL) scores""",  # nosec B608 # SQL from constants only; values are bound $n parameters
        start, end)
    breaches = await conn.fetch(
        f"""SELECT e.deadline,
                   coalesce(c.category, '{UNCATEGORISED}') AS category, count(*) AS count
            FROM complaint_events e JOIN complaints c ON c.crn = e.crn
            WHERE e.event = '{Event.deadline_breached}' AND e.at >= $1 AND e.at < $2
              AND c.outcome IS DISTINCT FROM 'dismissed'
            GROUP BY 1, 2""", start, end)  # nosec B608 # SQL from constants only; values are bound $n parameters
    escalations = await conn.fetch(
        f"""SELECT 'level ' || coalesce(level::text, '?') AS name,
                  count(*) AS count
           FROM complaint_events WHERE event = '{Event.escalated}' AND at >= $1 AND at < $2
           GROUP BY 1""", start, end)  # nosec B608 # SQL from constants only; values are bound $n parameters
    dismissed = await conn.fetch(
        f"""SELECT coalesce(e.reason, '?') AS name, count(DISTINCT c.crn) AS count
            FROM complaints c JOIN complaint_events e
                 ON e.crn = c.crn AND e.event = '{Event.dismissed}'
            WHERE c.outcome = 'dismissed' AND c.closed_at >= $1 AND c.closed_at < $2
            GROUP BY 1""", start, end)  # nosec B608 # SQL from constants only; values are bound $n parameters
    changes = await conn.fetchrow(
        f"""SELECT count(DISTINCT crn) FILTER (WHERE event = '{Event.retriaged}') AS retriaged,
                  count(*) FILTER (WHERE event = '{Event.information_requested}') AS asked,
                  count(DISTINCT crn) FILTER (WHERE event = '{Event.policy_changed}') AS moved
           FROM complaint_events WHERE at >= $1 AND at < $2""", start, end)  # nosec B608 # SQL from constants only; values are bound $n parameters
    by_policy_version = await conn.fetch(
        """SELECT coalesce(policy_version, coalesce(policy_name, '?') || ' (unversioned)')
                      AS name, count(*) AS count
           FROM complaints WHERE received_at >= $1 AND received_at < $2
             AND outcome IS DISTINCT FROM 'dismissed' GROUP BY 1""", start, end)
    refunds = await conn.fetch(
        """SELECT currency, count(*) AS count, sum(amount) AS total FROM refunds
           WHERE applied_at >= $1 AND applied_at < $2 GROUP BY currency ORDER BY currency""",
        start, end)

    # Resolution time in business days of the policy's calendar.
    earliest = min((r["received_at"] for r in resolved), default=start)
    cal = report_calendar(policy, min(earliest, start), end)
    day = business_day_length(cal)
    days = {r["crn"]: business_time_between(cal, r["received_at"], r["resolved_at"]) / day
            for r in resolved}
    by_severity_days: dict[int, list[float]] = {}
    for r in resolved:
        by_severity_days.setdefault(r["severity"], []).append(days[r["crn"]])
    severity_resolution = [
        SeverityResolution(
            severity=sev, resolved=len(by_severity_days.get(sev, [])),
            average_days=statistics.fmean(by_severity_days[sev]) if sev in by_severity_days
            else None,
            target=policy.resolution.target(sev),
            target_days=to_business_time(cal, policy.resolution.target(sev)) / day)
        for sev in (1, 2, 3, 4)]
    fcr = sum(1 for r in resolved if not r["escalated"] and not r["reopened"])

    deadline_counts: dict[str, int] = {}
    category_counts: dict[str, int] = {}
    team_counts: dict[str, int] = {}
    for r in breaches:
        kind = deadline_type(r["deadline"])
        deadline_counts[kind] = deadline_counts.get(kind, 0) + r["count"]
        team = team_of(kind)
        team_counts[team] = team_counts.get(team, 0) + r["count"]
        category_counts[r["category"]] = category_counts.get(r["category"], 0) + r["count"]

    n_received = received["received"]
    measured = n_received - received["hour_not_over"]
    values = list(days.values())
    metrics = ReportMetrics(
        period=period, as_of=as_of, policy_name=policy.name,
        received=n_received, resolved=len(resolved), open_at_end=open_at_end,
        withdrawn=withdrawn,
        dismissed=sum(r["count"] for r in dismissed),
        dismissed_by_reason=_counts(dismissed, ["spam", "not_a_complaint", "duplicate"]),
        # Resolved before outcomes were recorded: only by the customer's written sign-off.
        resolved_by_outcome=_counts(_tally(r["outcome"] or "confirmed" for r in resolved),
                                    RESOLVED_OUTCOMES),
        first_contact_resolutions=fcr, fcr_rate=_rate(fcr, len(resolved)),
        average_resolution_days=statistics.fmean(values) if values else None,
        median_resolution_days=statistics.median(values) if values else None,
        resolution_by_severity=severity_resolution,
        csat_responses=csat["responses"], csat_average=csat["average"],
        csat_satisfied=csat["satisfied"],
        csat_satisfied_rate=_rate(csat["satisfied"], csat["responses"]),
        acknowledgement_measured=measured,
        acknowledged_within_hour=received["acknowledged_on_time"],
        acknowledged_within_hour_rate=_rate(received["acknowledged_on_time"], measured),
        recurrent=received["recurrent"], recurrence_rate=_rate(received["recurrent"], n_received),
        breaches=sum(deadline_counts.values()),
        breaches_by_deadline=[Count(name=k, count=v) for k, v in sorted(
            deadline_counts.items(), key=lambda kv: (-kv[1], kv[0]))],
        breaches_by_category=_counts(
            [{"name": k, "count": v} for k, v in category_counts.items()],
            [c.value for c in Category]),
        breaches_by_team=_counts([{"name": k, "count": v} for k, v in team_counts.items()],
                                 [SUPPORT_TEAM, *dict.fromkeys(HANDOFF_TEAMS.values())]),
        escalations=sum(r["count"] for r in escalations),
        escalations_by_level=_counts(escalations, ["level 1", "level 2"]),
        by_category=_counts(by_category, [c.value for c in Category]),
        by_severity=_counts(by_severity, ["1", "2", "3", "4"]),
        by_channel=_counts(by_channel, [s.value for s in Source]),
        refunds=[RefundTotal(currency=r["currency"], count=r["count"], total=r["total"])
                 for r in refunds],
        per_day=[DayCount(day=d, count=next((r["count"] for r in per_day if r["day"] == d), 0))
                 for d in period.days],
        targets=[],
        retriaged=changes["retriaged"], information_requests=changes["asked"],
        policy_changes=changes["moved"],
        by_policy_version=_counts(by_policy_version, []),
    )
    metrics.targets = targets(metrics)
    if policy.regulatory is not None:
        metrics.regulator = _regulator_figures(policy, cal, resolved)
    return metrics


RESOLVED_OUTCOMES = ["confirmed", "unconfirmed", "upheld", "partly_upheld", "not_upheld"]


def _regulator_figures(policy: SlaPolicy, cal: CalendarPolicy,
                       resolved: list[asyncpg.Record]) -> RegulatorFigures:
    """Complaints resolved in the period, by how long they took and how they ended."""
    regulatory = policy.regulatory
    assert regulatory is not None
    summary = regulatory.summary_resolution_within
    within_summary = within_limit = after_limit = 0
    by_category: dict[str, CategoryOutcomes] = {}
    for r in resolved:
        received, done = r["received_at"], r["resolved_at"]
        if summary is not None and done <= period_deadline(cal, received, summary):
            within_summary += 1
        if done <= period_deadline(cal, received, regulatory.final_response_within):
            within_limit += 1
        else:
            after_limit += 1
        name = r["category"] or UNCATEGORISED
        row = by_category.setdefault(name, CategoryOutcomes(
            category=name, closed=0, upheld=0, partly_upheld=0, not_upheld=0))
        row.closed += 1
        if r["outcome"] in ("upheld", "partly_upheld", "not_upheld"):
            setattr(row, r["outcome"], getattr(row, r["outcome"]) + 1)
    return RegulatorFigures(
        regulator=regulatory.regulator, summary_period=summary,
        limit=regulatory.final_response_within, closed=len(resolved),
        within_summary=within_summary if summary is not None else None,
        within_limit=within_limit, after_limit=after_limit,
        by_category=sorted(by_category.values(), key=lambda c: c.category))


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.1f}%"


def format_days(value: float | None) -> str:
    """Business days with 2 decimals (a policy in minutes gives "< 0.01")."""
    if value is None:
        return "no data"
    return "< 0.01" if 0 < value < 0.005 else f"{value:.2f}"


def targets(m: ReportMetrics) -> list[TargetResult]:
    """The SOP's four targets, each met or missed (None when the period has no data)."""

    def result(metric: str, target: str, value: float | None, shown: str, met) -> TargetResult:
        return TargetResult(metric=metric, target=target, value=value, shown=shown,
                            met=None if value is None else met(value))

    avg = m.average_resolution_days
    return [
        result("First contact resolution", "> 40%", m.fcr_rate, _percent(m.fcr_rate),
               lambda v: v > FCR_TARGET),
        result("Average resolution time", "< 5 business days", avg,
               "no data" if avg is None else f"{format_days(avg)} days",
               lambda v: v < RESOLUTION_TARGET_DAYS),
        result("CSAT (satisfied, 4-5 of 5)", "> 90%", m.csat_satisfied_rate,
               _percent(m.csat_satisfied_rate), lambda v: v > CSAT_TARGET),
        result("Acknowledged within 1 hour", "100%", m.acknowledged_within_hour_rate,
               _percent(m.acknowledged_within_hour_rate), lambda v: v >= 1.0),
    ]
