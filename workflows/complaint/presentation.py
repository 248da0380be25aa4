"""How a complaint reads to people: what it waits for, its details in the Temporal UI, the
names of its deadlines, instants in the team's time zone, and the reply to an update.

Pure functions over the state: no workflow calls, so they are tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from workflows import calendar
from workflows.events import (
    AUTOMATIC_ACK,
    CUSTOMER_AGREEMENT,
    CUSTOMER_SIGN_OFF,
    CUSTOMER_UPDATE,
    ESCALATION,
    FINAL_RESPONSE,
    INFORMATION_WAIT,
    KB_ARTICLE,
    LEVEL_NAMES,
    PERSONAL_ACK,
    PHONE_CONTACT,
    REFUND_APPROVAL,
    REGULATORY_FINAL_RESPONSE,
    RESOLUTION,
    RND_FIX,
    Event,
    deadline_type,
    is_instance_of,
)
from workflows.models import (
    AttachmentInfo,
    ComplaintIntake,
    ComplaintOutcome,
    ComplaintReceipt,
    ComplaintState,
    Deadline,
    NextDeadline,
    Phase,
    Status,
)
from workflows.policy import CalendarPolicy
from workflows.records import StaffMember

ACTIVE_PHASES = (Phase.ownership, Phase.resolution)

_WHAT = {
    AUTOMATIC_ACK: "automatic acknowledgement",
    PERSONAL_ACK: "personal acknowledgement",
    PHONE_CONTACT: "phone contact",
    CUSTOMER_UPDATE: "customer update",
    REFUND_APPROVAL: "refund decision by the Finance Manager",
    f"{ESCALATION}_1": f"{LEVEL_NAMES[1]} to act on the escalation",
    f"{ESCALATION}_2": f"{LEVEL_NAMES[2]} to act on the escalation",
    CUSTOMER_AGREEMENT: "the customer's answer to the proposal",
    CUSTOMER_SIGN_OFF: "the customer's written sign-off",
    FINAL_RESPONSE: "final response to the customer",
    RND_FIX: "R&D's technical fix (team rnd)",
    KB_ARTICLE: "knowledge base article (team qa)",
    REGULATORY_FINAL_RESPONSE: "final response within the regulator's limit",
    INFORMATION_WAIT: "the customer's information (the clocks are paused until then)",
}


def what_is_due(name: str, severity: int) -> str:
    """A deadline in the support team's words: `phone_contact_2` -> "phone contact"."""
    kind = deadline_type(name)
    if kind == RESOLUTION:
        return f"resolution (severity {severity})"
    return _WHAT.get(kind, name.replace("_", " "))


def clock(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M UTC")


def recipients(to: list[str], roster: dict[str, StaffMember], customer_email: str | None) -> str:
    """Who an email goes to, for its activity's summary (left unencrypted): staff by roster
    id, the customer as "the customer", never an address."""
    ids = {m.email.lower(): m.id for m in roster.values()}
    names = [ids.get(a.lower()) or ("the customer" if customer_email and
                                    a.lower() == customer_email.lower() else "another address")
             for a in to]
    return ", ".join(dict.fromkeys(names))


def sla_summary(what: str, due_at: datetime) -> str:
    """The summary on a deadline's timer, as the Temporal UI shows it."""
    return f"SLA: {what} due {clock(due_at)}"


def local(instant: datetime | None, cal: CalendarPolicy | None) -> str:
    """An instant as the support team reads it, in the policy's time zone."""
    if instant is None:
        return "(not set)"
    return calendar.local_time(instant, cal or CalendarPolicy()).strftime("%a %d %b %Y, %H:%M %Z")


def describe_deadline(d: Deadline) -> str:
    state = ("superseded" if d.superseded else "breached" if d.breached
             else "met" if d.met_at else "open")
    return f"{d.name} due {clock(d.due_at)} ({state})"


def excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def latest(state: ComplaintState, base: str) -> str:
    """The newest clock of a kind (`phone_contact_2` after a reassignment)."""
    names = [d.name for d in state.deadlines if is_instance_of(d.name, base)]
    return names[-1] if names else base


def this_round(kind: str, state: ComplaintState) -> str:
    """An email's outbox kind, once per resolution: after a reopening (reopening.py) the
    survey, the resolution notice and the RCA go out again under a kind of their own."""
    return kind if state.reopens == 0 else f"{kind}:round{state.reopens + 1}"


def next_name(state: ComplaintState, base: str) -> str:
    n = sum(1 for d in state.deadlines if is_instance_of(d.name, base))
    return base if n == 0 else f"{base}_{n + 1}"


def name_of(roster: Mapping[str, StaffMember], staff_id: str | None) -> str:
    member = roster.get(staff_id or "")
    return member.name if member else (staff_id or "nobody")


def waiting_for(s: ComplaintState, roster: Mapping[str, StaffMember]) -> list[str]:
    """What the complaint waits for, and from whom."""
    if s.outcome is not None and s.outcome.ends_early:  # withdrawn or dismissed: nothing more
        return []
    owner = name_of(roster, s.owner) if s.owner else "the owner"
    waiting: list[str] = []
    if s.paused is not None:  # the clocks wait for it (pauses.py)
        waiting.append(f"the customer's information, asked {clock(s.paused.since)} (the "
                       "resolution and update clocks are paused)")
    if s.phase == Phase.triage:
        agent = roster.get(s.handling_agent or "")
        who = f"{agent.name} ({agent.id})" if agent else "an L1 agent"
        waiting.append(f"personal acknowledgement from {who}")
    elif s.phase in ACTIVE_PHASES:
        if not s.phone_contact_made:
            waiting.append(f"phone call to the customer from {owner}")
        if not s.internal_review_complete:
            waiting.append(f"the 3 Whys and the investigation checklist from {owner}")
        elif not s.action_plan:
            waiting.append(f"an action plan from {owner}")
        elif s.status == Status.awaiting_customer:
            waiting.append("the customer's agreement to the proposed solution")
        elif s.refund.status == "pending_approval":
            waiting.append(f"the Finance Manager's decision on the refund of "
                           f"{s.refund.amount} {s.refund.currency}")
        elif s.refund.status == "approved":
            waiting.append("the refund to be credited to the customer's account")
        elif s.customer_agreed is None:
            waiting.append(f"a solution proposal to the customer from {owner}")
        elif s.fix == "open":
            waiting.append("R&D to deploy the technical fix")
        else:
            waiting.append(f'the customer\'s written "Resolution Confirmed", via {owner}')
    elif s.phase == Phase.post_mortem:
        if not s.rca_submitted:
            waiting.append(f"the root cause analysis from {owner}")
        if s.kb_article == "open":
            waiting.append("the knowledge base article")
    if s.phase in (Phase.post_mortem, Phase.closed) and s.csat_score is None:
        waiting.append("the customer's satisfaction score")
    act = s.deadline(latest(s, f"{ESCALATION}_{s.escalation_level}"))
    if act is not None and act.met_at is None and not act.superseded:
        waiting.append(f"the {LEVEL_NAMES[s.escalation_level]} to act on the escalation")
    return waiting


def changes(s: ComplaintState) -> list[str]:
    """What changed under way, plainly (`status`, the console, the Temporal UI): "severity
    changed from 3 to 1 on ...", "waiting for the customer's information since ...",
    "policy changed on ..."."""
    lines = []
    for e in s.timeline:
        if e.event == Event.retriaged and e.before and e.after:
            (sev_before, _, cat_before), (sev_after, _, cat_after) = (
                e.before.removeprefix("severity ").partition(", "),
                e.after.removeprefix("severity ").partition(", "))
            line = f"severity changed from {sev_before} to {sev_after} on {clock(e.at)} by {e.actor}"
            if cat_before != cat_after:
                line += f" (category from {cat_before} to {cat_after})"
            lines.append(line + (f": {e.reason}" if e.reason else ""))
        elif e.event == Event.policy_changed:
            lines.append(f"policy changed on {clock(e.at)} from {e.before} to {e.after}")
    if s.paused is not None and s.resolved_at is None:
        lines.append(f"waiting for the customer's information since {clock(s.paused.since)} "
                     "(resolution and update clocks paused)")
    return lines


def next_deadline(s: ComplaintState, paused_update_clock: bool = False) -> Deadline | None:
    """The open deadline that falls due first; the customer-update clock's left out while
    it is paused for the customer (its due time moves when the customer answers)."""
    return min((d for d in s.deadlines if d.met_at is None and not d.superseded
                and not d.breached and d.paused_since is None
                and not (paused_update_clock and deadline_type(d.name) == CUSTOMER_UPDATE)),
               key=lambda d: d.due_at, default=None)


ENDED_AS = {
    ComplaintOutcome.confirmed: "resolved, confirmed by the customer",
    ComplaintOutcome.unconfirmed: "resolved, not confirmed by the customer",
    ComplaintOutcome.upheld: "final response: upheld",
    ComplaintOutcome.partly_upheld: "final response: partly upheld",
    ComplaintOutcome.not_upheld: "final response: not upheld",
    ComplaintOutcome.withdrawn: "withdrawn at the customer's request",
    ComplaintOutcome.dismissed: "dismissed: not a complaint",
}


def closed_as(s: ComplaintState) -> str:
    """How a complaint ended, in the team's words."""
    if s.outcome is not None:
        return ENDED_AS[s.outcome]
    return "resolved" if s.resolved_at else s.status.value


def reopened_on(s: ComplaintState) -> str | None:
    """"Reopened on …" once a complaint was taken up again after its resolution."""
    if s.reopened_at is None:
        return None
    times = f" ({s.reopens} times)" if s.reopens > 1 else ""
    return f"Reopened on {clock(s.reopened_at)}{times}"


def ui_details(s: ComplaintState) -> str:
    """The complaint's current details in the Temporal UI (markdown)."""
    lines = [
        f"**{s.crn}** · {s.status.value} · phase {s.phase.value} · severity {s.severity}"
        + (f" · {closed_as(s)}" if s.outcome is not None else ""),
        f"Owner: {s.owner or 'unassigned'} · escalation level {s.escalation_level}"
        + (" · SLA breached" if s.sla_breached else "")
        + (" · Retention Risk" if s.retention_risk else ""),
    ]
    if s.reopened_at is not None:
        lines.append(reopened_on(s) or "")
    due = next_deadline(s)
    if due is not None:
        lines.append(f"Next deadline: {what_is_due(due.name, s.severity)} due {clock(due.due_at)}")
    lines += [f"Waiting for: {w}" for w in s.waiting_for]
    lines += [f"Changed: {c}" for c in changes(s)]
    return "\n\n".join(lines)


def receipt(s: ComplaintState, paused_update_clock: bool = False) -> ComplaintReceipt:
    """What an update returns: the complaint's status, phase, next deadline and last event."""
    due = next_deadline(s, paused_update_clock=paused_update_clock)
    return ComplaintReceipt(
        crn=s.crn, status=s.status, phase=s.phase,
        next_deadline=NextDeadline(name=due.name, due_at=due.due_at) if due else None,
        last_event_seq=s.timeline[-1].seq if s.timeline else 0, outcome=s.outcome)


# The templates that show the case file (severity, status, retention risk, ...); the rest
# name the complaint by its CRN and subject only, so their requests (kept in history)
# leave the case file out.
CASE_FILE_TEMPLATES = frozenset({"owner_assigned", "escalation", "reassigned", "rnd_task",
                                 "refund_approval"})
CASE_FILE = frozenset({"severity", "status", "phase", "category", "severity_score",
                       "retention_risk", "retention_reasons", "customer_id"})


def for_template(template: str, context: dict[str, Any]) -> dict[str, Any]:
    """The email context a template reads (see CASE_FILE_TEMPLATES)."""
    if template in CASE_FILE_TEMPLATES:
        return context
    return {k: v for k, v in context.items() if k not in CASE_FILE}


def mail_context(s: ComplaintState, customer_name: str) -> dict[str, Any]:
    """What every email template about this complaint may use."""
    return {"crn": s.crn, "subject": s.subject, "customer_name": customer_name,
            "severity": s.severity, "status": s.status.value, "phase": s.phase.value,
            "category": s.category.value if s.category else "uncategorised",
            "severity_score": s.severity_score, "retention_risk": s.retention_risk,
            "retention_reasons": ", ".join(s.retention_risk_reasons),
            "customer_id": s.customer_id}


def attachment_list(attachments: list[AttachmentInfo]) -> str:
    """Files as the timeline lists them: name (type, size)."""
    return "; ".join(f"{a.filename or '(unnamed)'} ({a.content_type}, {a.size} bytes)"
                     for a in attachments)


class StartMetadata(TypedDict):
    static_summary: str
    static_details: str


def start_metadata(crn: str, intake: ComplaintIntake) -> StartMetadata:
    """The complaint's static summary and details in the Temporal UI, set when it starts."""
    return {
        "static_summary": f"{crn} · {intake.customer.name or intake.customer.id} · {intake.subject}",
        "static_details": (f"Complaint {crn} from customer {intake.customer.id} via "
                           f"{intake.source.value} ({intake.external_ref})."),
    }
