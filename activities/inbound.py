"""The inbound side of the email channel: read a stored message, thread it, and act on it
as the customer (the activities of InboundMessageWorkflow, workflows/inbound.py).

Threading (README.md, "Complaints by email"): `In-Reply-To`/`References` naming a message
of a complaint (one the product sent, or one it received), or else a `[CRN-…]` subject
token; either only when the sender's address is that complaint's customer's (case-insensitively). A Message-ID of ours
from before they were random (`<CRN-….kind@domain>`, guessable) threads only when the
sender is also authenticated. Otherwise it is a new complaint from the sender (found by
address, case-insensitively, or a new customer record).

What a reply may do depends on what it proves (docs/security.md, "Email you can trust"):
from an authenticated sender a written sign-off counts; from any other it is recorded as an
unauthenticated reply, and a sign-off is answered with a one-use link that then counts.
"""

from __future__ import annotations

import hashlib
import re

import asyncpg
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.inbound_metrics import count_inbound_message
from mail.parsing import ParsedMessage, Unparseable, clean, parse_isolated
from workflows import activity_types
from workflows.complaint import ComplaintWorkflow
from workflows.complaint.presentation import attachment_list
from workflows.inbound import inbound_workflow_id
from workflows.messages import InboundDecision, InboundOutcome
from workflows.models import (
    MAX_TEXT_BYTES,
    AttachmentInfo,
    ComplaintIntake,
    CustomerResponse,
    ResolutionConfirmation,
    complaint_reference,
)
from workflows.permissions import customer_actor


def _bounded(text: str, limit: int = MAX_TEXT_BYTES - 1024) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore") + "\n[…]"


def _attachments(parsed: ParsedMessage) -> list[AttachmentInfo]:
    return [AttachmentInfo(filename=a.filename, content_type=a.content_type, size=a.size)
            for a in parsed.attachments]


def _with_attachments(text: str, parsed: ParsedMessage) -> str:
    """A reply's text as recorded: its files listed first, so the timeline shows them."""
    if not parsed.attachments:
        return text
    return f"[attachments: {attachment_list(_attachments(parsed))}]\n\n{text}"


# The Message-IDs the product wrote before they were random: a CRN anyone can learn.
LEGACY_ID = re.compile(r"^<CRN-[A-Z2-7]{10}\.")
# A message's parsing and reply stripping get this long in their own process (then the
# message is read again without stripping, and flagged).
PARSE_LIMIT = 20.0


def _unfixable(err: Exception) -> ApplicationError:
    """What a retry cannot mend (the data itself): the message ends `failed` with the reason."""
    return ApplicationError(f"{type(err).__name__}: {err}", type=type(err).__name__,
                            non_retryable=True)


class InboundActivities(activity_types.InboundActivities):
    def __init__(self, pool: asyncpg.Pool, client: Client,
                 parse_limit: float = PARSE_LIMIT) -> None:
        self.pool, self.client, self.parse_limit = pool, client, parse_limit

    @activity.defn
    async def read_inbound(self, message_id: str) -> InboundDecision:
        try:
            return await self._read_inbound(message_id)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError,
                UnicodeError) as err:
            # PostgreSQL refused the data (a NUL, an invalid value): never better on a retry.
            raise _unfixable(err) from err

    async def _read_inbound(self, message_id: str) -> InboundDecision:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT raw, envelope_from, received_at, authenticated FROM inbound_messages "
                "WHERE message_id = $1", message_id)
        if row is None:
            return InboundDecision(message_id=message_id, kind="failed",
                                   detail="no such stored message")
        try:
            parsed = await parse_isolated(bytes(row["raw"]), row["envelope_from"],
                                          self.parse_limit)
        except Unparseable as err:
            return InboundDecision(message_id=message_id, kind="failed", detail=str(err))
        await self._keep(message_id, parsed)
        if parsed.automatic:
            return InboundDecision(message_id=message_id, kind="ignored",
                                   detail=f"automatic mail ({parsed.automatic}): not answered")
        text = _bounded(parsed.text or "(no text)")
        authenticated = bool(row["authenticated"])
        crn = await self._thread(parsed, authenticated)
        if crn is not None:
            await self._set_crn(message_id, crn)
            return InboundDecision(message_id=message_id, kind="reply", crn=crn,
                                   text=_bounded(_with_attachments(text, parsed)),
                                   confirms_resolution=parsed.confirms_resolution
                                   and not parsed.flag, authenticated=authenticated)
        try:
            intake = ComplaintIntake(
                source="email", external_ref=message_id,
                customer=await self._customer(parsed),
                subject=(parsed.subject or "(no subject)")[:500],
                description=text, received_at=row["received_at"],
                attachments=_attachments(parsed)[:200], language=parsed.language or None)
        except ValidationError as err:
            return InboundDecision(message_id=message_id, kind="failed",
                                   detail=f"not a valid complaint: {err.errors()[0]['msg']}")
        crn = complaint_reference("email", message_id)
        await self._set_crn(message_id, crn)
        return InboundDecision(message_id=message_id, kind="new_complaint", crn=crn,
                               customer_id=intake.customer.id, text=text, intake=intake,
                               authenticated=authenticated)

    async def _keep(self, message_id: str, parsed: ParsedMessage) -> None:
        """What was read, on the row; the attachments beside it (a retry writes nothing twice)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE inbound_messages SET from_address = $2, subject = $3, body = $4, "
                "flag = nullif($5, '') WHERE message_id = $1", message_id, parsed.from_address,
                parsed.subject, parsed.text, parsed.flag)
            for n, a in enumerate(parsed.attachments, 1):
                await conn.execute(
                    """INSERT INTO inbound_attachments
                           (message_id, n, filename, content_type, size, inline, content)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
                    message_id, n, a.filename, a.content_type, a.size, a.inline, a.content)

    async def _set_crn(self, message_id: str, crn: str) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute("UPDATE inbound_messages SET crn = $2 WHERE message_id = $1",
                               message_id, crn)

    async def _thread(self, parsed: ParsedMessage, authenticated: bool) -> str | None:
        """The complaint this message answers, if its sender is that complaint's customer;
        a complaint dismissed as a duplicate hands its mail on to the original."""
        crn = await self._answered(parsed, authenticated)
        async with self.pool.acquire() as conn:
            for _ in range(5):  # a duplicate of a duplicate, a few deep at most
                original = await conn.fetchval(
                    "SELECT duplicate_of FROM complaints WHERE crn = $1 AND outcome = 'dismissed'",
                    crn) if crn else None
                if original is None:
                    break
                crn = original
        return crn

    async def _answered(self, parsed: ParsedMessage, authenticated: bool) -> str | None:
        async with self.pool.acquire() as conn:
            if parsed.references:
                known = await conn.fetch(
                    """SELECT known.crn, known.message_id, c.customer_email FROM (
                         SELECT crn, message_id FROM email_outbox WHERE message_id = ANY($1)
                         UNION ALL
                         SELECT crn, message_id FROM inbound_messages
                          WHERE message_id = ANY($1) AND crn IS NOT NULL) known
                       LEFT JOIN complaints c ON c.crn = known.crn
                        ORDER BY array_position($1, known.message_id)""",
                    parsed.references)
                for ref in known:
                    if (ref["customer_email"] or "").lower() != parsed.from_address:
                        continue  # someone else's complaint: not theirs to write into
                    if LEGACY_ID.match(ref["message_id"]) and not authenticated:
                        continue  # a guessable id proves nothing by itself
                    return ref["crn"]
            if parsed.crn_token:
                # Only the complaint's own customer may attach mail to it by its number.
                owner_email = await conn.fetchval(
                    "SELECT customer_email FROM complaints WHERE crn = $1", parsed.crn_token)
                if owner_email and owner_email.lower() == parsed.from_address:
                    return parsed.crn_token
        return None

    async def _customer(self, parsed: ParsedMessage) -> dict[str, str]:
        """The customer with this address, or a new customer record made from the sender."""
        async with self.pool.acquire() as conn:
            known = await conn.fetchrow(
                "SELECT id, name FROM customers WHERE lower(email) = $1 ORDER BY id LIMIT 1",
                parsed.from_address)
            if known is not None:
                return {"id": known["id"], "name": known["name"], "email": parsed.from_address}
            new_id = "email-" + hashlib.sha256(parsed.from_address.encode()).hexdigest()[:12]
            name = (parsed.from_name or parsed.from_address)[:500]
            # Their mail's language becomes their profile's (their next complaint by phone
            # is written to in it too).
            await conn.execute("INSERT INTO customers (id, name, email, language) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                               new_id, name, parsed.from_address, parsed.language or None)
        return {"id": new_id, "name": name, "email": parsed.from_address}

    @activity.defn
    async def deliver_reply(self, decision: InboundDecision) -> InboundOutcome:
        assert decision.crn is not None
        handle = self.client.get_workflow_handle(decision.crn)
        done = InboundOutcome(message_id=decision.message_id, outcome="reply", crn=decision.crn)
        try:
            state = await handle.query(ComplaintWorkflow.status)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return done.model_copy(update={"outcome": "refused",
                                           "detail": "the complaint is archived"})
        actor = customer_actor(state.customer_id)
        # The update's id derives from the message: a retried activity applies it once.
        base = inbound_workflow_id(decision.message_id)
        if decision.confirms_resolution and not decision.authenticated:
            # Email cannot prove who wrote this: recorded as a reply, and the customer's own
            # address gets a one-use link to confirm on the sign-off page.
            recorded = await self._record_reply(handle, decision, actor, base)
            if recorded.outcome == "refused":
                return recorded
            async with self.pool.acquire() as conn:
                customer = await conn.fetchrow(
                    "SELECT customer_email, customer_name FROM complaints WHERE crn = $1",
                    decision.crn)
            if customer is None or not customer["customer_email"]:
                return recorded
            return recorded.model_copy(update={
                "outcome": "sign_off_link", "confirm_to": customer["customer_email"],
                "customer_name": customer["customer_name"], "language": state.language,
                "detail": "an unauthenticated sign-off: a link to confirm it was sent"})
        if decision.confirms_resolution:
            try:
                await handle.execute_update(
                    ComplaintWorkflow.confirm_resolution,
                    ResolutionConfirmation(actor=actor, confirmation_text=decision.text),
                    id=f"{base}-sign-off")
                return done.model_copy(update={"outcome": "sign_off"})
            except WorkflowUpdateFailedError:
                pass  # not awaiting the sign-off: it is a plain reply
        return await self._record_reply(handle, decision, actor, base)

    async def _record_reply(self, handle: WorkflowHandle, decision: InboundDecision,
                            actor: str, base: str) -> InboundOutcome:
        """The message as the customer's reply in the timeline (marked when unauthenticated)."""
        assert decision.crn is not None
        done = InboundOutcome(message_id=decision.message_id, outcome="reply", crn=decision.crn)
        try:
            await handle.execute_update(
                ComplaintWorkflow.record_customer_response,
                CustomerResponse(actor=actor, agrees=None, message=decision.text,
                                 authenticated=None if decision.authenticated else False),
                id=f"{base}-reply")
        except WorkflowUpdateFailedError as err:
            reason = getattr(err.cause, "message", None) or str(err.cause or err)
            return done.model_copy(update={"outcome": "refused", "detail": reason})
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return done.model_copy(update={"outcome": "refused",
                                           "detail": "the complaint is archived"})
        return done

    @activity.defn
    async def record_inbound_outcome(self, outcome: InboundOutcome) -> None:
        """The outcome on the message's row, then counted (complaints_inbound_messages_total)."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                """UPDATE inbound_messages
                      SET processed_at = coalesce(processed_at, now()), outcome = $2,
                          detail = $3, crn = coalesce($4, crn)
                    WHERE message_id = $1""",
                outcome.message_id, outcome.outcome, clean(outcome.detail), outcome.crn)
        count_inbound_message(outcome.outcome)
