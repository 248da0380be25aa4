"""`complaints submit`, `status` and `list`: complaints in, and what they say."""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import ValidationError

from settings import Settings, connect
from starter.cli.usage import UsageError, describe, read_text
from starter.cli.views import render_list, render_state, show
from starter.intake import IntakeError, parse_intake, submit
from starter.listing import ComplaintSummary, ListFilters, list_csv, list_page
from starter.operations import get_status
from workflows import models as m


def add_complaint_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="submit a ComplaintIntake JSON file (- for stdin)")
    p.add_argument("file")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("status", help="a complaint's state, deadlines and timeline")
    p.add_argument("crn")
    p.add_argument("--json", action="store_true", help="the status query's JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("list", help="complaints, filtered via Temporal visibility")
    p.add_argument("--status", choices=[v.value for v in m.Status])
    p.add_argument("--phase", choices=[v.value for v in m.Phase])
    p.add_argument("--owner", help="roster id, or 'unassigned'")
    p.add_argument("--severity", type=int, choices=range(1, 5))
    p.add_argument("--customer", help="customer id")
    p.add_argument("--breached", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--limit", type=int, help="at most this many (newest first); default all")
    p.add_argument("--json", action="store_true", help="JSON, as GET /complaints items")
    p.add_argument("--format", choices=("table", "json", "csv"), default=None,
                   help="table (the default), json (as --json) or csv: one row a complaint, "
                        "for a spreadsheet")
    p.set_defaults(func=cmd_list)


async def cmd_submit(args: argparse.Namespace, settings: Settings) -> None:
    try:
        intake = parse_intake(read_text(args.file))
    except IntakeError as err:
        raise UsageError(f"not a valid complaint: {err}; nothing was started") from None
    result = await submit(await connect(settings), intake, settings.task_queue)
    print(result.crn)
    if not result.created:
        print(f"(already submitted: {intake.source.value} {intake.external_ref})", file=sys.stderr)


async def cmd_status(args: argparse.Namespace, settings: Settings) -> None:
    state = await get_status(await connect(settings), args.crn)
    if args.json:
        print(state.model_dump_json(indent=2))
    else:
        show(render_state(state))


async def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    if args.json and args.format not in (None, "json"):
        raise UsageError("--json and --format csv/table: give one of them")
    try:
        filters = ListFilters(status=args.status, phase=args.phase, owner=args.owner,
                              severity=args.severity, customer=args.customer,
                              breached=args.breached)
    except ValidationError as err:
        raise UsageError(describe(err)) from None
    client = await connect(settings)
    items: list[ComplaintSummary] = []
    token: str | None = None
    while args.limit is None or len(items) < args.limit:
        want = 100 if args.limit is None else min(100, args.limit - len(items))
        page = await list_page(client, filters, want, token)
        items += page.items
        token = page.next_page_token
        if token is None:
            break
    if args.format == "csv":
        print(list_csv(items), end="")
    elif args.json or args.format == "json":
        print(json.dumps([c.model_dump(mode="json") for c in items], indent=2))
    else:
        show(render_list(items))
