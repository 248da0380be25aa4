"""The email channel's tables (migration 0007): inbound messages as the gateway stored them,
their attachments, and the customer links that were used. The mail gateway, the customer
pages and `complaints inbound` (starter/) reach them only through these functions.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg

# Outbox kinds written to the customer (what their status page lists as "we wrote").
CUSTOMER_EMAILS = ("acknowledgement", "personal_acknowledgement", "customer_update",
                   "solution_proposal", "refund_applied", "sign_off_request",
                   "resolution_notice", "survey", "survey_reminder", "sign_off_confirm",
                   "follow_up_started")


async def store_inbound(pool: asyncpg.Pool, message_id: str, envelope_from: str,
                        raw: bytes, verdict: Any = None, peer_ip: str | None = None,
                        helo: str | None = None, from_address: str | None = None,
                        suspended: str | None = None) -> bool:
    """Keep the message whole, with what the gateway knew of its sender (`verdict`, an
    mail.auth.Verdict); False when this Message-ID was stored before. A suspended
    message is stored as processed (`suspended`): nothing starts it until a person releases it."""
    async with pool.acquire() as conn:
        stored = await conn.fetchval(
            """INSERT INTO inbound_messages
                   (message_id, envelope_from, raw, size, peer_ip, helo, from_address,
                    authenticated, dmarc, dmarc_policy, auth_reason, suspended,
                    outcome, detail, started_at, processed_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text,
                       CASE WHEN $12::text IS NULL THEN NULL ELSE 'suspended' END, $12::text,
                       CASE WHEN $12::text IS NULL THEN NULL ELSE now() END,
                       CASE WHEN $12::text IS NULL THEN NULL ELSE now() END)
               ON CONFLICT (message_id) DO NOTHING
               RETURNING true""", message_id, envelope_from, raw, len(raw), peer_ip, helo,
            from_address, bool(verdict and verdict.authenticated),
            verdict.dmarc if verdict else "unchecked", verdict.policy if verdict else None,
            verdict.reason if verdict else None, suspended)
    return bool(stored)


async def unknown_sender_count(pool: asyncpg.Pool, address: str) -> int | None:
    """Messages from `address` in the last hour, or None when it is a known customer's (one
    the CRM seeded; a record the email channel made from a sender's first message is not)."""
    async with pool.acquire() as conn:
        return await conn.fetchval(
            """SELECT CASE WHEN EXISTS (SELECT 1 FROM customers WHERE lower(email) = $1
                                          AND id NOT LIKE 'email-%')
                           THEN NULL
                           ELSE (SELECT count(*) FROM inbound_messages
                                  WHERE from_address = $1
                                    AND received_at > now() - interval '1 hour') END""",
            address.lower())


async def list_suspended(pool: asyncpg.Pool, limit: int = 100) -> list[dict[str, Any]]:
    """Messages held aside (spam, a DMARC policy, an unknown sender's rate), newest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT message_id, received_at, from_address, subject, size, suspended,
                      authenticated, dmarc, dmarc_policy, auth_reason, peer_ip
                 FROM inbound_messages WHERE outcome = 'suspended'
                ORDER BY received_at DESC LIMIT $1""", limit)
    return [dict(r) for r in rows]


async def decide_suspended(pool: asyncpg.Pool, message_id: str, release: bool,
                           by: str) -> bool:
    """Release (processed as if it had just arrived: the gateway's sweep or the caller
    starts it) or reject a suspended message; False when it is not suspended."""
    async with pool.acquire() as conn:
        if release:
            done = await conn.fetchval(
                """UPDATE inbound_messages
                      SET outcome = NULL, processed_at = NULL, started_at = NULL,
                          detail = 'released by ' || $2 || ' (' || suspended || ')'
                    WHERE message_id = $1 AND outcome = 'suspended' RETURNING true""",
                message_id, by)
        else:
            done = await conn.fetchval(
                """UPDATE inbound_messages
                      SET outcome = 'rejected', processed_at = now(),
                          detail = 'rejected by ' || $2 || ' (' || suspended || ')'
                    WHERE message_id = $1 AND outcome = 'suspended' RETURNING true""",
                message_id, by)
    return bool(done)


async def unstarted(pool: asyncpg.Pool, older_than: timedelta = timedelta(0),
                    limit: int = 100) -> list[str]:
    """Stored messages whose processing was never started (the gateway died, Temporal was
    away), oldest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT message_id FROM inbound_messages
                WHERE started_at IS NULL AND received_at <= now() - $1::interval
                ORDER BY received_at LIMIT $2""", older_than, limit)
    return [r["message_id"] for r in rows]


async def mark_started(pool: asyncpg.Pool, message_id: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute("UPDATE inbound_messages SET started_at = coalesce(started_at, now()) "
                           "WHERE message_id = $1", message_id)


async def list_inbound(pool: asyncpg.Pool, failed_only: bool = False,
                       limit: int = 50) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT message_id, received_at, processed_at, outcome, detail, crn, from_address,
                      subject, size, envelope_from, authenticated, dmarc, flag
                 FROM inbound_messages
                WHERE NOT $1 OR outcome = 'failed'
                ORDER BY received_at DESC LIMIT $2""", failed_only, limit)
    return [dict(r) for r in rows]


async def messages_exchanged(pool: asyncpg.Pool, crn: str) -> list[dict[str, Any]]:
    """What the customer wrote (as recorded) and what we wrote to them, oldest first."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT received_at AS at, 'customer' AS by, subject, body
                 FROM inbound_messages
                WHERE crn = $1 AND outcome IN ('new_complaint', 'reply', 'sign_off', 'sign_off_link',
                                               'reopened')
               UNION ALL
               SELECT sent_at AS at, 'us' AS by, subject, body
                 FROM email_outbox
                WHERE crn = $1 AND sent_at IS NOT NULL
                  AND split_part(kind, ':', 1) = ANY($2::text[])
                ORDER BY at""", crn, list(CUSTOMER_EMAILS))
    return [dict(r) for r in rows]


async def claim_link(pool: asyncpg.Pool, crn: str, question: str, email: str,
                     answer: dict[str, Any]) -> bool:
    """Record that a link is being used; False when it was used before."""
    async with pool.acquire() as conn:
        claimed = await conn.fetchval(
            """INSERT INTO customer_link_uses (crn, question, email, answer)
               VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING true""",
            crn, question, email, json.dumps(answer))
    return bool(claimed)


async def release_link(pool: asyncpg.Pool, crn: str, question: str, email: str) -> None:
    """The complaint refused the answer: the link may be used again (nothing changed)."""
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM customer_link_uses WHERE crn = $1 AND question = $2 "
                           "AND email = $3", crn, question, email)


async def link_used(pool: asyncpg.Pool, crn: str, question: str, email: str) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval(
            "SELECT true FROM customer_link_uses WHERE crn = $1 AND question = $2 AND email = $3",
            crn, question, email))


async def staff_name(pool: asyncpg.Pool, staff_id: str | None) -> str | None:
    if not staff_id:
        return None
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT name FROM staff WHERE id = $1", staff_id)
