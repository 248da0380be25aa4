"""The `complaints report` and `complaints policy` subcommands.

    complaints report weekly|monthly|quarterly|half-year [--period P] [--out FILE.html]
                      [--format csv] [--send]
    complaints policy check FILE
    complaints policy simulate FILE [--since DATE]

`report` renders the report on demand from PostgreSQL (the text part to the terminal, or
the HTML email to --out); --send has the worker send it like the schedule does, once per
period. `policy check` validates a policy file; `policy simulate` replays past complaints
against it and the current policy (workflows/whatif.py says how).
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy

from database.pool import connection
from database.records import staff_by_id
from reporting.rendering import ReportRenderer, build_report, metrics_csv
from settings import Settings, connect
from starter.cli.usage import UsageError
from starter.operations import ActionRefused
from starter.policy_apply import apply_policy
from starter.policy_review import describe_policy, format_simulation, policy_changes, what_if
from workflows.policy import SlaPolicy, load_policy
from workflows.report import (
    ReportKind,
    ReportPeriod,
    ReportReceipt,
    ReportRequest,
    ReportWorkflow,
    parse_period,
)


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render a weekly, monthly, quarterly or half-year report")
    p.add_argument("kind", choices=[k.value for k in ReportKind])
    p.add_argument("--period", default="last",
                   help="2026-W05, 2026-01, 2026-Q1, 2026-H1, a date in the period, 'last' (the last "
                        "complete one, the default) or 'current' (so far)")
    p.add_argument("--out", metavar="FILE", help="write the HTML email here (open it in a browser)")
    p.add_argument("--format", choices=("text", "csv"), default="text",
                   help="csv: the figures as rows (section, name, value), to standard output")
    p.add_argument("--send", action="store_true",
                   help="email it to the head of customer success through the worker, as the "
                        "schedule does (complete periods only; never twice)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("policy", help="check an SLA policy file, or replay history against it")
    actions = p.add_subparsers(dest="policy_command", required=True)
    check = actions.add_parser("check", help="validate a policy file")
    check.add_argument("file")
    check.set_defaults(func=cmd_policy_check)
    simulate = actions.add_parser(
        "simulate", help="what past complaints would have breached under a policy file")
    simulate.add_argument("file")
    simulate.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD",
                          help="only complaints received since this day (default: all)")
    simulate.set_defaults(func=cmd_policy_simulate)
    apply = actions.add_parser(
        "apply", help="move the open complaints to a policy file (--dry-run: what would move)")
    apply.add_argument("file")
    apply.add_argument("--actor", required=True,
                       help="your roster id (the head of customer success)")
    apply.add_argument("--dry-run", action="store_true",
                       help="only say which deadlines would move, and which would breach at "
                            "once; nothing is sent")
    apply.add_argument("--only", action="append", metavar="CRN", default=None,
                       help="only these complaints (repeatable): try one first")
    apply.set_defaults(func=cmd_policy_apply)


# --- report -------------------------------------------------------------------------


async def cmd_report(args: argparse.Namespace, settings: Settings) -> None:
    policy = settings.policy()
    try:
        period = parse_period(args.kind, args.period, policy.calendar.timezone)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.send:
        await _send(settings, policy, period)
        return
    async with connection(settings.database_url) as conn:
        metrics, rendered = await build_report(conn, period, policy,
                                               ReportRenderer(settings.templates_dir))
    if args.format == "csv":
        print(metrics_csv(metrics), end="")
    elif args.out:
        Path(args.out).write_text(rendered.html, encoding="utf-8")
        print(f"wrote {args.out}: {rendered.subject}")
    else:
        print(f"Subject: {rendered.subject}\n\n{rendered.text}", end="")


async def _send(settings: Settings, policy: SlaPolicy, period: ReportPeriod) -> None:
    client = await connect(settings)
    try:
        receipt: ReportReceipt = await client.execute_workflow(
            ReportWorkflow.run,
            ReportRequest(kind=period.kind, timezone=policy.calendar.timezone, period=period.key),
            id=f"{settings.task_queue}-report-{period.kind.value}-{period.key}",
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    except WorkflowFailureError as err:
        raise ActionRefused(getattr(err.cause, "message", None) or str(err)) from None
    print(f"{receipt.kind.value} report {receipt.key}: {receipt.status}"
          + (f" to {', '.join(receipt.recipients)}" if receipt.recipients else ""))


# --- policy check ---------------------------------------------------------------------


async def cmd_policy_check(args: argparse.Namespace, settings: Settings) -> None:
    policy = load_policy(args.file)  # PolicyError: exit 1 naming the file and the key
    print(f"{args.file}: a valid SLA policy, {policy.name!r}")
    for line in describe_policy(policy):
        print(f"  {line}")
    current = settings.policy()
    changes = policy_changes(current, policy)
    print(f"Against the current policy ({current.name!r}, "
          f"{settings.policy_path or 'built-in default'}): "
          + (f"{len(changes)} change(s)" if changes else "no changes"))
    for change in changes:
        print(f"  {change}")


# --- policy simulate ----------------------------------------------------------------


async def cmd_policy_simulate(args: argparse.Namespace, settings: Settings) -> None:
    proposed = load_policy(args.file)
    current = settings.policy()
    since = None
    if args.since:
        tz = ZoneInfo(current.calendar.timezone)
        since = datetime(args.since.year, args.since.month, args.since.day, tzinfo=tz)
    async with connection(settings.database_url) as conn:
        result = await what_if(conn, current, proposed, since)
    if result is None:
        print("No complaints recorded" + (f" since {args.since}" if args.since else "")
              + ": nothing to replay.")
        return
    print(format_simulation(result, args.since,
                            (settings.policy_path or "built-in default", args.file)))


# --- policy apply -----------------------------------------------------------------------


async def cmd_policy_apply(args: argparse.Namespace, settings: Settings) -> None:
    policy = load_policy(args.file)  # PolicyError: exit 1 naming the file and the key
    async with connection(settings.database_url) as conn:
        member = await staff_by_id(conn, args.actor)
    client = await connect(settings)
    result = await apply_policy(client, policy, member, args.actor, dry_run=args.dry_run,
                                crns=args.only)
    print("\n".join(result.lines()))
