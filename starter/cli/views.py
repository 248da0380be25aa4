"""What a person reads in a terminal: a complaint's status and complaint lists (rich).

`render_state` is `complaints status CRN`: who and what, each deadline with its due time,
the time left or how late it is, met or breached; what the complaint waits for and from
whom; the escalation level; the refund; the timeline. `render_list` is `complaints list`.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from starter.listing import ComplaintSummary
from workflows.complaint import presentation as ui
from workflows.complaint.presentation import closed_as, reopened_on
from workflows.models import ComplaintState, Deadline, RefundStatus

LEVELS = {0: "none", 1: "level 1: team lead", 2: "level 2: head of customer success"}
REFUND_STATES = {
    RefundStatus.none: "no refund in the plan",
    RefundStatus.pending_approval: "waiting for the Finance Manager's decision",
    RefundStatus.approved: "approved, being credited",
    RefundStatus.applied: "credited to the customer's account",
    RefundStatus.rejected: "rejected by the Finance Manager: a new plan is needed",
}


def to_text(renderable: RenderableType, width: int = 120) -> str:
    """Render for a terminal-less reader (tests, pipes): plain text at a fixed width."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, no_color=True, highlight=False, emoji=False,
            force_terminal=False).print(renderable)
    return buffer.getvalue()


def format_state(s: ComplaintState) -> str:
    """`complaints status` as plain text."""
    return to_text(render_state(s))


def show(renderable: RenderableType) -> None:
    """Print to stdout: colours on a terminal, plain text 120 wide into a pipe or a file."""
    terminal = sys.stdout.isatty()
    Console(file=sys.stdout, width=None if terminal else 120, highlight=False, emoji=False,
            no_color=not terminal).print(renderable)


def when(instant: datetime | None) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if instant else "-"


def span(delta: timedelta) -> str:
    """A duration as a person says it: 2d 3h, 4h 05m, 12m, 40s."""
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def deadline_state(d: Deadline, now: datetime) -> tuple[str, str, str]:
    """(state, time left or late, style) of one deadline as of `now`."""
    if d.met_at is not None:
        if d.breached or d.met_at > d.due_at:
            return "met late", f"{span(d.met_at - d.due_at)} late", "yellow"
        return "met", f"{span(d.due_at - d.met_at)} to spare", "green"
    if d.superseded:
        return "no longer applies", "-", "dim"
    if d.paused_since is not None and not d.breached:
        return "PAUSED", f"since {when(d.paused_since)}", "yellow"
    if d.breached:
        return "BREACHED", f"overdue by {span(now - d.due_at)}", "bold red"
    if now >= d.due_at:  # the workflow marks the breach in a moment
        return "OVERDUE", f"overdue by {span(now - d.due_at)}", "bold red"
    return "open", f"{span(d.due_at - now)} left", "cyan"


def render_state(s: ComplaintState, now: datetime | None = None) -> RenderableType:
    now = now or datetime.now(UTC)
    parts: list[RenderableType] = [Text(f"{s.crn}  {s.subject}", style="bold")]

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Status", f"{s.status.value} (phase {s.phase.value})"
                  + (f": {closed_as(s)}" if s.outcome else "")
                  + (f" · {s.proposals_refused} proposal(s) refused"
                     if s.proposals_refused else ""))
    if s.reopened_at is not None:
        facts.add_row("Reopened", Text(reopened_on(s) or "", style="bold yellow"))
    facts.add_row("Severity", f"{s.severity} (score {s.severity_score}) · category "
                  f"{s.category.value if s.category else '-'} · impact "
                  f"{s.impact.value if s.impact else '-'}")
    facts.add_row("Customer", f"{s.customer_id} · via {s.source.value} ({s.external_ref})")
    facts.add_row("Owner", f"{s.owner or 'not assigned yet'} · handling agent "
                  f"{s.handling_agent or '-'}")
    facts.add_row("Escalation", Text(LEVELS.get(s.escalation_level, str(s.escalation_level)),
                                     style="bold red" if s.escalation_level else ""))
    facts.add_row("SLA", Text("breached", style="bold red") if s.sla_breached else Text("on time"))
    if s.retention_risk:
        facts.add_row("Retention Risk", Text(", ".join(s.retention_risk_reasons) or "yes",
                                             style="bold yellow"))
    if s.recurrent_of:
        facts.add_row("Recurrent of", s.recurrent_of)
    facts.add_row("Received", when(s.received_at))
    facts.add_row("Target", f"resolution by {when(s.estimated_resolution_at)} "
                  f"(policy {s.policy_name or '-'})")
    if s.resolved_at:
        facts.add_row("Resolved", when(s.resolved_at))
    if s.closed_at:
        facts.add_row("Closed", when(s.closed_at))
    if s.csat_score is not None:
        facts.add_row("Satisfaction", f"{s.csat_score}/5")
    parts.append(facts)

    changed = ui.changes(s)
    if changed:
        parts.append(Text("\nChanged under way:", style="bold"))
        parts += [Text(f"  • {c}") for c in changed]

    parts.append(Text("\nWaiting for:", style="bold"))
    if s.waiting_for:
        parts += [Text(f"  • {w}") for w in s.waiting_for]
    else:
        parts.append(Text("  nothing: the complaint is " + s.status.value))

    parts.append(Text("\nDeadlines:", style="bold"))
    deadlines = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("deadline", "due", "time", "state", "met"):
        deadlines.add_column(column)
    for d in s.deadlines:
        state, time_left, style = deadline_state(d, now)
        deadlines.add_row(d.name.replace("_", " "), when(d.due_at), time_left,
                          Text(state, style=style), when(d.met_at) if d.met_at else "")
    parts.append(deadlines if s.deadlines else Text("  none yet"))

    r = s.refund
    parts.append(Text("\nRefund:", style="bold"))
    if r.status == "none" and not r.refund_id:
        parts.append(Text("  " + REFUND_STATES[RefundStatus.none]))
    else:
        refund = Table.grid(padding=(0, 2))
        refund.add_column(style="bold")
        refund.add_column()
        refund.add_row(f"  refund {r.refund_id}", f"{r.status}: "
                       f"{REFUND_STATES.get(r.status, r.status)}")
        refund.add_row("  amount", f"{r.amount} {r.currency or ''}".strip())
        if r.maximum is not None:
            refund.add_row("  at most", f"{r.maximum} ({r.computation})")
        if r.approver:
            refund.add_row("  decided by", r.approver + (f": {r.note}" if r.note else ""))
        if r.credit_note:
            refund.add_row("  credit note", r.credit_note)
        parts.append(refund)

    if s.action_plan:
        parts.append(Text("\nAction plan:", style="bold"))
        agreed = {True: "customer agreed", False: "customer disagreed", None: "not agreed yet"}
        parts.append(Text(f"  ({agreed[s.customer_agreed]}; technical fix {s.fix})"))
        parts += [Text(f"  • {st.kind.value}: {st.description}"
                       + (f" ({st.amount})" if st.amount is not None else ""))
                  for st in s.action_plan]

    parts.append(Text("\nTimeline:", style="bold"))
    timeline = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    timeline.add_column("at", no_wrap=True)
    timeline.add_column("event", no_wrap=True)
    timeline.add_column("by", no_wrap=True)
    timeline.add_column("detail", overflow="fold")
    for e in s.timeline:
        marked = " [unauthenticated email]" if e.outcome == "unauthenticated" else ""
        timeline.add_row(when(e.at), e.event.replace("_", " "), e.actor + marked, e.detail)
    parts.append(timeline)
    return Group(*parts)


def render_list(items: list[ComplaintSummary], now: datetime | None = None) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("CRN", "left"), ("STATUS", "left"), ("PHASE", "left"), ("SEV", "right"),
        ("LVL", "right"), ("OWNER", "left"), ("BREACHED", "left"), ("CUSTOMER", "left"),
        ("RECEIVED", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=True)
    for c in items:
        table.add_row(
            c.crn, c.status or "-", c.phase or "-", str(c.severity or "-"),
            str(c.escalation_level), c.owner or "-",
            Text("yes", style="bold red") if c.sla_breached else Text("no"),
            c.customer_id or "-", when(c.received_at))
    if not items:
        return Text("no complaints match")
    return table
