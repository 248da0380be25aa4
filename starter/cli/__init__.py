"""The `complaints` command line (docs/design.md, the command line).

    complaints migrate                 schema + search attributes (idempotent)
    complaints seed FILE               roster, customers, orders
    complaints submit FILE|-           a ComplaintIntake JSON; prints the CRN
    complaints status CRN [--json]     a readable view: deadlines, waiting for, refund, timeline
    complaints list [--status ...] [--json|--format csv]   Temporal visibility's list (the engineer's view)
    complaints queue [--as ID] [--status ...]  open complaints, most urgent first (the desk)
    complaints search "WORDS" [--as ID]        full-text search over every complaint
    complaints messages CRN [--json]   the conversation: emails both ways, internal notes
    complaints replies list|add|remove the canned replies (kept by the head of customer success)
    complaints <action> CRN --actor ID [fields...] | --json FILE|-
    complaints refund-decision CRN --actor ID --approve|--reject --amount A [--note N]
    complaints report weekly|monthly|quarterly|half-year [--period P] [--out FILE] [--format csv]
    complaints policy check|simulate FILE
    complaints withdraw CRN --actor ID --reason R   closed at the customer's request
    complaints erase CUSTOMER_ID [--yes] [--by WHO] [--withdraw-open]
                                       a customer's personal data removed on request
                                       (--withdraw-open: their open complaints withdrawn first)
    complaints export customer CUSTOMER_ID [--out FILE] [--by WHO]
                                       a customer's data on request: one zip archive
    complaints serve                   the HTTP API (docs at /docs)
    complaints keys create|revoke|list API keys
    complaints staff set-password ID   a console password (read from standard input)
    complaints mail-gateway            the SMTP server customers write to (SUPPORT_ADDRESS)
    complaints inbound list [--failed] inbound email and what became of it
    complaints suspended list|release ID|reject ID   mail held aside (spam, DMARC, rate)
    complaints webhooks add|list|remove|enable|test|deliveries|redeliver
                                       subscriptions to the product's events (signed,
                                       retried for three days; docs/integrations.md)

Every action subcommand is built from its payload model: fields become kebab-case
flags, booleans `--x/--no-x`, lists a repeated flag, nested objects flattened,
plan steps `--step kind:description[:amount]`. A refused action exits 1 with a
one-line reason; bad input exits 2.

Each area is a module of this package (admin, complaints, desk, search, actions, reports, keys, staff, mail, erase,
export),
and each calls the operations the HTTP API calls too (starter/operations.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
import typing
from collections.abc import Callable

from settings import Settings
from settings.codec import EncryptionKeyError
from starter.cli.actions import ACTIONS, add_action_commands
from starter.cli.admin import add_admin_commands, add_serve_command
from starter.cli.complaints import add_complaint_commands
from starter.cli.desk import add_desk_commands
from starter.cli.erase import add_erase_command
from starter.cli.export import add_export_command
from starter.cli.keys import add_key_commands
from starter.cli.mail import add_mail_commands
from starter.cli.rekey import add_rekey_command
from starter.cli.reports import add_report_commands
from starter.cli.search import add_search_commands
from starter.cli.staff import add_staff_commands
from starter.cli.usage import UsageError
from starter.cli.views import format_state
from starter.cli.webhooks import add_webhook_commands
from starter.operations import ActionRefused, ComplaintNotFound, ComplaintUnreadable
from workflows import refusals
from workflows.policy import PolicyError

__all__ = ["ACTIONS", "build_parser", "format_state", "main"]

# What the CLI says after a refusal's reason, on its line, by its kind (workflows/refusals.py;
# a kind without a row takes its nearest base's): what it means and what to do next.
REFUSAL_HINTS: dict[type[refusals.Refused], str] = {
    refusals.Refused: "",  # a refusal of no known kind (or a failed report): its reason alone
    refusals.NotPermitted: "not permitted: someone whose role (or ownership) allows it must "
                           "do this; nothing was changed",
    refusals.StillRegistering: "still being registered: run the same command again in a "
                               "moment; nothing was changed",
    refusals.WrongPhase: "not in this phase: `complaints status CRN` shows where it stands; "
                         "nothing was changed",
    refusals.NotReady: "not yet: `complaints status CRN` shows what it waits for; nothing "
                       "was changed",
    refusals.AlreadyDone: "done already; nothing was changed",
    refusals.AlreadyWithdrawn: "the complaint is withdrawn: it takes no more actions",
    refusals.ComplaintClosed: "the complaint is closed: it takes no more actions",
    refusals.InvalidValue: "a value the complaint cannot take: correct it and run the command "
                           "again; nothing was changed",
    refusals.OverLimit: "over the limit: a smaller amount may be taken; nothing was changed",
    refusals.NoCustomerEmail: "nowhere to write: add the customer's email address in the CRM; "
                              "nothing was changed",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="complaints", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_admin_commands(sub)
    add_complaint_commands(sub)
    add_desk_commands(sub)
    add_search_commands(sub)
    add_action_commands(sub)
    add_report_commands(sub)
    add_serve_command(sub)
    add_key_commands(sub)
    add_staff_commands(sub)
    add_mail_commands(sub)
    add_erase_command(sub)
    add_export_command(sub)
    add_rekey_command(sub)
    add_webhook_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    if argv is None:  # the `complaints` process itself (tests call main with arguments)
        _exit_without_teardown(main, sys.argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except (EncryptionKeyError, ValueError) as err:  # names the setting, never its value
        print(f"complaints {args.command}: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(args.func(args, settings))
    except KeyboardInterrupt:  # Ctrl-C (e.g. stopping `complaints serve`): no traceback
        sys.exit(130)
    except UsageError as err:
        print(f"complaints {args.command}: {err}", file=sys.stderr)
        sys.exit(2)
    except ActionRefused as err:
        hint = refusals.lookup(REFUSAL_HINTS, err.kind)
        print(f"complaints {args.command}: {err}" + (f" ({hint})" if hint else ""),
              file=sys.stderr)
        sys.exit(1)
    except (ComplaintNotFound, ComplaintUnreadable, PolicyError) as err:
        print(f"complaints {args.command}: {err}", file=sys.stderr)
        sys.exit(1)
    except (OSError, RuntimeError) as err:
        # Connection refused and the like: say what to check, not a stack trace.
        print(f"complaints {args.command}: {err} (is the stack up? see TEMPORAL_ADDRESS, "
              f"DATABASE_URL)", file=sys.stderr)
        sys.exit(1)


def _exit_without_teardown(run: Callable[[list[str]], None], argv: list[str]) -> typing.NoReturn:
    """Run the command, then end the process skipping interpreter teardown, where the
    Temporal client's native threads can abort a finished process ("Fatal Python error:
    PyGILState_Release", temporalio/sdk-python#300): a successful `complaints migrate`
    would exit 134 and fail the one-shot migrate job of the production shape."""
    code = 0
    try:
        run(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
