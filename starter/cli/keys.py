"""`complaints keys create|revoke|list`: the HTTP API's keys.

    complaints keys create --staff ID [--replace]       a roster member's key (shown once)
    complaints keys create --intake NAME [--replace]    an intake system's key (submit only)
    complaints keys revoke KEY_ID | --staff ID | --intake NAME
    complaints keys list [--all]

`keys create` prints only the key on stdout, so `KEY=$(complaints keys create ...)` works;
what it is for goes to stderr.
"""

from __future__ import annotations

import argparse
import sys

from database.keys import KeyRefused, create_key, list_keys, revoke_key
from database.pool import connection
from settings import Settings
from starter.cli.usage import UsageError


def add_key_commands(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="API keys: create, revoke, list")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    p = ksub.add_parser("create", help="a new key, shown once")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--staff", metavar="ID", help="a roster member: the actor of its actions")
    who.add_argument("--intake", metavar="NAME", help="an intake system: may only submit")
    p.add_argument("--replace", action="store_true", help="revoke the owner's live key first")
    p.set_defaults(func=cmd_keys_create)
    p = ksub.add_parser("revoke", help="revoke a key at once")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("key_id", nargs="?", help="the key's id (ck_...) or the key itself")
    who.add_argument("--staff", metavar="ID")
    who.add_argument("--intake", metavar="NAME")
    p.set_defaults(func=cmd_keys_revoke)
    p = ksub.add_parser("list", help="the keys (ids, never the keys themselves)")
    p.add_argument("--all", action="store_true", help="revoked keys too")
    p.set_defaults(func=cmd_keys_list)


async def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> None:
    try:
        async with connection(settings.database_url) as conn:
            info, key = await create_key(conn, staff_id=args.staff, intake=args.intake,
                                         replace=args.replace)
    except KeyRefused as err:
        raise UsageError(str(err)) from None
    what = (f"staff member {info.name} (the actor of everything done with it)"
            if info.kind == "staff" else f"intake system {info.name} (may only submit)")
    print(key)
    print(f"key {info.id} for {what}; shown once: store it now. "
          f"Use it as: Authorization: Bearer <key>", file=sys.stderr)


async def cmd_keys_revoke(args: argparse.Namespace, settings: Settings) -> None:
    try:
        async with connection(settings.database_url) as conn:
            ids = await revoke_key(conn, key_id=args.key_id, staff_id=args.staff,
                                   intake=args.intake)
    except KeyRefused as err:
        raise UsageError(str(err)) from None
    print("revoked " + ", ".join(ids))


async def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> None:
    async with connection(settings.database_url) as conn:
        keys = await list_keys(conn, include_revoked=args.all)
    print(f"{'KEY ID':<13} {'KIND':<7} {'FOR':<20} {'CREATED':<17} REVOKED")
    for k in keys:
        print(f"{k.id:<13} {k.kind:<7} {k.name:<20} {k.created_at:%Y-%m-%d %H:%M} "
              f"{k.revoked_at.strftime('%Y-%m-%d %H:%M') if k.revoked_at else '-'}")
