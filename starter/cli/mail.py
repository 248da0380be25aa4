"""`complaints mail-gateway` and `complaints inbound list`: the email channel.

    complaints mail-gateway               the SMTP server for SUPPORT_ADDRESS (starter/mailgateway.py)
    complaints inbound list [--failed] [--json] [--limit N]
                                          the latest inbound messages and what became of them;
                                          --failed: those that could not be read (kept, flagged)
    complaints suspended list [--json] [--limit N]
                                          mail held aside (spam, a DMARC policy, an unknown
                                          sender's rate): stored, not a complaint, not answered
    complaints suspended release MESSAGE_ID [--by WHO]
                                          processed as if it had just arrived
    complaints suspended reject MESSAGE_ID [--by WHO]
                                          kept as rejected; never processed
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from database.mailbox import decide_suspended, list_inbound, list_suspended
from database.pool import create_pool
from settings import Settings, connect
from starter.operations import start_inbound


def add_mail_commands(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("mail-gateway", help="the SMTP server customers' email arrives at"
                   ).set_defaults(func=cmd_mail_gateway)
    inbound = sub.add_parser("inbound", help="inbound email: what arrived and what became of it")
    isub = inbound.add_subparsers(dest="inbound_command", required=True)
    p = isub.add_parser("list", help="the latest inbound messages, newest first")
    p.add_argument("--failed", action="store_true", help="only those that could not be read")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_inbound_list)
    suspended = sub.add_parser("suspended", help="mail held aside: list, release or reject it")
    ssub = suspended.add_subparsers(dest="suspended_command", required=True)
    p = ssub.add_parser("list", help="suspended messages, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_suspended_list)
    for name, text in (("release", "process it as if it had just arrived"),
                       ("reject", "keep it as rejected; it is never processed")):
        p = ssub.add_parser(name, help=text)
        p.add_argument("message_id", help="its Message-ID, as `suspended list` prints it")
        p.add_argument("--by", default=None, help="who decides, for the record "
                       "(default: the OS user)")
        p.set_defaults(func=cmd_suspended_decide, release=name == "release")


async def cmd_suspended_list(args: argparse.Namespace, settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        rows = await list_suspended(pool, limit=args.limit)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps(rows, default=str, indent=1))
        return
    if not rows:
        print("no suspended messages")
        return
    for r in rows:
        print(f"{r['received_at']:%Y-%m-%d %H:%M:%S}  {r['from_address'] or '?'}  "
              f"{r['subject'] or ''}")
        print(f"    {r['message_id']}  ({r['suspended']}; dmarc={r['dmarc']})")


async def cmd_suspended_decide(args: argparse.Namespace, settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        by = args.by or getpass.getuser()
        if not await decide_suspended(pool, args.message_id, args.release, by):
            print(f"{args.message_id} is not a suspended message", file=sys.stderr)
            raise SystemExit(1)
        if args.release:
            await start_inbound(await connect(settings), settings.task_queue, args.message_id)
    finally:
        await pool.close()
    print(f"{'released' if args.release else 'rejected'}: {args.message_id}")


async def cmd_mail_gateway(args: argparse.Namespace, settings: Settings) -> None:
    from starter.mailgateway import run_gateway  # aiosmtpd loads only here

    await run_gateway(settings)


async def cmd_inbound_list(args: argparse.Namespace, settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        rows = await list_inbound(pool, failed_only=args.failed, limit=args.limit)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps(rows, default=str, indent=1))
        return
    if not rows:
        print("no failed inbound messages" if args.failed else "no inbound messages")
        return
    for r in rows:
        print(f"{r['received_at']:%Y-%m-%d %H:%M:%S}  {r['outcome'] or 'pending':<13} "
              f"{r['crn'] or '-':<14} {r['from_address'] or r['envelope_from'] or '?'}  "
              f"{r['subject'] or ''}")
        sender = "authenticated" if r["authenticated"] else f"unauthenticated, dmarc={r['dmarc']}"
        print(f"    {r['message_id']}  [{sender}]" + (f"  ({r['detail']})" if r["detail"] else "")
              + (f"  flagged: {r['flag']}" if r["flag"] else ""))
