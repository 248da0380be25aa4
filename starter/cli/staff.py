"""`complaints staff set-password ID`: a roster member's password for the staff console.

The password is read from standard input (one line, so `printf '%s\n' "$PW" | complaints
staff set-password ana` works and it never appears in the process list or shell history);
at least 12 characters, stored as an argon2id hash. Setting it ends the member's console
sessions.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from database.console_auth import PasswordRefused, set_password
from database.pool import connection
from settings import Settings
from starter.cli.usage import UsageError


def add_staff_commands(sub: argparse._SubParsersAction) -> None:
    staff = sub.add_parser("staff", help="the roster's console passwords")
    ssub = staff.add_subparsers(dest="staff_command", required=True)
    p = ssub.add_parser("set-password", help="set a password (read from standard input)")
    p.add_argument("staff_id", metavar="ID", help="the roster member's id")
    p.set_defaults(func=cmd_set_password)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password (at least 12 characters): ")
    return sys.stdin.readline().rstrip("\r\n")


async def cmd_set_password(args: argparse.Namespace, settings: Settings) -> None:
    password = _read_password()
    try:
        async with connection(settings.database_url) as conn:
            await set_password(conn, args.staff_id, password)
    except PasswordRefused as err:
        raise UsageError(str(err)) from None
    print(f"password set for {args.staff_id}; they sign in at {settings.public_url}/console/",
          file=sys.stderr)
