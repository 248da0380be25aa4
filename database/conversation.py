"""A complaint's conversation, read from PostgreSQL: what the customer wrote (the inbound
messages the mail gateway stored), what we wrote to them (the outbox, as rendered and
sent), and the internal notes, in order; the full original of a customer's email, an
attachment's bytes; and the canned replies the reply box offers (docs/desk.md).

Bodies live here, never in the workflow's history: the complaint's timeline names a note
by its id, an email by its outbox kind.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Literal

import asyncpg
from pydantic import BaseModel, Field

# Outbox states, in the team's words.
Delivery = Literal["queued", "sent", "failed", "held back"]
# Placeholders a canned reply may use ({name}); filled in from the complaint.
PLACEHOLDERS = ("customer_name", "crn", "owner", "next_deadline", "order")
_PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")


def message_ref(message_id: str) -> str:
    """A customer email's id in URLs: a digest of its Message-ID (which holds <, > and @)."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:24]


class AttachmentLine(BaseModel):
    n: int
    filename: str | None
    content_type: str
    size: int
    stored: bool  # False: over the size bound when it came (its name, type and size only)


class ConversationMessage(BaseModel):
    """One message of the conversation."""

    kind: Literal["customer", "ours", "note"]
    id: str  # customer: the message's ref; ours: the outbox id; note: the note id
    at: datetime
    by: str  # the sender's address, "us" (our email), or the note's author (roster id)
    to: list[str] = Field(default_factory=list)
    subject: str = ""
    text: str  # customer: the reply as recorded (quotes and signature stripped)
    delivery: Delivery | None = None  # ours
    reason: str | None = None  # ours: why it failed or waits; customer: what became of it
    outcome: str | None = None  # customer: new_complaint, reply, sign_off, ignored, ...
    mentions: list[str] = Field(default_factory=list)  # note
    attachments: list[AttachmentLine] = Field(default_factory=list)  # customer


def delivery_of(sent_at: datetime | None, last_error: str | None) -> tuple[Delivery, str | None]:
    """An outbox row's state: sent; failed (never retried: its template or a header is
    broken); held back (the hourly cap, a sender that failed DMARC); or queued (with the
    last attempt's error while SMTP retries)."""
    if sent_at is not None:
        return "sent", None
    if last_error and last_error.startswith("failed"):
        return "failed", last_error
    if last_error and last_error.startswith("suppressed"):
        return "held back", last_error
    return "queued", last_error


async def conversation(pool: asyncpg.Pool, crn: str) -> list[ConversationMessage]:
    """Every message in and out of the complaint, oldest first (a held-aside message that
    was never processed is not part of it). Our emails to staff are not: the outbox rows
    whose every recipient is on the roster."""
    async with pool.acquire() as conn:
        inbound = await conn.fetch(
            """SELECT message_id, received_at, from_address, envelope_from, subject, body,
                      outcome, detail
                 FROM inbound_messages WHERE crn = $1 AND processed_at IS NOT NULL
                ORDER BY received_at, message_id""", crn)
        files = await conn.fetch(
            """SELECT message_id, n, filename, content_type, size, content IS NOT NULL AS stored
                 FROM inbound_attachments
                WHERE message_id = ANY($1::text[]) ORDER BY message_id, n""",
            [r["message_id"] for r in inbound])
        outbox = await conn.fetch(
            """SELECT id, created_at, recipients, subject, body, sent_at, last_error
                 FROM email_outbox
                WHERE crn = $1
                  AND NOT recipients <@ (SELECT coalesce(array_agg(email), '{}') FROM staff)
                ORDER BY created_at, id""", crn)
        notes = await conn.fetch(
            "SELECT id, created_at, author, body, mentions FROM notes WHERE crn = $1 "
            "ORDER BY id", crn)
    by_message: dict[str, list[AttachmentLine]] = {}
    for f in files:
        by_message.setdefault(f["message_id"], []).append(AttachmentLine(
            n=f["n"], filename=f["filename"], content_type=f["content_type"], size=f["size"],
            stored=f["stored"]))
    messages = [ConversationMessage(
        kind="customer", id=message_ref(r["message_id"]), at=r["received_at"],
        by=r["from_address"] or r["envelope_from"] or "(unknown sender)",
        subject=r["subject"] or "", text=r["body"] or "", outcome=r["outcome"],
        reason=r["detail"], attachments=by_message.get(r["message_id"], []))
        for r in inbound]
    for r in outbox:
        delivery, reason = delivery_of(r["sent_at"], r["last_error"])
        messages.append(ConversationMessage(
            kind="ours", id=str(r["id"]), at=r["created_at"], by="us",
            to=list(r["recipients"]), subject=r["subject"], text=r["body"],
            delivery=delivery, reason=reason))
    messages += [ConversationMessage(kind="note", id=str(r["id"]), at=r["created_at"],
                                     by=r["author"], text=r["body"],
                                     mentions=list(r["mentions"])) for r in notes]
    return sorted(messages, key=lambda m: m.at)


async def customer_message(pool: asyncpg.Pool, crn: str, ref: str) -> bytes | None:
    """The raw bytes of one of the complaint's customer emails, by its ref; None if the
    complaint has no such message."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT message_id, raw FROM inbound_messages WHERE crn = $1", crn)
    return next((bytes(r["raw"]) for r in rows if message_ref(r["message_id"]) == ref), None)


class StoredAttachment(BaseModel):
    filename: str | None
    content_type: str
    content: bytes | None  # None: it was over the size bound, only its name was kept


async def attachment(pool: asyncpg.Pool, crn: str, ref: str, n: int) -> StoredAttachment | None:
    """One attachment of one of the complaint's customer emails; None if there is none."""
    async with pool.acquire() as conn:
        ids = await conn.fetch("SELECT message_id FROM inbound_messages WHERE crn = $1", crn)
        message_id = next((r["message_id"] for r in ids if message_ref(r["message_id"]) == ref),
                          None)
        if message_id is None:
            return None
        row = await conn.fetchrow(
            "SELECT filename, content_type, content FROM inbound_attachments "
            "WHERE message_id = $1 AND n = $2", message_id, n)
    if row is None:
        return None
    return StoredAttachment(filename=row["filename"], content_type=row["content_type"],
                            content=bytes(row["content"]) if row["content"] is not None else None)


# --- canned replies ---------------------------------------------------------------------


class CannedReply(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    body: str = Field(min_length=1, max_length=20_000, pattern=r"^[^\x00]+$")


class UnknownPlaceholder(ValueError):
    """A canned reply names a placeholder the reply box cannot fill."""


def check_placeholders(body: str) -> None:
    unknown = sorted({p for p in _PLACEHOLDER.findall(body) if p not in PLACEHOLDERS})
    if unknown:
        raise UnknownPlaceholder(
            f"unknown placeholder{'s' if len(unknown) > 1 else ''} "
            f"{', '.join('{' + p + '}' for p in unknown)}; a reply may use "
            f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}")


def fill(body: str, values: dict[str, str]) -> str:
    """The reply with its placeholders filled in (an unknown one is left as written)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


async def canned_replies(pool: asyncpg.Pool) -> list[CannedReply]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT name, body FROM reply_templates ORDER BY name")
    return [CannedReply(name=r["name"], body=r["body"]) for r in rows]


async def save_canned_reply(pool: asyncpg.Pool, reply: CannedReply, by: str) -> None:
    """Add a canned reply, or replace the one of that name."""
    check_placeholders(reply.body)
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO reply_templates (name, body, created_by) VALUES ($1, $2, $3)
               ON CONFLICT (name) DO UPDATE SET body = EXCLUDED.body,
                   created_by = EXCLUDED.created_by, created_at = now()""",
            reply.name, reply.body, by)


async def remove_canned_reply(pool: asyncpg.Pool, name: str) -> bool:
    async with pool.acquire() as conn:
        status = await conn.execute("DELETE FROM reply_templates WHERE name = $1", name)
    return status.endswith(" 1")
