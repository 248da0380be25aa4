"""The agent's desk over HTTP (docs/desk.md): a complaint's conversation, a customer
email's full original, an attachment as a download, and the canned replies.

Whoever may read a complaint (a staff key) may read its messages and attachments; only
the head of customer success keeps the canned replies.
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel

from database import conversation as talk
from database.records import complaint_file, roster
from mail.original import read_original
from starter.api.bodies import strict_body
from starter.api.complaints import Crn, complaint_state
from starter.api.deps import AppSettings, Database, Staff, Temporal
from starter.api.errors import ApiError, FieldProblem, forbidden, invalid, responses
from starter.desk import REPLY_KEEPERS, attachment_response, filled

router = APIRouter(tags=["desk"])
ONE_LINE = frozenset({("name",)})  # a reply's name is one line; its body any text but NUL

Ref = Annotated[str, Path(description="the customer email's ref, as the conversation gives it",
                          pattern=r"^[0-9a-f]{24}$")]


class OriginalEmail(BaseModel):
    subject: str
    sender: str
    date: str
    text: str
    html: str | None  # sanitised (no script, no style, no image or other remote content)


class FilledReply(BaseModel):
    name: str
    text: str


@router.get("/complaints/{crn}/messages", operation_id="complaint_messages",
            summary="A complaint's conversation: every message in and out, oldest first",
            description="The customer's emails (the reply as recorded: quotes and signature "
            "stripped; the full original at .../messages/{ref}/original), our emails to the "
            "customer as rendered, with their delivery state (queued, sent, failed with the "
            "reason, held back), and the internal notes.",
            responses=responses(401, 403, 404, 503))
async def messages(crn: Crn, principal: Staff, client: Temporal,
                   pool: Database) -> list[talk.ConversationMessage]:
    await complaint_state(client, crn)
    return await talk.conversation(pool, crn)


@router.get("/complaints/{crn}/messages/{ref}/original", operation_id="original_message",
            summary="A customer email in full: its whole text and its HTML, sanitised",
            responses=responses(401, 403, 404, 503))
async def original(crn: Crn, ref: Ref, principal: Staff, client: Temporal,
                   pool: Database) -> OriginalEmail:
    await complaint_state(client, crn)
    raw = await talk.customer_message(pool, crn, ref)
    if raw is None:
        raise ApiError(404, "not_found", f"complaint {crn} has no email {ref}")
    found = await asyncio.to_thread(read_original, raw)
    return OriginalEmail(subject=found.subject, sender=found.sender, date=found.date,
                         text=found.text, html=found.html)


@router.get("/complaints/{crn}/attachments/{ref}/{n}", operation_id="attachment",
            summary="An attachment of a customer email, as a download (never rendered)",
            response_class=Response,
            responses={**responses(401, 403, 404, 503), 200: {
                "description": "the file, with the type it came with",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
async def attachment(crn: Crn, ref: Ref, n: Annotated[int, Path(ge=0, le=10_000)],
                     principal: Staff, client: Temporal, pool: Database) -> Response:
    await complaint_state(client, crn)
    found = await talk.attachment(pool, crn, ref, n)
    if found is None:
        raise ApiError(404, "not_found", f"complaint {crn} has no attachment {ref}/{n}")
    if found.content is None:
        raise ApiError(404, "not_found", f"attachment {ref}/{n} was over the size bound when "
                       "it came: only its name, type and size were kept")
    return attachment_response(found)


@router.get("/replies", operation_id="list_replies", summary="The canned replies",
            responses=responses(401, 403))
async def list_replies(principal: Staff, pool: Database) -> list[talk.CannedReply]:
    return await talk.canned_replies(pool)


@router.post("/replies", operation_id="save_reply", status_code=201,
             summary="Add (or replace) a canned reply (the head of customer success)",
             description="Placeholders: {customer_name}, {crn}, {owner}, {next_deadline}, "
             "{order}; the reply box fills them in for the complaint.",
             responses=responses(401, 403, 422))
async def save_reply(body: talk.CannedReply,
                     strict: Annotated[BaseModel, strict_body(talk.CannedReply, ONE_LINE)],
                     principal: Staff, pool: Database) -> talk.CannedReply:
    _keeper(principal)
    reply = talk.CannedReply.model_validate(strict.model_dump())
    try:
        await talk.save_canned_reply(pool, reply, principal.staff.id)  # type: ignore[union-attr]
    except talk.UnknownPlaceholder as err:
        raise invalid([FieldProblem(location="body", field="body", message=str(err))]) from None
    return reply


@router.delete("/replies/{name}", operation_id="remove_reply", status_code=204,
               summary="Remove a canned reply (the head of customer success)",
               response_class=Response, responses=responses(401, 403, 404))
async def remove_reply(name: Annotated[str, Path(max_length=100)], principal: Staff,
                       pool: Database) -> Response:
    _keeper(principal)
    if not await talk.remove_canned_reply(pool, name):
        raise ApiError(404, "not_found", f"no canned reply {name!r}")
    return Response(status_code=204)


@router.get("/complaints/{crn}/replies/{name}", operation_id="fill_reply",
            summary="A canned reply filled in for this complaint (to edit, then send)",
            responses=responses(401, 403, 404, 503))
async def fill_reply(crn: Crn, name: Annotated[str, Path(max_length=100)], principal: Staff,
                     client: Temporal, pool: Database, settings: AppSettings) -> FilledReply:
    s = await complaint_state(client, crn)
    reply = next((r for r in await talk.canned_replies(pool) if r.name == name), None)
    if reply is None:
        raise ApiError(404, "not_found", f"no canned reply {name!r}")
    file = await complaint_file(pool, crn, s.customer_id)
    staff = {m.id: m for m in await roster(pool)}
    return FilledReply(name=name, text=filled(reply.body, s, file, staff,
                                              settings.policy().calendar))


def _keeper(principal: Staff) -> None:
    if principal.staff is None or principal.staff.role not in REPLY_KEEPERS:
        raise forbidden("only the head of customer success keeps the canned replies")
