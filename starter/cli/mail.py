"""`complaints mail-gateway` and `complaints inbound list`: the email channel.

    complaints mail-gateway               the SMTP server for SUPPORT_ADDRESS (starter/mailgateway.py)
    complaints inbound list [--failed] [--json] [--limit N]
                                          the latest inbound messages and what became of them;
                                          --failed: those that could not be read (kept, flagged)
"""

from __future__ import annotations

import argparse
import json

from database.mailbox import list_inbound
from database.pool import create_pool
from settings import Settings


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
        print(f"    {r['message_id']}" + (f"  ({r['detail']})" if r["detail"] else ""))
