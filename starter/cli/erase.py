"""`complaints erase CUSTOMER_ID [--yes] [--by WHO]`: a customer's personal data removed
from PostgreSQL on their request (activities/erasure.py says what goes and what stays).

Refused, naming them, while any of the customer's complaints still runs; asks before it
erases unless `--yes` (and refuses without `--yes` when nobody is there to answer).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from activities.db import connection
from activities.erasure import UnknownCustomer, complaints_of, erase_customer
from settings import Settings, connect
from starter.cli.usage import UsageError
from starter.operations import still_running


def add_erase_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase", help="remove a customer's personal data (on their request)")
    p.add_argument("customer_id")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--by", default=None,
                   help="who is erasing, for the record (default: the OS user)")
    p.set_defaults(func=cmd_erase)


async def cmd_erase(args: argparse.Namespace, settings: Settings) -> None:
    erased_by = args.by or getpass.getuser()
    async with connection(settings.database_url) as conn:
        crns = await complaints_of(conn, args.customer_id)
        running = await still_running(await connect(settings), crns)
        if running:
            raise UsageError(f"{args.customer_id} has complaints still open: "
                             f"{', '.join(running)}; nothing was erased (they must end first)")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("give --yes to erase without a terminal to confirm on; "
                                 "nothing was erased")
            answer = input(f"Erase the personal data of {args.customer_id} "
                           f"({len(crns)} complaint(s))? This cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise UsageError("not confirmed; nothing was erased")
        try:
            erasure = await erase_customer(conn, args.customer_id, erased_by)
        except UnknownCustomer as err:
            raise UsageError(f"{err}; nothing was erased") from None
    changed = ", ".join(f"{n} {table}" for table, n in erasure.rows_changed.items() if n)
    print(f"erased {args.customer_id} (erasure {erasure.id}, by {erased_by}): "
          f"{len(erasure.complaints)} complaint(s); rows changed: {changed or 'none'}")
