"""`complaints erase CUSTOMER_ID [--yes] [--by WHO] [--withdraw-open]`: a customer's personal
data removed from PostgreSQL on their request (database/erasure.py says what goes and what
stays).

Refused, naming them, while any of the customer's complaints still runs, unless
`--withdraw-open`: then each of them is first withdrawn at the customer's request (the
`withdraw` update, actor `customer:<id>`, the operator recorded beside it) and its workflow
waited for until it has completed. Asks before it changes anything unless `--yes` (and
refuses without `--yes` when nobody is there to answer).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from database.erasure import UnknownCustomer, complaints_of, erase_customer
from database.pool import connection
from settings import Settings, connect
from starter.cli.usage import UsageError
from starter.operations import ActionRefused, still_running, withdraw_and_wait
from workflows.models import Withdrawal
from workflows.permissions import customer_actor

ERASURE_REASON = "withdrawn at the customer's request (erasure)"


def add_erase_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase", help="remove a customer's personal data (on their request)")
    p.add_argument("customer_id")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--by", default=None,
                   help="who is erasing, for the record (default: the OS user)")
    p.add_argument("--withdraw-open", action="store_true",
                   help="first withdraw the customer's running complaints at their request "
                        "(every deadline cancelled, nothing more emailed; one closed "
                        "already is archived at once) and wait for them to end; without "
                        "it, running complaints refuse the erasure")
    p.set_defaults(func=cmd_erase)


async def cmd_erase(args: argparse.Namespace, settings: Settings) -> None:
    erased_by = args.by or getpass.getuser()
    async with connection(settings.database_url) as conn:
        crns = await complaints_of(conn, args.customer_id)
        client = await connect(settings)
        running = await still_running(client, crns)
        if running and not args.withdraw_open:
            raise UsageError(f"{args.customer_id} has complaints still open: "
                             f"{', '.join(running)}; nothing was erased (they must end "
                             "first, or give --withdraw-open to withdraw them)")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError("give --yes to erase without a terminal to confirm on; "
                                 "nothing was erased")
            first = (f"Withdraw {len(running)} running complaint(s) ({', '.join(running)}) and "
                     if running else "")
            answer = input(f"{first}Erase the personal data of {args.customer_id} "
                           f"({len(crns)} complaint(s))? This cannot be undone. [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                raise UsageError("not confirmed; nothing was erased")
        withdrawn: list[str] = []
        for crn in running:
            withdrawal = Withdrawal(actor=customer_actor(args.customer_id),
                                    reason=ERASURE_REASON, recorded_by=erased_by)
            try:
                await withdraw_and_wait(client, crn, withdrawal)
            except ActionRefused as refused:
                done = f" (withdrawn: {', '.join(withdrawn)})" if withdrawn else ""
                raise UsageError(f"{crn} could not be withdrawn: {refused}; nothing was "
                                 f"erased{done}") from None
            withdrawn.append(crn)
        if withdrawn:
            print(f"withdrew {len(withdrawn)} running complaint(s): {', '.join(withdrawn)}")
        try:
            erasure = await erase_customer(conn, args.customer_id, erased_by)
        except UnknownCustomer as err:
            raise UsageError(f"{err}; nothing was erased") from None
    changed = ", ".join(f"{n} {table}" for table, n in erasure.rows_changed.items() if n)
    print(f"erased {args.customer_id} (erasure {erasure.id}, by {erased_by}): "
          f"{len(erasure.complaints)} complaint(s); rows changed: {changed or 'none'}")
    if erasure.customer_id != args.customer_id:  # their id was derived from their address
        print(f"{args.customer_id} is now {erasure.customer_id} (an id of random bits)")
