"""Phase 1 decisions as pure functions: severity, severity score, Retention Risk.

Kept apart from the workflow so each rule is unit-tested on its own and the
workflow reads as the procedure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from workflows.models import Category, ComplaintIntake, Impact
from workflows.policy import SeverityPolicy, SlaPolicy
from workflows.records import ComplaintContext


class Classified(Protocol):
    """What severity is decided from: an intake, or a past complaint replayed (whatif.py)."""

    @property
    def impact(self) -> Impact | None: ...
    @property
    def category(self) -> Category | None: ...


def severity_level(intake: Classified, rules: SeverityPolicy) -> int:
    """SOP step 2: 1 critical (many users), 2 high (single client), 3 partial, 4 minor."""
    # A policy file's [severity.by_impact] / [severity.by_category] table replaces the whole
    # default mapping, so it may not name every key: fall through instead of a KeyError.
    if intake.impact is not None and intake.impact in rules.by_impact:
        return rules.by_impact[intake.impact]
    if intake.category is not None and intake.category in rules.by_category:
        return rules.by_category[intake.category]
    return rules.unknown


def severity_score(intake: ComplaintIntake, lifetime_value: Decimal, rules: SeverityPolicy) -> int:
    """The complaint management process, step 3: category + customer lifetime value + urgency, 0 to 100."""
    score = rules.category_weight.get(intake.category, 0) if intake.category else 0
    for minimum, points in sorted(rules.lifetime_value_bands, reverse=True):
        if lifetime_value >= minimum:
            score += points
            break
    if intake.impact is not None:
        score += rules.urgency_weight.get(intake.impact, 0)
    flags = intake.flags.model_dump()
    score += sum(points for flag, points in rules.flag_weight.items() if flags.get(flag))
    return min(score, 100)


@dataclass(frozen=True)
class RetentionRisk:
    tagged: bool
    reasons: list[str]
    recurrent_of: str | None  # the earlier complaint this one repeats, if any


def retention_risk(
    intake: ComplaintIntake,
    context: ComplaintContext,
    policy: SlaPolicy,
    received_at: datetime,
    crn: str,
) -> RetentionRisk:
    """CRR-001 Phase 1.2: which of the policy's rules tag this complaint Retention Risk."""
    rules = policy.retention_risk
    reasons: list[str] = []
    if rules.threatens_termination and intake.flags.threatens_termination:
        reasons.append("threatens termination")
    if rules.key_account and context.profile is not None and context.profile.key_account:
        reasons.append("key account")
    if rules.requests_manager and intake.flags.requests_manager:
        reasons.append("requests a manager")
    if rules.legal_or_compliance and intake.flags.legal_or_compliance:
        reasons.append("legal or compliance implications")
    earlier = [
        c
        for c in context.earlier_complaints
        if c.crn != crn and received_at - rules.repeat_within <= c.received_at <= received_at
    ]
    earlier.sort(key=lambda c: c.received_at, reverse=True)
    if earlier:
        days = rules.repeat_within.days
        reasons.append(f"repeat complaint within {days} days (earlier: {earlier[0].crn})")
    same_category = [c for c in earlier if intake.category and c.category == intake.category]
    # The customer wrote again about a complaint closed past reopening: it recurs of that
    # one, whatever its category (the repeat rule above tags it like any repeat).
    recurrent_of = intake.follow_up_of or (same_category[0].crn if same_category else None)
    return RetentionRisk(
        tagged=bool(reasons),
        reasons=reasons,
        recurrent_of=recurrent_of,
    )
