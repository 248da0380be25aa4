"""Reports: rendered with jinja2 into an HTML email with a plain-text part, kept in
PostgreSQL, sent once to the head(s) of customer success.

The `reports` table is the report's outbox, keyed by (kind, period): `prepare_report`
works the metrics out and renders the message at its first attempt only; `send_report`
sends that stored message under a row lock and marks it sent, so a retry, or a second run
for the same period, never sends it again. If a worker dies after SMTP accepted the
message but before the row was marked sent, the retry resends it with the same Message-ID,
which mail clients treat as one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import aiosmtplib
import asyncpg
import jinja2
from temporalio import activity

from activities.charts import complaints_per_day, horizontal_bars
from activities.email import compose
from activities.metrics import ReportMetrics, compute_metrics, format_days
from workflows import report
from workflows.policy import SlaPolicy
from workflows.report import ReportPeriod, ReportReceipt, ReportStored

DEADLINE_LABELS = {
    "automatic_acknowledgement": "Automatic acknowledgement",
    "personal_acknowledgement": "Personal acknowledgement",
    "phone_contact": "Phone contact with the owner",
    "customer_update": "Customer update",
    "resolution": "Resolution target",
    "refund_approval": "Refund decision (Finance)",
    "escalation_level_1": "Team lead to act on an escalation",
    "escalation_level_2": "Head of CS to act on an escalation",
    "customer_agreement": "Customer's answer to a proposal",
    "customer_sign_off": "Customer's sign-off (then resolved unconfirmed)",
    "final_response": "Final response after deadlock",
    "regulatory_final_response": "Final response within the regulator's limit",
}


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str


def _label(name: str) -> str:
    return DEADLINE_LABELS.get(name) or name.replace("_", " ").capitalize()


def _percent(value: float | None) -> str:
    return "no data" if value is None else f"{value * 100:.1f}%"


class ReportRenderer:
    """`templates/report/report.txt.j2` (a `Subject:` line, a blank line, the text part) and
    `templates/report/report.html.j2` (the HTML part, autoescaped, charts inline)."""

    def __init__(self, templates_dir: Path) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",),
                                                default_for_string=False),
            keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        )
        self.env.filters.update(label=_label, percent=_percent, days=format_days)

    def render(self, m: ReportMetrics) -> RenderedReport:
        context = {"m": m, "p": m.period, "charts": self.charts(m)}
        text = self.env.get_template("report/report.txt.j2").render(**context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError("template report/report.txt.j2 must start with a 'Subject:' line")
        html = self.env.get_template("report/report.html.j2").render(**context)
        return RenderedReport(head.removeprefix("Subject:").strip(), body.strip() + "\n", html)

    @staticmethod
    def charts(m: ReportMetrics) -> dict[str, str]:
        resolution = [(f"Severity {r.severity} (target {r.target})", r.average_days,
                       r.target_days) for r in m.resolution_by_severity]
        resolution.append(("All severities (SOP: < 5 days)", m.average_resolution_days, 5.0))
        categories = [(c.name.replace("_", " ").capitalize(), float(c.count), None)
                      for c in m.breaches_by_category]
        return {
            "per_day": complaints_per_day([(d.day, d.count) for d in m.per_day]),
            "resolution": horizontal_bars(
                resolution, "Average resolution time against target (business days)", " d",
                label_width=230),
            "breaches": horizontal_bars(categories, "SLA breaches by category", counts=True),
        }


async def head_of_cs_emails(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT email FROM staff WHERE role = 'head_of_cs' ORDER BY id")
    return [r["email"] for r in rows]


async def build_report(conn: asyncpg.Connection, period: ReportPeriod, policy: SlaPolicy,
                       renderer: ReportRenderer) -> tuple[ReportMetrics, RenderedReport]:
    """The report on `period` as the database knows it now (the CLI renders this on demand)."""
    metrics = await compute_metrics(conn, period, policy)
    return metrics, renderer.render(metrics)


class ReportActivities(report.ReportActivities):
    def __init__(self, pool: asyncpg.Pool, renderer: ReportRenderer, policy: SlaPolicy,
                 smtp_host: str, smtp_port: int, mail_from: str) -> None:
        self.pool = pool
        self.renderer = renderer
        self.policy = policy
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.mail_from = mail_from

    @activity.defn
    async def prepare_report(self, period: ReportPeriod) -> ReportStored:
        """Work the report out and keep it, once per (kind, period)."""
        async with self.pool.acquire() as conn:
            row = await self._row(conn, period)
            if row is None:
                metrics, rendered = await build_report(conn, period, self.policy, self.renderer)
                domain = self.mail_from.rpartition("@")[2].strip("> ") or "complaints.local"
                await conn.execute(
                    """INSERT INTO reports (kind, period_key, period_start, period_end,
                           policy_name, metrics, recipients, subject, body_text, body_html,
                           message_id)
                       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)
                       ON CONFLICT (kind, period_key) DO NOTHING""",
                    period.kind.value, period.key, period.start, period.end, self.policy.name,
                    metrics.model_dump_json(), await head_of_cs_emails(conn), rendered.subject,
                    rendered.text, rendered.html,
                    f"<report.{period.kind.value}.{period.key}@{domain}>")
                row = await self._row(conn, period)
        return ReportStored(kind=period.kind, key=period.key, subject=row["subject"],
                            recipients=list(row["recipients"]), sent=row["sent_at"] is not None)

    @activity.defn
    async def send_report(self, period: ReportPeriod) -> ReportReceipt:
        """Send the stored report once. The row stays locked while SMTP takes it, so two runs
        for the same period cannot both send."""
        failure: Exception | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._row(conn, period, lock=True)
            if row is None:
                raise RuntimeError(f"the {period.kind.value} report {period.key} was not prepared")
            receipt = ReportReceipt(kind=period.kind, key=period.key, status="sent",
                                    subject=row["subject"], recipients=list(row["recipients"]))
            if row["sent_at"] is not None:
                return receipt.model_copy(update={"status": "already sent"})
            if not row["recipients"]:  # nobody when it was prepared: perhaps someone now
                recipients = await head_of_cs_emails(conn)
                if not recipients:
                    activity.logger.warning("nobody on the roster is head of customer success: "
                                            "the %s report %s is kept, not sent",
                                            period.kind.value, period.key)
                    return receipt.model_copy(update={"status": "no recipient"})
                row = await conn.fetchrow(
                    "UPDATE reports SET recipients = $2 WHERE id = $1 RETURNING *",
                    row["id"], recipients)
                receipt.recipients = recipients
            try:
                await aiosmtplib.send(self._message(period, row), hostname=self.smtp_host,
                                      port=self.smtp_port, timeout=15)
            except Exception as err:  # recorded on the row, then Temporal retries with backoff
                failure = err
            await conn.execute(
                """UPDATE reports SET attempts = attempts + 1, last_error = $2,
                       sent_at = CASE WHEN $2::text IS NULL THEN now() END
                   WHERE id = $1""",
                row["id"], None if failure is None else str(failure))
        if failure is not None:
            raise failure
        return receipt

    def _message(self, period: ReportPeriod, row: asyncpg.Record) -> Message:
        return compose(self.mail_from, row, row["body_text"],
                       {"X-Complaint-Report": f"{period.kind.value}:{period.key}"},
                       html=row["body_html"])

    @staticmethod
    async def _row(conn: asyncpg.Connection, period: ReportPeriod,
                   lock: bool = False) -> asyncpg.Record | None:
        return await conn.fetchrow(
            "SELECT * FROM reports WHERE kind = $1 AND period_key = $2"  # nosec B608 # SQL from constants only; values are bound $n parameters
            + (" FOR UPDATE" if lock else ""), period.kind.value, period.key)
