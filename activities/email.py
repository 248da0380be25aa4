"""Email: jinja2 templates rendered once, sent over SMTP once, through an outbox.

The outbox row is keyed by (crn, kind). The first attempt stores the rendered
message; every retry sends that same stored message; a sent row is never sent
again. If a worker dies after SMTP accepted a message but before the row was
marked sent, the retry resends it with the same Message-ID, which mail clients
treat as one message.

Every email about a complaint carries `Reply-To: SUPPORT_ADDRESS`; the product's automatic
ones `Auto-Submitted: auto-generated`. Customer-facing emails are multipart (the text and
a simple HTML rendering of it, no remote assets), keep one thread per complaint
(`In-Reply-To`/`References` from the customer's first message, or from our first email
to them), and carry their signed links (mail/links.py). At most
`AUTOMATIC_PER_HOUR` automatic emails go to one address an hour for complaints that came
by email, so two autoresponders can never keep each other busy.

SMTP sessions are kept open for a few seconds between emails (`SmtpSessions`): a
complaint sends its emails in bursts, and a new session costs a connection, the
greeting, EHLO and QUIT, each a round trip.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Mapping
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import jinja2
from temporalio import activity
from temporalio.common import MetricCounter
from temporalio.exceptions import ApplicationError

from mail import language
from mail.links import CustomerLinks
from workflows import activity_types
from workflows.messages import EmailReceipt, EmailRequest

# Templates written to the customer (multipart, threaded, with their links).
CUSTOMER_TEMPLATES = frozenset({
    "acknowledgement", "personal_acknowledgement", "customer_update", "solution_proposal",
    "refund_applied", "sign_off_request", "resolution_notice", "survey", "sign_off_confirm",
    "agreement_reminder", "resolution_unconfirmed", "summary_resolution", "final_response",
    "not_a_complaint"})
# Written by a person (the message is theirs), so not marked Auto-Submitted.
WRITTEN_BY_PEOPLE = frozenset({"personal_acknowledgement", "customer_update",
                               "solution_proposal", "final_response"})
AUTOMATIC_PER_HOUR = 5
_URL = re.compile(r"(https?://[^\s<>\"]+)")


def text_to_html(text: str, ours: str | None = None) -> str:
    """The text part as simple HTML: paragraphs, line breaks; nothing remote. Only URLs
    under `ours` (the customer pages' address, where the product's signed links point) are
    clickable: a URL in the customer's own subject or name stays text, so our domain never
    carries a sender's link."""
    prefix = html.escape(ours) if ours else None
    paragraphs = []
    for para in re.split(r"\n\s*\n", text.strip()):
        escaped = html.escape(para)
        linked = _URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>'
                          if prefix and m.group(1).startswith(prefix) else m.group(1), escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
            '<body style="font-family: sans-serif; line-height: 1.4">\n'
            + "\n".join(paragraphs) + "\n</body></html>\n")
EMAILS_SENT = "complaints_emails_sent_total"
EMAIL_FAILURES = "complaints_email_failures_total"


def message_kind(kind: str) -> str:
    """`escalation:12` -> `escalation`: the metric's label, without the per-complaint number."""
    return kind.partition(":")[0]


def _counter(name: str, description: str) -> MetricCounter:
    return activity.metric_meter().create_counter(name, description)


class TemplateRenderer:
    """Templates are `templates/email/<name>.txt.j2`: a `Subject:` line, a blank line, the body.

    A customer's template renders in the complaint's language (docs/languages.md): its
    messages through that language's catalog, its dates, durations and amounts as the
    locale writes them; any language without a catalog reads English. Staff emails are
    English whatever the complaint's language."""

    def __init__(self, templates_dir: Path,
                 console_url: str = "http://localhost:8000/console") -> None:
        self.templates_dir, self.console_url = templates_dir, console_url
        self._envs: dict[str, jinja2.Environment] = {}
        self.env = self.environment(language.ENGLISH)

    def environment(self, lang: str) -> jinja2.Environment:
        """The templates as one shipped language renders them (made once)."""
        if lang not in self._envs:
            env = jinja2.Environment(  # nosec B701 # plain-text email templates, nothing to HTML-escape
                loader=jinja2.FileSystemLoader(str(self.templates_dir)),
                undefined=jinja2.StrictUndefined,  # a missing field is a bug, not a blank in an email
                keep_trailing_newline=True,
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(  # type: ignore[attr-defined]
                language.translations(lang), newstyle=True)
            env.filters["money"] = lambda amount, currency: language.money(amount, currency,
                                                                          lang)
            # Internal emails link to the complaint's page in the staff console.
            env.globals["console_url"] = self.console_url
            self._envs[lang] = env
        return self._envs[lang]

    def render(self, name: str, context: dict, lang: str | None = None) -> tuple[str, str]:
        """`lang` is the complaint's language; only the customer's templates read it."""
        lang = language.shipped(lang) if name in CUSTOMER_TEMPLATES else language.ENGLISH
        env = self.environment(lang)
        text = env.get_template(f"email/{name}.txt.j2").render(**localised(context, lang))
        head, _, body = text.partition("\n\n")
        if not head.startswith("Subject:"):
            raise ValueError(f"template email/{name}.txt.j2 must start with a 'Subject:' line")
        return head.removeprefix("Subject:").strip(), body.strip() + "\n"


# The context's instants and durations the workflow also gives as values for a customer
# written to in another language (Case.when, Case.duration): rewritten in that language.
_INSTANTS = ("estimated_resolution", "due")
_DURATIONS = ("personal_within", "update_every")


def localised(context: dict[str, Any], lang: str) -> dict[str, Any]:
    """An email's context with its instants, durations, the workflow's own words ("customer"
    for a customer without a name) and the policy's texts (as the catalog has them) in
    `lang`; English's as the workflow wrote it."""
    if lang == language.ENGLISH:
        return context
    out = dict(context)
    for key in _INSTANTS:
        if out.get(f"{key}_at"):
            out[key] = language.when(out[f"{key}_at"], out.get("time_zone"), lang)
    for key in _DURATIONS:
        if out.get(f"{key}_seconds") is not None:
            out[key] = language.duration(out[f"{key}_seconds"], lang)
    words = language.translations(lang)
    for key, value in context.items():
        if isinstance(value, str) and (value in language.WORKFLOW_WORDS
                                       or key in language.POLICY_TEXTS):
            out[key] = words.gettext(value)
    return out


# Text parts in UTF-8 as quoted-printable (readable in the raw message), headers that are
# not ASCII as RFC 2047 words.
_UTF8 = Charset("utf-8")
_UTF8.header_encoding = _UTF8.body_encoding = QP


class HeaderRefused(ValueError):
    """A header value the email cannot carry (no retry mends it)."""


def _header(value: str, name: str) -> str:
    # CR/LF collapsed: a value ("x\nNote: y") never starts a header of its own, and never
    # makes the encoder raise on every retry.
    value = " ".join(value.split()) if any(c in value for c in "\r\n\v\f") else value
    try:
        # Folded knowing the header's name, so its first encoded word starts on the header's
        # own line (without it, "Subject:" stands alone and readers see a leading space).
        return value if value.isascii() else Header(value, _UTF8, header_name=name).encode()
    except Exception as err:
        raise HeaderRefused(f"a header value cannot be encoded: {err}") from None


def _text_part(body: str, subtype: str) -> MIMEText:
    # Plain 7-bit only where SMTP's line limit (998) cannot bite: a report's HTML has long lines.
    plain = body.isascii() and all(len(line) <= 900 for line in body.splitlines())
    return MIMEText(body, subtype, "us-ascii" if plain else _UTF8)  # type: ignore[arg-type]


def compose(mail_from: str, row: Mapping[str, Any], text: str, headers: dict[str, str],
            html: str | None = None) -> Message:
    """A stored message (`recipients`, `subject`, `message_id` from its outbox row) as it
    goes out: the same Message-ID on every attempt, the text and optionally an HTML part.

    Built with the classic (compat32) MIME classes: `EmailMessage` parses every header it
    is given through the header registry, which was most of the worker's CPU per email."""
    msg: Message = _text_part(text, "plain")
    if html is not None:
        alternative = MIMEMultipart("alternative")
        alternative.attach(msg)
        alternative.attach(_text_part(html, "html"))
        msg = alternative
    msg["From"] = _header(mail_from, "From")
    msg["To"] = _header(", ".join(row["recipients"]), "To")
    msg["Subject"] = _header(row["subject"], "Subject")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = row["message_id"]
    for name, value in headers.items():
        msg[name] = _header(value, name)
    return msg


class SmtpSessions:
    """A few SMTP sessions kept open between emails, each for `idle_for` seconds at most
    (servers drop idle clients after minutes; a dropped one is replaced, once, at once)."""

    def __init__(self, host: str, port: int, keep: int = 4, idle_for: float = 10.0) -> None:
        self.host, self.port, self.keep, self.idle_for = host, port, keep, idle_for
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []

    async def send(self, msg: Message) -> None:
        """Send on an idle session if there is one, else on a new one. Returns once the server
        accepted the message (its "250" after DATA); raises what SMTP raised otherwise."""
        while self._idle:
            since, smtp = self._idle.pop()
            if time.monotonic() - since > self.idle_for or not smtp.is_connected:
                smtp.close()
                continue
            try:
                await smtp.send_message(msg)
            except aiosmtplib.SMTPServerDisconnected:
                smtp.close()  # the server dropped it while idle: a new session below
                break
            except BaseException:
                smtp.close()
                raise
            self._put_back(smtp)
            return
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=15)
        await smtp.connect()
        try:
            await smtp.send_message(msg)
        except BaseException:
            smtp.close()
            raise
        self._put_back(smtp)

    def _put_back(self, smtp: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.keep:
            self._idle.append((time.monotonic(), smtp))
        else:
            smtp.close()


class EmailActivities(activity_types.EmailActivities):
    def __init__(
        self, pool: asyncpg.Pool, renderer: TemplateRenderer, smtp_host: str, smtp_port: int,
        mail_from: str, support_address: str = "support@example.com",
        links: CustomerLinks | None = None,
    ) -> None:
        self.pool = pool
        self.renderer = renderer
        self.mail_from = mail_from
        self.support_address = support_address
        self.links = links or CustomerLinks("", "")
        self.smtp = SmtpSessions(smtp_host, smtp_port)

    @activity.defn
    async def send_email(self, req: EmailRequest) -> EmailReceipt:
        """Send one email at most once per (crn, kind)."""
        try:
            return await self._send_once(req)
        except Exception as err:
            # Every failed attempt (SMTP away, a broken template); Temporal retries it.
            _counter(EMAIL_FAILURES, "email attempts that failed, by message kind").add(
                1, {"kind": message_kind(req.kind)})
            # The error's class only: SMTP's refusals quote the recipients' addresses.
            activity.logger.warning("email %s not sent: %s", req.kind, type(err).__name__)
            # A broken template or a header no encoding can carry: retrying won't mend it
            # (the complaint logs email_failed, which its owner sees in the timeline).
            if isinstance(err, jinja2.TemplateError | HeaderRefused | UnicodeError):
                async with self.pool.acquire() as conn:  # the outbox row says why, if it has one
                    await conn.execute(
                        "UPDATE email_outbox SET last_error = $3 WHERE crn = $1 AND kind = $2",
                        req.crn, req.kind, f"failed (not retried): {err}"[:1000])
                raise ApplicationError(str(err), type=type(err).__name__,
                                       non_retryable=True) from err
            raise

    async def _send_once(self, req: EmailRequest) -> EmailReceipt:
        row = await self._outbox_row(req)
        receipt = (EmailReceipt(status="sent", subject=row["subject"], body=row["body"])
                   if req.with_body else EmailReceipt(status="sent"))
        if row["sent_at"] is not None:
            return receipt.model_copy(update={"status": "already sent"})
        automatic = req.template not in WRITTEN_BY_PEOPLE
        if automatic and await self._over_automatic_limit(req, row):
            return receipt.model_copy(update={"status": "suppressed"})
        if req.template == "acknowledgement" and row["inbound_dmarc"] == "fail":
            # The From domain says this message is not its own: no answer to that address.
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE email_outbox SET last_error = $2 WHERE id = $1", row["id"],
                    "suppressed: the sender failed DMARC (not answered)")
            return receipt.model_copy(update={"status": "suppressed"})
        headers = {"X-Complaint-Reference": req.crn, "X-Complaint-Message-Kind": req.kind,
                   "Reply-To": self.support_address}
        if automatic:
            headers["Auto-Submitted"] = "auto-generated"
        html_part = None
        if req.template in CUSTOMER_TEMPLATES:
            headers.update(self._thread_headers(row))
            html_part = text_to_html(row["body"], f"{self.links.public_url}/c/"
                                     if self.links.enabled else None)
        msg = compose(self.mail_from, row, row["body"], headers, html_part)
        try:
            await self.smtp.send(msg)
        except Exception as err:
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE email_outbox SET last_error = $2 WHERE id = $1", row["id"], str(err)
                )
            raise  # Temporal retries with backoff; the stored message goes out when SMTP is back
        # A worker dying between SMTP's "250" and this row is the one case a retry resends
        # (same Message-ID), so nothing else comes between them.
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE email_outbox SET sent_at = now(), last_error = NULL WHERE id = $1",
                row["id"],
            )
        _counter(EMAILS_SENT, "emails SMTP accepted, by message kind").add(
            1, {"kind": message_kind(req.kind)})
        # No addresses in logs (docs/security.md): the outbox row has them.
        activity.logger.info("email %s sent to %d recipient(s)", req.kind, len(req.to))
        return receipt

    @staticmethod
    def _thread_headers(row: asyncpg.Record) -> dict[str, str]:
        """One thread per complaint in the customer's mail client: every email answers the
        customer's first message, or, when the complaint did not come by email, our first
        (both read with the outbox row)."""
        root = row["inbound_root"] or row["outbox_root"]
        return {"In-Reply-To": root, "References": root} if root else {}

    async def _over_automatic_limit(self, req: EmailRequest, row: asyncpg.Record) -> bool:
        """An automatic email for a complaint that came by email, to an address that already
        had AUTOMATIC_PER_HOUR of them this hour: not sent (the outbox row says why)."""
        if row["last_error"] and row["last_error"].startswith("suppressed"):
            return True
        if row["inbound_root"] is None:  # the complaint did not come by email
            return False
        async with self.pool.acquire() as conn:
            recent = await conn.fetchval(
                """SELECT count(*) FROM email_outbox o
                    WHERE o.recipients && $1::text[] AND o.sent_at > now() - interval '1 hour'
                      AND split_part(o.kind, ':', 1) <> ALL($2::text[])
                      AND EXISTS (SELECT 1 FROM inbound_messages i WHERE i.crn = o.crn)""",
                req.to, list(WRITTEN_BY_PEOPLE))
            if recent < AUTOMATIC_PER_HOUR:
                return False
            await conn.execute(
                "UPDATE email_outbox SET last_error = $2 WHERE id = $1", row["id"],
                f"suppressed: {AUTOMATIC_PER_HOUR} automatic emails to {', '.join(req.to)} "
                "within the hour")
            return True

    async def _outbox_row(self, req: EmailRequest) -> asyncpg.Record:
        """The stored message, counting this attempt: one statement. A retry renders again
        (the same input gives the same text) but keeps what the first attempt stored."""
        links = self.links.for_email(req.crn, req.template, req.kind)
        subject, body = self.renderer.render(req.template, {**req.context, "links": links},
                                             req.language)
        domain = self.mail_from.rpartition("@")[2].strip("> ") or "complaints.local"
        # 128 random bits, kept by the first attempt (every retry sends the stored one): a
        # reply naming it proves it answers what we sent, which the CRN alone never did.
        message_id = f"<{secrets.token_hex(16)}@{domain}>"
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(
                """INSERT INTO email_outbox
                       (crn, kind, recipients, subject, body, message_id, attempts)
                   VALUES ($1, $2, $3, $4, $5, $6, 1)
                   ON CONFLICT (crn, kind) DO UPDATE SET attempts = email_outbox.attempts + 1
                   RETURNING *,
                       -- What threading and the automatic-mail cap read, in the same trip:
                       -- the customer's first message, else our first one to the customer.
                       (SELECT i.message_id FROM inbound_messages i WHERE i.crn = $1
                         ORDER BY i.received_at LIMIT 1) AS inbound_root,
                       (SELECT i.dmarc FROM inbound_messages i WHERE i.crn = $1
                         ORDER BY i.received_at LIMIT 1) AS inbound_dmarc,
                       (SELECT o.message_id FROM email_outbox o WHERE o.crn = $1
                           AND o.kind <> $2 AND split_part(o.kind, ':', 1) = ANY($7::text[])
                         ORDER BY o.id LIMIT 1) AS outbox_root""",
                req.crn, req.kind, req.to, subject, body, message_id, list(CUSTOMER_TEMPLATES),
            )
