"""Email: jinja2 templates rendered once, sent over SMTP once, through an outbox.

The outbox row is keyed by (crn, kind). The first attempt renders the message
and stores it; every retry sends that same stored message; a sent row is never
sent again. If a worker dies after SMTP accepted a message but before the row
was marked sent, the retry resends it with the same Message-ID, which mail
clients treat as one message.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import aiosmtplib
import asyncpg
import jinja2
from temporalio import activity

from workflows.models import EmailReceipt, EmailRequest


class TemplateRenderer:
    """Templates are `templates/email/<name>.txt.j2`: a `Subject:` line, a blank line, the body."""

    def __init__(self, templates_dir: Path) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            undefined=jinja2.StrictUndefined,  # a missing field is a bug, not a blank in an email
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, name: str, context: dict) -> tuple[str, str]:
        text = self.env.get_template(f"email/{name}.txt.j2").render(**context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"template email/{name}.txt.j2 must start with a 'Subject:' line")
        return head.removeprefix("Subject:").strip(), body.strip() + "\n"


class EmailActivities:
    def __init__(
        self, pool: asyncpg.Pool, renderer: TemplateRenderer, smtp_host: str, smtp_port: int,
        mail_from: str,
    ) -> None:
        self.pool = pool
        self.renderer = renderer
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.mail_from = mail_from

    @activity.defn
    async def send_email(self, req: EmailRequest) -> EmailReceipt:
        """Send one email at most once per (crn, kind)."""
        row = await self._outbox_row(req)
        receipt = EmailReceipt(status="sent", subject=row["subject"], body=row["body"])
        if row["sent_at"] is not None:
            return receipt.model_copy(update={"status": "already sent"})
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = ", ".join(row["recipients"])
        msg["Subject"] = row["subject"]
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = row["message_id"]
        msg["X-Complaint-Reference"] = req.crn
        msg["X-Complaint-Message-Kind"] = req.kind
        msg.set_content(row["body"])
        accepted = False
        try:
            async with aiosmtplib.SMTP(
                hostname=self.smtp_host, port=self.smtp_port, timeout=15
            ) as smtp:
                await smtp.send_message(msg)
                accepted = True
                # Marked sent before the goodbye (QUIT): a worker dying between SMTP's "250"
                # and this row is the one case a retry resends (same Message-ID), so keep it short.
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE email_outbox SET sent_at = now(), last_error = NULL WHERE id = $1",
                        row["id"],
                    )
        except Exception as err:
            if not accepted:
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE email_outbox SET last_error = $2 WHERE id = $1", row["id"], str(err)
                    )
            raise  # Temporal retries with backoff; the stored message goes out when SMTP is back
        return receipt

    async def _outbox_row(self, req: EmailRequest) -> asyncpg.Record:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM email_outbox WHERE crn = $1 AND kind = $2", req.crn, req.kind
            )
            if row is None:
                subject, body = self.renderer.render(req.template, req.context)
                domain = self.mail_from.rpartition("@")[2].strip("> ") or "complaints.local"
                message_id = f"<{req.crn}.{req.kind.replace(':', '.')}@{domain}>"
                await conn.execute(
                    """INSERT INTO email_outbox (crn, kind, recipients, subject, body, message_id)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (crn, kind) DO NOTHING""",
                    req.crn, req.kind, req.to, subject, body, message_id,
                )
            return await conn.fetchrow(
                """UPDATE email_outbox SET attempts = attempts + 1
                   WHERE crn = $1 AND kind = $2 RETURNING *""",
                req.crn, req.kind,
            )
