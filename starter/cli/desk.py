"""`complaints messages` and `complaints replies`: the agent's desk on the command line.

    complaints messages CRN [--json]     the conversation: the customer's emails, ours to
                                         them (with their delivery state), internal notes
    complaints replies list [--json]     the canned replies
    complaints replies add NAME --actor ID (--text T | --file F|-)
                                         add (or replace) one: the head of customer success
    complaints replies remove NAME --actor ID
"""

from __future__ import annotations

import argparse
import json

from pydantic import ValidationError

from database import conversation as talk
from database.pool import Pool, create_pool
from database.records import roster
from settings import Settings, connect
from starter.cli.usage import UsageError, read_text
from starter.desk import REPLY_KEEPERS
from starter.operations import get_status


def add_desk_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("messages", help="a complaint's conversation, oldest first")
    p.add_argument("crn")
    p.add_argument("--json", action="store_true", help="as GET /complaints/{crn}/messages")
    p.set_defaults(func=cmd_messages)
    replies = sub.add_parser("replies", help="the canned replies of the reply box")
    rsub = replies.add_subparsers(dest="replies_command", required=True)
    p = rsub.add_parser("list", help="every canned reply")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replies_list)
    p = rsub.add_parser("add", help="add (or replace) a canned reply")
    p.add_argument("name")
    p.add_argument("--actor", required=True, help="the head of customer success's roster id")
    text = p.add_mutually_exclusive_group(required=True)
    text.add_argument("--text", help="the reply; placeholders: " + ", ".join(
        "{" + n + "}" for n in talk.PLACEHOLDERS).replace("%", "%%"))
    text.add_argument("--file", help="the reply read from a file (- for stdin)")
    p.set_defaults(func=cmd_replies_add)
    p = rsub.add_parser("remove", help="remove a canned reply")
    p.add_argument("name")
    p.add_argument("--actor", required=True, help="the head of customer success's roster id")
    p.set_defaults(func=cmd_replies_remove)


async def cmd_messages(args: argparse.Namespace, settings: Settings) -> None:
    await get_status(await connect(settings), args.crn)  # ComplaintNotFound: exit 1
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        messages = await talk.conversation(pool, args.crn)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps([m.model_dump(mode="json") for m in messages], indent=2))
        return
    if not messages:
        print("No messages yet.")
    for m in messages:
        print(format_message(m))


def format_message(m: talk.ConversationMessage) -> str:
    at = m.at.strftime("%Y-%m-%d %H:%M UTC")
    if m.kind == "customer":
        head = f"{at}  from the customer ({m.by})"
        files = [f"  attachment {m.id}/{a.n}: {a.filename or '(unnamed)'} ({a.content_type}, "
                 f"{a.size} bytes{'' if a.stored else ', not kept'})" for a in m.attachments]
    elif m.kind == "ours":
        head = f"{at}  to {', '.join(m.to)}: {m.delivery}" + (f" ({m.reason})" if m.reason else "")
        files = []
    else:
        head = f"{at}  internal note {m.id} by {m.by}" + (
            f", mentioning {', '.join(m.mentions)}" if m.mentions else "")
        files = []
    subject = [f"  Subject: {m.subject}"] if m.subject else []
    body = ["  " + line for line in m.text.splitlines()] or ["  (empty)"]
    return "\n".join([head, *subject, *body, *files, ""])


async def cmd_replies_list(args: argparse.Namespace, settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        replies = await talk.canned_replies(pool)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps([r.model_dump() for r in replies], indent=2))
        return
    if not replies:
        print("No canned replies yet.")
    for r in replies:
        print(f"{r.name}\n" + "\n".join("  " + line for line in r.body.splitlines()) + "\n")


async def _keeper(pool: Pool, actor: str) -> None:
    member = next((m for m in await roster(pool) if m.id == actor), None)
    if member is None or member.role not in REPLY_KEEPERS:
        raise UsageError(f"{actor!r} may not keep the canned replies: only the head of "
                         "customer success does; nothing was changed")


async def cmd_replies_add(args: argparse.Namespace, settings: Settings) -> None:
    body = args.text if args.text is not None else read_text(args.file)
    try:
        reply = talk.CannedReply(name=args.name.strip(), body=body.strip())
    except ValidationError:
        raise UsageError("a reply needs a name (up to 100 characters) and a text; nothing "
                         "was changed") from None
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        await _keeper(pool, args.actor)
        await talk.save_canned_reply(pool, reply, args.actor)
    except talk.UnknownPlaceholder as err:
        raise UsageError(f"{err}; nothing was changed") from None
    finally:
        await pool.close()
    print(f"saved {reply.name!r}")


async def cmd_replies_remove(args: argparse.Namespace, settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        await _keeper(pool, args.actor)
        removed = await talk.remove_canned_reply(pool, args.name)
    finally:
        await pool.close()
    if not removed:
        raise UsageError(f"there is no canned reply {args.name!r}")
    print(f"removed {args.name!r}")
