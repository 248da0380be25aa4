"""The `complaints report` and `complaints policy` subcommands.

    complaints report weekly|monthly|quarterly [--period P] [--out FILE.html] [--send]
    complaints policy check FILE
    complaints policy simulate FILE [--since DATE]

`report` renders the report on demand from PostgreSQL (the text part to the terminal, or
the HTML email to --out); --send has the worker send it like the schedule does, once per
period. `policy check` validates a policy file; `policy simulate` replays past complaints
against it and the current policy (workflows/whatif.py says how).
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy

from activities.db import connection
from activities.history import load_past_complaints, load_supervisors
from activities.reports import DEADLINE_LABELS, ReportRenderer, build_report
from settings import Settings, connect
from starter.cli.usage import UsageError
from starter.operations import ActionRefused
from workflows.policy import SlaPolicy, format_duration, load_policy, snapshot_policy
from workflows.report import (
    ReportKind,
    ReportPeriod,
    ReportReceipt,
    ReportRequest,
    ReportWorkflow,
    parse_period,
)
from workflows.whatif import DEADLINES, simulate


def add_report_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render a weekly, monthly or quarterly report")
    p.add_argument("kind", choices=[k.value for k in ReportKind])
    p.add_argument("--period", default="last",
                   help="2026-W05, 2026-01, 2026-Q1, a date in the period, 'last' (the last "
                        "complete one, the default) or 'current' (so far)")
    p.add_argument("--out", metavar="FILE", help="write the HTML email here (open it in a browser)")
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
        _, rendered = await build_report(conn, period, policy,
                                         ReportRenderer(settings.templates_dir))
    if args.out:
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


def describe_policy(policy: SlaPolicy) -> list[str]:
    cal, res, esc = policy.calendar, policy.resolution, policy.escalation
    holidays = (f"public holidays {cal.holidays_country}"
                + (f"/{cal.holidays_subdivision}" if cal.holidays_subdivision else "")
                if cal.holidays_country else "no public holidays")
    return [
        f"calendar     {cal.timezone}, {'/'.join(cal.working_days)} {cal.day_starts}-"
        f"{cal.day_ends}, {holidays}, {len(cal.extra_holidays)} company day(s) off",
        f"acknowledge  automatically within "
        f"{format_duration(policy.acknowledgement.automatic_within)}, personally within "
        f"{format_duration(policy.acknowledgement.personal_within)}",
        f"owner        calls within {format_duration(policy.ownership.phone_contact_within)}; "
        f"customer update every {format_duration(policy.communication.customer_update_every)}",
        f"resolution   sev1 {res.sev1}, sev2 {res.sev2}, sev3 {res.sev3}, sev4 {res.sev4} "
        f"(business time: h hours, d working days)",
        f"escalation   team lead acts within {format_duration(esc.team_lead_acts_within)}, head "
        f"of CS within {format_duration(esc.head_of_cs_acts_within)}; severity "
        f"<= {esc.at_intake_for_severity_up_to} escalates at intake",
        f"refunds      approval at or above {policy.refund.approval_threshold}, decided within "
        f"{policy.refund.approval_within}",
    ]


def _flatten(data: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("by_impact", "by_category", "category_weight",
                                                   "urgency_weight", "flag_weight"):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def policy_changes(current: SlaPolicy, proposed: SlaPolicy) -> list[str]:
    """What the proposed policy changes, key by key ('resolution.sev1: 8h -> 4h')."""
    old = _flatten(current.model_dump(mode="json"))
    new = _flatten(proposed.model_dump(mode="json"))
    return [f"{key}: {old.get(key)} -> {new.get(key)}" for key in sorted(old.keys() | new.keys())
            if key != "name" and old.get(key) != new.get(key)]


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
        history = await load_past_complaints(conn, since)
        supervisors = await load_supervisors(conn)
    as_of = datetime.now(UTC)
    if not history:
        print("No complaints recorded" + (f" since {args.since}" if args.since else "")
              + ": nothing to replay.")
        return
    first = min(c.received_at for c in history)
    years = as_of.year - first.year + 1

    def resolved(policy: SlaPolicy) -> SlaPolicy:  # public holidays of every year replayed
        return snapshot_policy(policy, first, years_ahead=years)

    outcomes = [simulate(resolved(p), history, supervisors, as_of) for p in (current, proposed)]
    print(format_simulation(outcomes, history, as_of, args.since,
                            (settings.policy_path or "built-in default", args.file)))


def format_simulation(outcomes, history, as_of: datetime, since: date | None,
                      sources: tuple[str, str]) -> str:
    current, proposed = outcomes
    n_resolved = sum(1 for c in history if c.resolved_at is not None)
    heads = (f"current: {current.policy_name}", f"proposed: {proposed.policy_name}")
    width = max(22, *(len(h) + 2 for h in heads))
    lines = [
        f"What-if over {len(history)} complaint(s) received"
        + (f" since {since}" if since else "") + f" ({n_resolved} resolved, "
        f"{len(history) - n_resolved} open), replayed as of {as_of:%Y-%m-%d %H:%M} UTC",
        f"  current policy: {sources[0]}; proposed policy: {sources[1]}",
        "",
        f"{'':<44}{heads[0]:>{width}}{heads[1]:>{width}}{'change':>10}",
    ]

    def row(label: str, a: int, b: int, shown: tuple[str, str] | None = None) -> None:
        left, right = shown or (str(a), str(b))
        lines.append(f"{label:<44}{left:>{width}}{right:>{width}}{b - a:>+10}")

    row("Deadlines breached", current.total_breaches, proposed.total_breaches)
    for name in DEADLINES:
        row(f"  {DEADLINE_LABELS[name]}", current.breaches[name], proposed.breaches[name])
    row("Complaints with a breach", current.breached_complaints, proposed.breached_complaints,
        tuple(f"{o.breached_complaints} ({o.breached_complaints / o.complaints:.0%})"
              for o in outcomes))
    row("Escalations raised", current.total_escalations, proposed.total_escalations)
    row("  to a team lead (level 1)", current.escalations[1], proposed.escalations[1])
    row("  to the head of customer success (level 2)", current.escalations[2],
        proposed.escalations[2])

    changed = [c.crn for c in history
               if sorted(n for _, n in current.replays[c.crn].breaches)
               != sorted(n for _, n in proposed.replays[c.crn].breaches)]
    if changed:
        lines += ["", f"Complaints that fare differently ({len(changed)}"
                  + (", the first 20" if len(changed) > 20 else "") + "):"]
        for crn in changed[:20]:
            a, b = current.replays[crn], proposed.replays[crn]
            lines.append(f"  {crn}  breaches now: {_names(a)}; under the proposal: {_names(b)}")
    lines += ["", "Escalations counted are those the policy causes (breaches, severity at "
              "intake, the step to level 2); see `workflows/whatif.py` for what is replayed."]
    return "\n".join(lines)


def _names(replay) -> str:
    return ", ".join(name for _, name in replay.breaches) or "none"
