"""Reports for the Head of Customer Success: the periods they cover and `ReportWorkflow`.

The complaint management process asks for a weekly summary and a monthly count, SOP v2.0
for a monthly review of its success metrics, the complaint handling guidelines for a
quarterly review. Temporal Schedules start one
`ReportWorkflow` per period (weekly on Monday 08:00, monthly on the 1st, quarterly on the
1st of January, April, July and October, in the policy's time zone); it reports on the
last complete period: the week Monday to Sunday, the calendar month, the calendar quarter.

The workflow computes the period (pure date maths, safe on replay), then two activities:
`prepare_report` works the metrics out of PostgreSQL, renders the email and keeps it in
the `reports` table under (kind, period); `send_report` emails that stored report once.
A retried activity or a second run for the same period (a manual trigger on top of the
schedule) finds the row and sends nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.models import Model
    from workflows.policy import TimeZoneName


class ReportKind(StrEnum):
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    half_year = "half-year"  # January to June, July to December (regulators' returns)


class ReportPeriod(Model):
    """A report's period: local days [first_day, end_day) of the policy's time zone."""

    kind: ReportKind
    key: str  # "2026-W05", "2026-01", "2026-Q1", "2026-H1": with kind, the report's identity
    first_day: date
    end_day: date  # exclusive: the first day after the period
    timezone: str

    @property
    def start(self) -> datetime:
        return _midnight(self.first_day, self.timezone)

    @property
    def end(self) -> datetime:
        return _midnight(self.end_day, self.timezone)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i)
                for i in range((self.end_day - self.first_day).days)]

    @property
    def label(self) -> str:
        last = self.end_day - timedelta(days=1)
        if self.kind == ReportKind.weekly:
            return (f"week {self.key[-2:].lstrip('0')} of {self.key[:4]} "
                    f"({self.first_day:%a %d %b} to {last:%a %d %b %Y})")
        if self.kind == ReportKind.monthly:
            return f"{self.first_day:%B %Y}"
        if self.kind == ReportKind.half_year:
            return f"H{self.key[-1]} {self.key[:4]} ({self.first_day:%B} to {last:%B %Y})"
        return f"Q{self.key[-1]} {self.key[:4]} ({self.first_day:%B} to {last:%B %Y})"


class ReportRequest(Model):
    """What a schedule (or the CLI) starts `ReportWorkflow` with."""

    kind: ReportKind
    timezone: TimeZoneName = "UTC"  # the policy's: where a week or a month starts
    # A period key ("2026-W05", "2026-01", "2026-Q1") or a date in it; None: the last
    # complete period before the schedule fired.
    period: str | None = None


class ReportStored(Model):
    """`prepare_report`'s answer: the report kept in PostgreSQL, and whether it went out."""

    kind: ReportKind
    key: str
    subject: str
    recipients: list[str]
    sent: bool


class ReportReceipt(Model):
    kind: ReportKind
    key: str
    status: str  # "sent", "already sent" or "no recipient"
    subject: str
    recipients: list[str]


class ReportActivities:
    """The report's two activities, as typed signatures (`activities/reports.py` implements
    them): the workflow calls them by reference."""

    @activity.defn
    async def prepare_report(self, period: ReportPeriod) -> ReportStored:
        raise NotImplementedError

    @activity.defn
    async def send_report(self, period: ReportPeriod) -> ReportReceipt:
        raise NotImplementedError


# --- period maths (pure: the workflow runs it) ------------------------------------


def _midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_containing(kind: ReportKind | str, day: date, timezone: str) -> ReportPeriod:
    """The week (Monday to Sunday), month, quarter or half-year that `day` falls in."""
    kind = ReportKind(kind)
    if kind == ReportKind.weekly:
        first = day - timedelta(days=day.weekday())
        year, week, _ = first.isocalendar()
        return ReportPeriod(kind=kind, key=f"{year}-W{week:02d}", first_day=first,
                            end_day=first + timedelta(days=7), timezone=timezone)
    if kind == ReportKind.monthly:
        first = day.replace(day=1)
        return ReportPeriod(kind=kind, key=f"{first:%Y-%m}", first_day=first,
                            end_day=_add_months(first, 1), timezone=timezone)
    if kind == ReportKind.half_year:
        half = (day.month - 1) // 6
        first = date(day.year, half * 6 + 1, 1)
        return ReportPeriod(kind=kind, key=f"{day.year}-H{half + 1}", first_day=first,
                            end_day=_add_months(first, 6), timezone=timezone)
    quarter = (day.month - 1) // 3
    first = date(day.year, quarter * 3 + 1, 1)
    return ReportPeriod(kind=kind, key=f"{day.year}-Q{quarter + 1}", first_day=first,
                        end_day=_add_months(first, 3), timezone=timezone)


def last_complete_period(kind: ReportKind | str, at: datetime, timezone: str) -> ReportPeriod:
    """The latest period that had ended by `at` (a schedule firing Monday 08:00 reports on
    the week that ended at midnight)."""
    today = at.astimezone(ZoneInfo(timezone)).date()
    current = period_containing(kind, today, timezone)
    return period_containing(kind, current.first_day - timedelta(days=1), timezone)


def parse_period(kind: ReportKind | str, text: str, timezone: str,
                 now: datetime | None = None) -> ReportPeriod:
    """A period from what a person types: its key ("2026-W05", "2026-01", "2026-Q1"), a
    date in it ("2026-01-14"), "last" (the last complete one) or "current" (to date)."""
    kind = ReportKind(kind)
    value = text.strip().upper()
    if value in ("LAST", "CURRENT"):
        now = now or datetime.now(UTC)
        if value == "LAST":
            return last_complete_period(kind, now, timezone)
        return period_containing(kind, now.astimezone(ZoneInfo(timezone)).date(), timezone)
    try:
        if kind == ReportKind.weekly and "-W" in value:
            year, week = value.split("-W")
            return period_containing(kind, date.fromisocalendar(int(year), int(week), 1), timezone)
        if kind == ReportKind.quarterly and "-Q" in value:
            year, quarter = value.split("-Q")
            if not 1 <= int(quarter) <= 4:
                raise ValueError
            return period_containing(kind, date(int(year), int(quarter) * 3 - 2, 1), timezone)
        if kind == ReportKind.half_year and "-H" in value:
            year, half = value.split("-H")
            if not 1 <= int(half) <= 2:
                raise ValueError
            return period_containing(kind, date(int(year), int(half) * 6 - 5, 1), timezone)
        if kind == ReportKind.monthly and len(value) == 7:
            return period_containing(kind, date.fromisoformat(value + "-01"), timezone)
        return period_containing(kind, date.fromisoformat(value), timezone)
    except ValueError:
        examples = {ReportKind.weekly: "2026-W05", ReportKind.monthly: "2026-01",
                    ReportKind.quarterly: "2026-Q1", ReportKind.half_year: "2026-H1"}[kind]
        raise ValueError(f"{text!r} is not a {kind.value} period: give {examples}, a date in "
                         "it (2026-01-14), 'last' or 'current'") from None


# --- the workflow -------------------------------------------------------------------

# Set by Temporal on a workflow a schedule started: the instant it was due, which stays
# right even when the run starts late (the worker was down on Monday morning).
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["TemplateNotFound", "UndefinedError", "TemplateSyntaxError"],
)
REPORT_ACTIVITY_TIMEOUT = timedelta(minutes=2)


@workflow.defn(name="ReportWorkflow")
class ReportWorkflow:
    @workflow.run
    async def run(self, request: ReportRequest) -> ReportReceipt:
        now = workflow.now()
        due = workflow.info().typed_search_attributes.get(SCHEDULED_START) or now
        if request.period:
            try:
                period = parse_period(request.kind, request.period, request.timezone, now=due)
            except ValueError as err:
                raise ApplicationError(str(err), type="BadPeriod", non_retryable=True) from None
        else:
            period = last_complete_period(request.kind, due, request.timezone)
        if period.end > now:  # a report on a period still running would block the real one
            raise ApplicationError(
                f"the {period.kind.value} period {period.key} is not over until "
                f"{period.end:%Y-%m-%d %H:%M} UTC; only complete periods are sent",
                type="PeriodNotOver", non_retryable=True)
        workflow.set_current_details(f"**{period.kind.value.capitalize()} report** · "
                                     f"{period.label} · {period.key}")
        stored = await workflow.execute_activity_method(
            ReportActivities.prepare_report, period,
            start_to_close_timeout=REPORT_ACTIVITY_TIMEOUT, retry_policy=REPORT_RETRY,
            summary=f"Work out and keep the {period.kind.value} report {period.key}")
        if stored.sent:
            return ReportReceipt(kind=period.kind, key=period.key, status="already sent",
                                 subject=stored.subject, recipients=stored.recipients)
        return await workflow.execute_activity_method(
            ReportActivities.send_report, period,
            start_to_close_timeout=REPORT_ACTIVITY_TIMEOUT, retry_policy=REPORT_RETRY,
            summary=f"Email the {period.kind.value} report {period.key} to "
                    f"{', '.join(stored.recipients) or 'nobody (no head of customer success)'}")
