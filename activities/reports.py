"""Reports: rendered (reporting/rendering.py) into an HTML email with a plain-text part, kept
in PostgreSQL, sent once to the head(s) of customer success.

The `reports` table is the report's outbox, keyed by (kind, period): `prepare_report`
works the metrics out and renders the message at its first attempt only; `send_report`
sends that stored message under a row lock and marks it sent, so a retry, or a second run
for the same period, never sends it again. If a worker dies after SMTP accepted the
message but before the row was marked sent, the retry resends it with the same Message-ID,
which mail clients treat as one message.
"""

from __future__ import annotations

from email.message import Message

import aiosmtplib
import asyncpg
from temporalio import activity

from activities.email import compose
from reporting.rendering import ReportRenderer, build_report
from workflows import report
from workflows.policy import SlaPolicy
from workflows.report import ReportPeriod, ReportReceipt, ReportStored


async def head_of_cs_emails(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT email FROM staff WHERE role = 'head_of_cs' ORDER BY id")
    return [r["email"] for r in rows]


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
        assert row is not None  # inserted above, or there already
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
