"""What the reports and the policy what-if say, for `complaints report|policy` and the
console's reports page alike: a policy described line by line, what a proposed policy
changes, and past complaints replayed under both (workflows/whatif.py says how)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from database.history import load_past_complaints, load_supervisors
from database.pool import Connection
from reporting.rendering import DEADLINE_LABELS
from workflows.policy import SlaPolicy, format_duration, snapshot_policy
from workflows.whatif import DEADLINES, Outcome, PastComplaint, simulate


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


@dataclass(frozen=True)
class WhatIf:
    """Past complaints replayed under the current policy and a proposed one."""

    outcomes: list[Outcome]  # current, proposed
    history: list[PastComplaint]
    as_of: datetime


async def what_if(conn: Connection, current: SlaPolicy, proposed: SlaPolicy,
                  since: datetime | None = None) -> WhatIf | None:
    """Replay the complaints received since `since` (all when None) under both policies;
    None when there are none."""
    history = await load_past_complaints(conn, since)
    supervisors = await load_supervisors(conn)
    as_of = datetime.now(UTC)
    if not history:
        return None
    first = min(c.received_at for c in history)
    years = as_of.year - first.year + 1

    def resolved(policy: SlaPolicy) -> SlaPolicy:  # public holidays of every year replayed
        return snapshot_policy(policy, first, years_ahead=years)

    outcomes = [simulate(resolved(p), history, supervisors, as_of) for p in (current, proposed)]
    return WhatIf(outcomes, history, as_of)


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})"


def format_simulation(result: WhatIf, since: date | None, sources: tuple[str, str]) -> str:
    """The what-if as a table a person reads (the CLI prints it, the console shows it)."""
    outcomes, history, as_of = result.outcomes, result.history, result.as_of
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
        (_share(current.breached_complaints, current.complaints),
         _share(proposed.breached_complaints, proposed.complaints)))
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
