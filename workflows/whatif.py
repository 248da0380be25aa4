"""Policy what-if: replay the recorded life of past complaints against a policy's deadlines
and calendar, and count the deadlines it would have breached and the escalations it would
have raised. Run for the current policy and a proposed one, side by side, a support lead
sees what a new SLA would have done before it goes live.

Pure functions over the resolution log (`complaint_events`), like the calendar they use.
What each deadline is measured against (the recorded events stay as they happened):

- personal acknowledgement: due `personal_within` after intake; met by the
  `acknowledged_personally` event.
- phone contact: due `phone_contact_within` after `owner_assigned` (and again after each
  `reassigned` before the call, when the policy restarts the clock); met by `phone_contact`.
- customer update: due `customer_update_every` after intake and after each message to the
  customer (`customer_update`, `solution_proposed`); a proposal pauses the clock until
  `update_clock_resumed`, which restarts it with a full interval. One breach per silence.
- resolution: the policy's business-time target for the complaint's severity (worked out
  again from its impact and category under the policy), on the policy's calendar, from
  intake; met by `resolved`.
- escalation chain: the first escalation gives a team lead `team_lead_acts_within` to act
  (any logged action by a team lead or head of customer success); if none does, it goes to
  level 2, and the head of customer success has `head_of_cs_acts_within`.
- the customer's answer to a proposal: due `agreement_wait` (business time) after each
  `solution_proposed`; met by the customer's answer or reply, or a new action plan.
- a final response after deadlock: due `[final_response] within` (business time) after the
  policy's `max_proposals`-th `customer_disagreed`; met by `final_response`.
- a regulator's final-response limit (a policy with [regulatory]): due its period after
  intake (its extension once a `holding_response` was logged); met by `final_response`, or
  a resolution someone other than the system recorded (the customer's sign-off; a
  resolution the system recorded because nobody signed off does not meet it). Its breach
  escalates to level 2.
- a reopened complaint (`reopened`): its resolution target again, from the reopening; met
  by the next `resolved` (the first target is met by the first `resolved`); a pause for the
  customer's information moves the target of the round it fell in.
- the hand-offs' deadlines (the policy's [handoffs], business time): R&D's fix from
  `rnd_task_opened`, met by `fix_deployed`; the KB article from `kb_task_opened`, met by
  `kb_article_done`. Each is its team's: a breach counts, but does not escalate the
  complaint, and is not closed by the resolution (only by a withdrawal or dismissal).
- changes under way: a re-triaged complaint keeps the severity people gave it (its last
  `retriaged`), its target from intake; a move into the severities that escalate at intake
  escalates then; the clocks paused for the customer's information (`clocks_paused` to
  `clocks_resumed`) move the resolution target by the paused business time, and the update
  clock waits as it does for a proposal. The information wait itself is not replayed (the
  customer's silence resumes the clocks rather than breaching).
- A complaint's resolution, its withdrawal at the customer's request (`withdrawn`) or its
  dismissal (`dismissed`) closes every deadline still open; a deadline still running now is
  not counted.

Escalations counted are the ones the policy causes: one per breached acknowledgement,
phone, update or resolution deadline, one at intake for a severity at or under
`at_intake_for_severity_up_to`, and the step to level 2 when a team lead did not act in
time. Simplifications: escalations for reasons no policy changes (a key account, the
customer asking for a manager, a manual escalation, a refund above the threshold) are not
counted, though they do start the team lead's clock; the automatic acknowledgement (sent
by the system in seconds), the refund approval deadline and the sign-off wait (the
customer's silence, which resolves a complaint rather than breaching) are not replayed;
people are assumed to have acted when they did, whatever the deadlines were.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workflows.calendar import (
    add_business_time,
    business_deadline,
    business_time_between,
    period_deadline,
)
from workflows.events import (
    CUSTOMER_AGREEMENT,
    CUSTOMER_UPDATE,
    FINAL_RESPONSE,
    KB_ARTICLE,
    MESSAGES_TO_CUSTOMER,
    PERSONAL_ACK,
    PHONE_CONTACT,
    REGULATORY_FINAL_RESPONSE,
    RESOLUTION,
    RND_FIX,
    DeadlineName,
    Event,
)
from workflows.models import Category, Impact
from workflows.policy import SlaPolicy
from workflows.triage import severity_level

TEAM_LEAD_TO_ACT = DeadlineName.escalation_level_1.value
HEAD_TO_ACT = DeadlineName.escalation_level_2.value
DEADLINES = (PERSONAL_ACK, PHONE_CONTACT, CUSTOMER_UPDATE, RESOLUTION, CUSTOMER_AGREEMENT,
             FINAL_RESPONSE, REGULATORY_FINAL_RESPONSE, TEAM_LEAD_TO_ACT, HEAD_TO_ACT,
             RND_FIX, KB_ARTICLE)
# Each hand-off's deadline: its name, the event that opens it, the one that meets it.
HANDOFFS = ((RND_FIX, Event.rnd_task_opened, Event.fix_deployed),
            (KB_ARTICLE, Event.kb_task_opened, Event.kb_article_done))
# Breaches that go straight to the head of customer success.
TO_LEVEL_TWO = frozenset({REGULATORY_FINAL_RESPONSE})
# Escalation reasons that depend on the policy (left out of "independent" escalations).
_POLICY_REASONS = re.compile(
    r"^(SLA breached|nobody acted on the level|Severity \d at intake|re-triaged to Severity)")


@dataclass(frozen=True)
class LoggedEvent:
    at: datetime
    event: str
    actor: str = "system"
    detail: str = ""
    reason: str | None = None  # an escalation's reasons ("; "-separated)
    after: str | None = None  # what a change made it (retriaged: "severity 1, technical_bug")


@dataclass(frozen=True)
class PastComplaint:
    """A complaint as the database recorded it: its row and its resolution log, in order."""

    crn: str
    received_at: datetime
    impact: Impact | None
    category: Category | None
    resolved_at: datetime | None
    events: tuple[LoggedEvent, ...]


@dataclass
class Replay:
    """One complaint under one policy: (instant, deadline) breached, (instant, level) raised."""

    crn: str
    severity: int
    breaches: list[tuple[datetime, str]] = field(default_factory=list)
    escalations: list[tuple[datetime, int]] = field(default_factory=list)


@dataclass
class Outcome:
    """A policy's totals over the history."""

    policy_name: str
    complaints: int = 0
    breaches: Counter[str] = field(default_factory=Counter)
    escalations: Counter[int] = field(default_factory=Counter)
    breached_complaints: int = 0
    replays: dict[str, Replay] = field(default_factory=dict)

    @property
    def total_breaches(self) -> int:
        return sum(self.breaches.values())

    @property
    def total_escalations(self) -> int:
        return sum(self.escalations.values())


def simulate(policy: SlaPolicy, complaints: list[PastComplaint], supervisors: dict[str, int],
             as_of: datetime) -> Outcome:
    """`policy` must have its holidays resolved (`snapshot_policy`) for the years replayed.
    `supervisors` maps the roster ids of team leads (1) and heads of customer success (2)."""
    outcome = Outcome(policy_name=policy.name)
    for complaint in complaints:
        replay = replay_complaint(policy, complaint, supervisors, as_of)
        outcome.complaints += 1
        outcome.replays[complaint.crn] = replay
        outcome.breaches.update(name for _, name in replay.breaches)
        outcome.escalations.update(level for _, level in replay.escalations)
        outcome.breached_complaints += bool(replay.breaches)
    return outcome


def retriaged(c: PastComplaint) -> list[tuple[datetime, int]]:
    """The severities people gave it after intake (`retriaged`), in order."""
    out = []
    for e in c.events:
        if e.event == Event.retriaged and e.after:
            level = e.after.removeprefix("severity ").split(",")[0]
            if level.isdigit():
                out.append((e.at, int(level)))
    return out


def paused_business_time(policy: SlaPolicy, c: PastComplaint, horizon: datetime,
                         start: datetime | None = None) -> timedelta:
    """The business time its clocks waited for the customer's information (`clocks_paused`
    to `clocks_resumed`, or to `horizon` while still paused), counting pauses from `start`
    (a reopening) when given."""
    total, since = timedelta(0), None
    for e in c.events:
        if e.at >= horizon:
            break
        if start is not None and e.at < start:
            continue
        if e.event == Event.clocks_paused and since is None:
            since = e.at
        elif e.event == Event.clocks_resumed and since is not None:
            total += business_time_between(policy.calendar, since, e.at)
            since = None
    if since is not None:
        total += business_time_between(policy.calendar, since, horizon)
    return total


def replay_complaint(policy: SlaPolicy, c: PastComplaint, supervisors: dict[str, int],
                     as_of: datetime) -> Replay:
    # A severity people set by re-triage stands under any policy; the resolution target is
    # the final severity's, from intake, moved by the time paused for the customer.
    changes = retriaged(c)
    severity = changes[-1][1] if changes else severity_level(c, policy.severity)
    replay = Replay(crn=c.crn, severity=severity)
    def first(event: str) -> datetime | None:
        return next((e.at for e in c.events if e.event == event), None)

    # Resolution (or a withdrawal at the customer's request) closes what is still open;
    # otherwise only what fell due by now counts.
    horizon = c.resolved_at or first(Event.withdrawn) or first(Event.dismissed) or as_of

    def check(name: str, due: datetime, met: datetime | None) -> None:
        if due < min(met or horizon, horizon):
            replay.breaches.append((due, name))

    check(PERSONAL_ACK, c.received_at + policy.acknowledgement.personal_within,
          first(Event.acknowledged_personally))
    _phone_clocks(policy, c, first(Event.phone_contact), check)
    _update_clock(policy, c, horizon, replay)
    # The first target, met by the first resolution; each reopening sets it again. The time
    # paused for the customer's information moves the round it was paused in.
    first_round_end = first(Event.reopened) or horizon
    check(RESOLUTION, add_business_time(
        policy.calendar, business_deadline(policy.calendar, c.received_at,
                                           policy.resolution.target(severity)),
        paused_business_time(policy, c, first_round_end)),
        first(Event.resolved) or c.resolved_at)
    _reopened_resolutions(policy, c, severity, horizon, check)
    _agreement_waits(policy, c, check)
    _final_response_clocks(policy, c, check)

    # Every breach above escalates (at level 1, or 2 once there); so does a high severity.
    raised = [at for at, name in replay.breaches if name not in TO_LEVEL_TWO]
    straight_to_two = [at for at, name in replay.breaches if name in TO_LEVEL_TWO]
    threshold = policy.escalation.at_intake_for_severity_up_to
    at_intake = severity_level(c, policy.severity) if changes else severity
    if at_intake <= threshold:
        raised.append(c.received_at)
    level = at_intake
    for at, new in changes:  # a move into the severities that escalate at intake
        if new <= threshold < level:
            raised.append(at)
        level = new
    independent = [e.at for e in c.events if e.event == Event.escalated and _independent(e.reason or "")]
    level_two_at = _escalation_chain(policy, c, supervisors, horizon,
                                     min(raised + independent, default=None), replay)
    for at in sorted(raised):
        replay.escalations.append((at, 2 if level_two_at and at >= level_two_at else 1))
    if level_two_at:
        replay.escalations.append((level_two_at, 2))
    replay.escalations += [(at, 2) for at in straight_to_two]
    _handoff_clocks(policy, c, first(Event.withdrawn) or first(Event.dismissed) or as_of,
                    replay)
    replay.escalations.sort()
    replay.breaches.sort()
    return replay


def _reopened_resolutions(policy: SlaPolicy, c: PastComplaint, severity: int,
                          horizon: datetime,
                          check: Callable[[str, datetime, datetime | None], None]) -> None:
    """Each reopening sets the resolution target again, from its instant, moved by the time
    paused for the customer's information before the next reopening."""
    for i, e in enumerate(c.events):
        if e.event != Event.reopened:
            continue
        later = c.events[i + 1:]
        again = next((x.at for x in later if x.event == Event.resolved), None)
        round_end = next((x.at for x in later if x.event == Event.reopened), horizon)
        check(RESOLUTION, add_business_time(
            policy.calendar, business_deadline(policy.calendar, e.at,
                                               policy.resolution.target(severity)),
            paused_business_time(policy, c, round_end, start=e.at)), again)


def _handoff_clocks(policy: SlaPolicy, c: PastComplaint, end: datetime,
                    replay: Replay) -> None:
    """The teams' deadlines: counted, never escalating the complaint (handoffs.py)."""
    for name, opened, done in HANDOFFS:
        for i, e in enumerate(c.events):
            if e.event != opened:
                continue
            met = next((later.at for later in c.events[i + 1:] if later.event == done), None)
            due = business_deadline(policy.calendar, e.at, getattr(policy.handoffs, name))
            if due < min(met or end, end):
                replay.breaches.append((due, name))


ANSWERS = frozenset({Event.customer_agreed, Event.customer_disagreed, Event.customer_replied,
                     Event.action_plan})


def _agreement_waits(policy: SlaPolicy, c: PastComplaint,
                     check: Callable[[str, datetime, datetime | None], None]) -> None:
    """Each proposal waits `agreement_wait` for the customer's answer (or a new plan)."""
    for i, e in enumerate(c.events):
        if e.event != Event.solution_proposed:
            continue
        answer = next((later.at for later in c.events[i + 1:] if later.event in ANSWERS), None)
        check(CUSTOMER_AGREEMENT,
              business_deadline(policy.calendar, e.at, policy.waiting.agreement_wait), answer)


def _final_response_clocks(policy: SlaPolicy, c: PastComplaint,
                           check: Callable[[str, datetime, datetime | None], None]) -> None:
    """Deadlock's final response, and a regulator's limit from intake."""
    final = next((e.at for e in c.events if e.event == Event.final_response), None)
    refusals = [e.at for e in c.events if e.event == Event.customer_disagreed]
    rules = policy.final_response
    if len(refusals) >= rules.max_proposals:
        check(FINAL_RESPONSE, business_deadline(
            policy.calendar, refusals[rules.max_proposals - 1], rules.within), final)
    regulatory = policy.regulatory
    if regulatory is None:
        return
    period = regulatory.final_response_within
    if (regulatory.extended_final_response_within is not None
            and any(e.event == Event.holding_response for e in c.events)):
        period = regulatory.extended_final_response_within
    signed_off = next((e.at for e in c.events if e.event == Event.resolved
                       and e.actor != "system"), None)
    met = min((t for t in (final, signed_off) if t is not None), default=None)
    check(REGULATORY_FINAL_RESPONSE, period_deadline(policy.calendar, c.received_at, period),
          met)


def _phone_clocks(policy: SlaPolicy, c: PastComplaint, call: datetime | None,
                  check: Callable[[str, datetime, datetime | None], None]) -> None:
    """CRR-001 2.3: the owner calls within N hours; a new owner before the call gets a fresh
    clock when the policy says so, which supersedes the old one."""
    starts = [e.at for e in c.events if e.event == Event.owner_assigned][:1]
    if policy.ownership.reassignment_restarts_phone_contact:
        starts = sorted(starts + [e.at for e in c.events if e.event == Event.reassigned
                                  and (call is None or e.at < call)])
    within = policy.ownership.phone_contact_within
    for i, start in enumerate(starts):
        superseded = starts[i + 1] if i + 1 < len(starts) else None
        ends = [t for t in (call, superseded) if t is not None]
        check(PHONE_CONTACT, start + within, min(ends, default=None))


def _update_clock(policy: SlaPolicy, c: PastComplaint, horizon: datetime, replay: Replay
                  ) -> None:
    """SOP 3: a substantive update every N hours; the clock waits while the customer
    considers a proposal; after a breach, one escalation until the next message."""
    every = policy.communication.customer_update_every
    due: datetime = c.received_at + every
    paused_with: timedelta | None = None
    breached = False

    def falls_due_before(t: datetime) -> None:
        nonlocal breached
        if paused_with is None and not breached and due < t:
            replay.breaches.append((due, CUSTOMER_UPDATE))
            breached = True

    for e in c.events:
        if e.at >= horizon:
            break
        falls_due_before(e.at)
        if e.event in MESSAGES_TO_CUSTOMER or e.event == Event.information_requested:
            due, breached = e.at + every, False
            if e.event in (Event.solution_proposed, Event.information_requested):
                paused_with = every
        elif e.event == Event.update_clock_resumed and paused_with is not None:
            due, paused_with, breached = e.at + paused_with, None, False
    falls_due_before(horizon)


def _escalation_chain(policy: SlaPolicy, c: PastComplaint, supervisors: dict[str, int],
                      horizon: datetime, first_escalation: datetime | None,
                      replay: Replay) -> datetime | None:
    """The team lead's clock from the first escalation; returns when it went to level 2."""
    if first_escalation is None or first_escalation >= horizon:
        return None

    def acted(level: int, start: datetime, by: datetime) -> bool:
        return any(start <= e.at <= by and supervisors.get(e.actor, 0) >= level
                   for e in c.events)

    team_lead_by = first_escalation + policy.escalation.team_lead_acts_within
    if team_lead_by >= horizon or acted(1, first_escalation, team_lead_by):
        return None
    replay.breaches.append((team_lead_by, TEAM_LEAD_TO_ACT))
    head_by = team_lead_by + policy.escalation.head_of_cs_acts_within
    if head_by < horizon and not acted(2, team_lead_by, head_by):
        replay.breaches.append((head_by, HEAD_TO_ACT))
    return team_lead_by


def _independent(reason: str) -> bool:
    """An escalation no policy causes (a key account, a manual one): its reasons include one
    that is not an SLA breach or the severity rule."""
    return any(not _POLICY_REASONS.match(r.strip()) for r in reason.split(";") if r.strip())
