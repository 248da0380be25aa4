"""The SLA policy: every number the complaint procedure runs on, in one validated TOML file.

The seeds disagree on numbers (acknowledge in 1 h or 24 h, Sev 1 in 8 business
hours or 24 h); the built-in default (`policies/default.toml`) is the strictest
reading, CRR-001 + SOP v2.0. A company replaces it with COMPLAINTS_POLICY.

Each complaint snapshots the policy it started under (holidays resolved into
dates), so changing the file never rewrites a running complaint's deadlines.
Loading and resolving holidays happen outside workflow code; the model itself
is pure data the workflow can hold.
"""

from __future__ import annotations

import base64
import importlib.resources
import re
import tomllib
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzdata
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from workflows.models import Category, Impact

POLICY_DIR = Path(__file__).parent / "policies"
DEFAULT_POLICY_PATH = POLICY_DIR / "default.toml"
DEMO_POLICY_PATH = POLICY_DIR / "demo.toml"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: object) -> timedelta:
    """'1h', '90m', '1h30m', '5d', '45s' (or a timedelta / seconds) -> timedelta."""
    if isinstance(value, timedelta | int | float) and not isinstance(value, bool):
        # A zero or negative number would pass here but serialize as "0s"/"-1 day..." and
        # then fail to load back from the complaint's snapshot: refuse it like "0m".
        result = value if isinstance(value, timedelta) else timedelta(seconds=value)
        if result <= timedelta(0):
            raise ValueError("must be longer than zero")
        return result
    if not isinstance(value, str):
        raise ValueError("must be a duration such as '1h', '30m' or '5d'")
    text = value.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration such as '1h', '30m', '1h30m' or '5d'")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    # Lossless (sub-second parts kept), so a snapshot round-trips through JSON exactly.
    seconds, micros = divmod(value // timedelta(microseconds=1), 1_000_000)
    out = []
    for unit in ("d", "h", "m"):
        n, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if n:
            out.append(f"{n}{unit}")
    if micros:
        out.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    elif seconds:
        out.append(f"{seconds}s")
    return "".join(out) or "0s"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


class Section(BaseModel):
    # An unknown key in a policy is almost always a typo that would silently fall back.
    model_config = ConfigDict(extra="forbid", frozen=True)



def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone (e.g. 'Europe/London')") from None
    return value


# An IANA time-zone name, checked when a policy or a report request is read.
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]


class CalendarPolicy(Section):
    """Working hours. Resolution targets count only this time (business hours)."""

    timezone: TimeZoneName = "UTC"
    working_days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    day_starts: str = "09:00"
    day_ends: str = "17:00"
    # Public holidays of this country (and subdivision) via the `holidays` package, resolved
    # into `holidays` when a complaint snapshots the policy.
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    extra_holidays: list[date] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    # Pinned by the snapshot: the zone's rules (a TZif file, base64) and their IANA release,
    # from the `tzdata` package, so the host's rules never change a running complaint.
    timezone_rules: str | None = None
    timezone_rules_version: str | None = None

    @field_validator("day_starts", "day_ends")
    @classmethod
    def _clock(cls, value: str) -> str:
        match = _CLOCK.match(value)
        if not match or (match.group(1) == "24" and match.group(2) != "00"):
            raise ValueError(f"{value!r} is not a time of day 'HH:MM' (00:00 to 24:00)")
        return value

    @model_validator(mode="after")
    def _day_has_hours(self) -> CalendarPolicy:
        if self.start_minute >= self.end_minute:
            raise ValueError("day_ends must be after day_starts")
        return self

    @property
    def start_minute(self) -> int:
        h, m = self.day_starts.split(":")
        return int(h) * 60 + int(m)

    @property
    def end_minute(self) -> int:
        h, m = self.day_ends.split(":")
        return int(h) * 60 + int(m)


class AcknowledgementPolicy(Section):
    automatic_within: Duration = timedelta(hours=1)  # SOP 4: acknowledgement < 1 hour
    personal_within: Duration = timedelta(hours=1)  # CRR-001 Phase 1.3


class OwnershipPolicy(Section):
    phone_contact_within: Duration = timedelta(hours=4)  # CRR-001 Phase 2.3
    # A new owner after `reassign` gets a fresh phone-contact clock if no call was made yet.
    reassignment_restarts_phone_contact: bool = True


class CommunicationPolicy(Section):
    customer_update_every: Duration = timedelta(hours=24)  # SOP step 3: silence is not acceptable
    warn_at: Fraction = 0.75


class ResolutionPolicy(Section):
    """Resolution targets in business time: 'h' business hours, 'd' business days."""

    sev1: str = "8h"
    sev2: str = "24h"
    sev3: str = "5d"
    sev4: str = "5d"
    warn_at: Fraction = 0.75

    @field_validator("sev1", "sev2", "sev3", "sev4")
    @classmethod
    def _business_duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def target(self, severity: int) -> str:
        return str(getattr(self, f"sev{severity}"))


class EscalationPolicy(Section):
    """How long an escalated person has to act before it moves one level up."""

    team_lead_acts_within: Duration = timedelta(hours=2)
    head_of_cs_acts_within: Duration = timedelta(hours=4)
    # SOP 4: a Severity 1 or 2 complaint goes to a team lead at intake.
    at_intake_for_severity_up_to: int = Field(default=2, ge=0, le=4)


class RetentionRiskPolicy(Section):
    """Which signals tag a complaint 'Retention Risk' (CRR-001 Phase 1.2)."""

    threatens_termination: bool = True
    key_account: bool = True
    requests_manager: bool = True
    legal_or_compliance: bool = False
    repeat_within: Duration = timedelta(days=90)


class SeverityPolicy(Section):
    """Severity 1-4 by the SOP's definitions, and the severity score (the complaint management process, step 3)."""

    # SOP step 2: 1 outage for all/many users, 2 single client, 3 partial, 4 minor.
    by_impact: dict[Impact, int] = Field(
        default_factory=lambda: {
            Impact.many_users: 1,
            Impact.single_client: 2,
            Impact.partial: 3,
            Impact.minor: 4,
        }
    )
    # When the intake names no impact.
    by_category: dict[Category, int] = Field(
        default_factory=lambda: {
            Category.technical_bug: 3,
            Category.billing_dispute: 3,
            Category.data_inaccuracy: 3,
            Category.service_deficiency: 3,
            Category.feature_request: 4,
        }
    )
    unknown: int = Field(default=3, ge=1, le=4)
    # Score = category weight + lifetime-value band + urgency (impact) + flags, capped at 100.
    category_weight: dict[Category, int] = Field(
        default_factory=lambda: {
            Category.technical_bug: 30,
            Category.billing_dispute: 25,
            Category.data_inaccuracy: 25,
            Category.service_deficiency: 20,
            Category.feature_request: 5,
        }
    )
    # [[minimum lifetime value, points]], highest band that applies wins.
    lifetime_value_bands: list[tuple[Decimal, int]] = Field(
        default_factory=lambda: [
            (Decimal(100000), 30),
            (Decimal(25000), 20),
            (Decimal(5000), 10),
            (Decimal(0), 0),
        ]
    )
    urgency_weight: dict[Impact, int] = Field(
        default_factory=lambda: {
            Impact.many_users: 40,
            Impact.single_client: 30,
            Impact.partial: 15,
            Impact.minor: 5,
        }
    )
    flag_weight: dict[str, int] = Field(
        default_factory=lambda: {
            "threatens_termination": 10,
            "legal_or_compliance": 10,
            "requests_manager": 5,
        }
    )

    @field_validator("by_impact", "by_category")
    @classmethod
    def _levels(cls, value: dict[Any, int]) -> dict[Any, int]:
        for key, level in value.items():
            if not 1 <= level <= 4:
                raise ValueError(f"severity for {key} must be 1 to 4, not {level}")
        return value


class RefundPolicy(Section):
    approval_threshold: Decimal = Decimal("500")
    approval_for_every_refund: bool = False
    approval_within: str = "24h"  # business time, like resolution targets
    warn_at: Fraction = 0.75


class LifecyclePolicy(Section):
    survey_reminder_after: Duration = timedelta(days=3)
    archive_after: Duration = timedelta(days=30)


class DataRequestPolicy(Section):
    """A customer's data on request (docs/data-requests.md): whether staff's internal notes
    on their complaints go into the export (they may hold others' views of the customer)."""
    notes_disclosable: bool = False


class WaitingPolicy(Section):
    """How long the complaint waits for the customer, in business time like resolution
    targets ('d' working days): one reminder at `reminder_at` of the wait, then it acts."""

    agreement_wait: str = "5d"  # after a proposal: then the owner is told, and it escalates
    sign_off_wait: str = "5d"  # after the sign-off request: then resolved, unconfirmed
    reminder_at: Fraction = 0.5

    @field_validator("agreement_wait", "sign_off_wait")
    @classmethod
    def _business_duration(cls, value: str) -> str:
        parse_duration(value)
        return value


DEFAULT_CLOSING_TEXT = (
    "This is our final response to your complaint. If you are not satisfied with it, you may "
    "ask for it to be reviewed by our Head of Customer Success by replying to this email.")


class FinalResponsePolicy(Section):
    """Deadlock: after `max_proposals` refused proposals the owner is asked for a final
    response within `within` (business time); `closing_text` ends every final response
    letter (a policy with a [regulatory] section uses its `referral_text` instead)."""

    max_proposals: int = Field(default=3, ge=1)
    within: str = "5d"
    warn_at: Fraction = 0.75
    closing_text: str = DEFAULT_CLOSING_TEXT

    @field_validator("within")
    @classmethod
    def _business_duration(cls, value: str) -> str:
        parse_duration(value)
        return value


_PERIOD = re.compile(r"^(\d+)\s*(weeks?|days?|business\s+days?)$")


def parse_period(value: str) -> tuple[int, str]:
    """'8 weeks', '15 days' (calendar) or '3 business days' -> (8, 'weeks')..."""
    match = _PERIOD.match(" ".join(value.strip().lower().split()))
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a period such as '8 weeks', '15 days' or "
                         "'3 business days'")
    unit = match.group(2)
    return int(match.group(1)), ("business_days" if unit.startswith("business")
                                 else "weeks" if unit.startswith("week") else "days")


def _period(value: str) -> str:
    parse_period(value)
    return value


# A regulator's period: calendar weeks or days, or business days (which end at the close of
# business on the n-th working day after the day the complaint was received).
Period = Annotated[str, AfterValidator(_period)]


class RegulatoryPolicy(Section):
    """A regulator's complaint-handling clocks (off unless the policy has the section)."""

    regulator: str  # who sets the rules, as the letters name it ("FCA DISP", "CFPB")
    final_response_within: Period  # from receipt; met by a final response or confirmed resolution
    extended_final_response_within: Period | None = None  # after a holding response
    summary_resolution_within: Period | None = None  # resolved within it: the summary letter
    warn_at: Fraction = 0.75
    referral_text: str  # the customer's right to refer the complaint, and the time limit


class SlaPolicy(Section):
    name: str = "default"
    calendar: CalendarPolicy = Field(default_factory=CalendarPolicy)
    acknowledgement: AcknowledgementPolicy = Field(default_factory=AcknowledgementPolicy)
    ownership: OwnershipPolicy = Field(default_factory=OwnershipPolicy)
    communication: CommunicationPolicy = Field(default_factory=CommunicationPolicy)
    resolution: ResolutionPolicy = Field(default_factory=ResolutionPolicy)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    retention_risk: RetentionRiskPolicy = Field(default_factory=RetentionRiskPolicy)
    severity: SeverityPolicy = Field(default_factory=SeverityPolicy)
    refund: RefundPolicy = Field(default_factory=RefundPolicy)
    lifecycle: LifecyclePolicy = Field(default_factory=LifecyclePolicy)
    waiting: WaitingPolicy = Field(default_factory=WaitingPolicy)
    final_response: FinalResponsePolicy = Field(default_factory=FinalResponsePolicy)
    regulatory: RegulatoryPolicy | None = None
    data_requests: DataRequestPolicy = Field(default_factory=DataRequestPolicy)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and the key."""


def describe_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"{where}: {e['msg']}")
    return "; ".join(lines)


def load_policy(path: str | Path | None = None) -> SlaPolicy:
    """Read and validate a policy TOML file (the built-in default when path is None)."""
    path = Path(path) if path else DEFAULT_POLICY_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise PolicyError(f"policy file {path} is not valid TOML: {err}") from None
    try:
        policy = SlaPolicy.model_validate(raw)
    except ValidationError as err:
        raise PolicyError(f"policy file {path}: {describe_validation_error(err)}") from None
    if policy.calendar.holidays_country:
        try:  # resolve once now, so a bad country fails the start, not a complaint
            snapshot_policy(policy, datetime.now().astimezone(), years_ahead=0)
        except NotImplementedError:
            raise PolicyError(
                f"policy file {path}: calendar.holidays_country: no public holidays are known "
                f"for {policy.calendar.holidays_country!r}/{policy.calendar.holidays_subdivision!r}"
            ) from None
    return policy


def snapshot_policy(policy: SlaPolicy, received_at: datetime, years_ahead: int = 2) -> SlaPolicy:
    """The policy as one complaint keeps it: public holidays resolved into dates.

    Not for workflow code (the `holidays` package computes dates, an activity calls this).
    """
    cal = policy.calendar
    days = set(cal.extra_holidays) | set(cal.holidays)  # dates listed directly are kept
    if cal.holidays_country:
        import holidays as holiday_tables  # imported here: only activities resolve holidays

        years = range(received_at.year, received_at.year + years_ahead + 1)
        table = holiday_tables.country_holidays(
            cal.holidays_country, subdiv=cal.holidays_subdivision, years=years
        )
        days.update(table.keys())
    rules, version = timezone_rules(cal.timezone)
    resolved = cal.model_copy(update={"holidays": sorted(days), "timezone_rules": rules,
                                      "timezone_rules_version": version})
    return policy.model_copy(update={"calendar": resolved})


def timezone_rules(name: str) -> tuple[str | None, str | None]:
    """The `tzdata` package's rules for a zone (base64 TZif) and their IANA release."""
    try:
        data = importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()
    except (FileNotFoundError, IsADirectoryError):  # not a zone tzdata ships: host rules
        return None, None
    return base64.b64encode(data).decode("ascii"), tzdata.IANA_VERSION
