"""The SLA policy (workflows/policy.py): loading, durations, errors, holiday snapshots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from workflows.models import Impact
from workflows.policy import (
    DEFAULT_POLICY_PATH,
    DEMO_POLICY_PATH,
    CalendarPolicy,
    PolicyError,
    SlaPolicy,
    format_duration,
    load_policy,
    parse_duration,
    policy_version,
    snapshot_policy,
)

RECEIVED = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped policies ---------------------------------------------------------


def test_default_policy_loads_with_the_strictest_reading() -> None:
    p = load_policy()
    assert p.name == "default"
    assert p.calendar.timezone == "Europe/London"
    assert p.calendar.working_days == ["mon", "tue", "wed", "thu", "fri"]
    assert (p.calendar.day_starts, p.calendar.day_ends) == ("09:00", "17:00")
    assert (p.calendar.holidays_country, p.calendar.holidays_subdivision) == ("GB", "ENG")
    assert p.calendar.holidays == []  # resolved only when a complaint snapshots it
    assert p.acknowledgement.automatic_within == timedelta(hours=1)  # SOP 4
    assert p.acknowledgement.personal_within == timedelta(hours=1)  # CRR-001 1.3
    assert p.ownership.phone_contact_within == timedelta(hours=4)  # CRR-001 2.3
    assert p.communication.customer_update_every == timedelta(hours=24)  # SOP 3
    assert p.communication.warn_at == 0.75
    assert [p.resolution.target(s) for s in (1, 2, 3, 4)] == ["8h", "24h", "5d", "5d"]
    assert p.escalation.team_lead_acts_within == timedelta(hours=2)
    assert p.escalation.head_of_cs_acts_within == timedelta(hours=4)
    assert p.escalation.at_intake_for_severity_up_to == 2
    assert p.retention_risk.repeat_within == timedelta(days=90)
    assert p.retention_risk.legal_or_compliance is False
    assert p.refund.approval_threshold == Decimal("500")
    assert p.refund.approval_within == "24h"
    assert p.lifecycle.survey_reminder_after == timedelta(days=3)
    assert p.lifecycle.archive_after == timedelta(days=30)
    assert load_policy(DEFAULT_POLICY_PATH) == p


def test_demo_policy_loads_in_minutes_and_never_closes() -> None:
    p = load_policy(DEMO_POLICY_PATH)
    assert p.name == "demo"
    assert p.calendar.timezone == "UTC"
    assert p.calendar.working_days == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert (p.calendar.day_starts, p.calendar.day_ends) == ("00:00", "24:00")
    assert p.calendar.holidays_country is None
    assert p.acknowledgement.personal_within == timedelta(minutes=1)
    assert p.ownership.phone_contact_within == timedelta(minutes=4)
    assert p.communication.customer_update_every == timedelta(minutes=24)
    assert [p.resolution.target(s) for s in (1, 2, 3, 4)] == ["8m", "24m", "40m", "40m"]
    assert p.lifecycle.archive_after == timedelta(minutes=30)


def test_a_partial_file_keeps_the_model_defaults_for_the_rest(tmp_path: Path) -> None:
    p = load_policy(write(tmp_path, 'name = "acme"\n[resolution]\nsev1 = "4h"\n'))
    assert p.name == "acme"
    assert p.resolution.sev1 == "4h"
    assert p.resolution.sev2 == "24h"  # model default
    assert p.calendar.timezone == "UTC"  # model default, not default.toml's London


# --- durations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h", 3600),
        ("90m", 90 * 60),  # 5400
        ("1h30m", 3600 + 30 * 60),  # 5400
        ("5d", 5 * 86400),  # 432000 (wall-clock days as a Duration)
        ("45s", 45),
        ("1.5h", 5400),
        (" 2H ", 7200),  # trimmed and case-insensitive
        ("1d2h3m4s", 86400 + 7200 + 180 + 4),  # 93784
        (3600, 3600),  # TOML integer = seconds
        (timedelta(minutes=5), 300),
    ],
)
def test_parse_duration(text, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["1 hour", "", "   ", "0m", "0h0m", "-1h", "PT1H", "h", "1h-30m", "1w", "5 days", "1h 30"],
)
def test_parse_duration_rejects_text(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [0, -3600, 0.0, True, None, [1], timedelta(0)])
def test_parse_duration_rejects_non_durations(value) -> None:
    # a zero or negative number would otherwise serialize as "0s" and break the snapshot
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=90), "90d"),
        (timedelta(seconds=45), "45s"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
        (timedelta(seconds=1.5), "1.5s"),  # sub-second kept, not truncated to "1s"
        (timedelta(minutes=1, microseconds=250000), "1m0.25s"),
    ],
)
def test_format_duration_round_trips(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


# --- bad policy files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        pytest.param(
            '[acknowledgement]\npersonal_within = "1 hour"\n',
            ["acknowledgement.personal_within", "'1 hour' is not a duration"],
            id="bad-duration",
        ),
        pytest.param(
            "[acknowledgement]\npersonal_within = 0\n",
            ["acknowledgement.personal_within", "longer than zero"],
            id="zero-number-duration",
        ),
        pytest.param(
            '[acknowledgement]\npersonal_within = "-1h"\n',
            ["acknowledgement.personal_within"],
            id="negative-duration",
        ),
        pytest.param(
            '[acknowledgment]\npersonal_within = "1h"\n',
            ["acknowledgment: Extra inputs are not permitted"],
            id="typo-section",
        ),
        pytest.param(
            '[calendar]\ntimezone = "Europe/London"\nworking_hours = "9-5"\n',
            ["calendar.working_hours: Extra inputs are not permitted"],
            id="unknown-key",
        ),
        pytest.param(
            '[calendar]\ntimezone = "Europe/Londres"\n',
            ["calendar.timezone", "'Europe/Londres' is not a known time zone"],
            id="bad-timezone",
        ),
        pytest.param(
            '[calendar]\nday_starts = "17:00"\nday_ends = "09:00"\n',
            ["calendar:", "day_ends must be after day_starts"],
            id="day-ends-before-it-starts",
        ),
        pytest.param(
            '[calendar]\nday_starts = "9am"\n',
            ["calendar.day_starts", "'9am' is not a time of day"],
            id="bad-clock",
        ),
        pytest.param(
            '[calendar]\nworking_days = ["mon", "funday"]\n',
            ["calendar.working_days.1"],
            id="bad-weekday",
        ),
        pytest.param(
            '[calendar]\nholidays_country = "XX"\n',
            ["calendar.holidays_country", "'XX'"],
            id="unknown-holidays-country",
        ),
        pytest.param(
            '[calendar]\nholidays_country = "GB"\nholidays_subdivision = "XYZ"\n',
            ["calendar.holidays_country", "'GB'/'XYZ'"],
            id="unknown-holidays-subdivision",
        ),
        pytest.param(
            "[severity.by_impact]\nmany_users = 5\n",
            ["severity.by_impact", "must be 1 to 4, not 5"],
            id="severity-level-5",
        ),
        pytest.param(
            "[severity.by_impact]\neveryone = 1\n",
            ["severity.by_impact.everyone"],
            id="severity-unknown-impact",
        ),
        pytest.param(
            "[communication]\nwarn_at = 1.5\n",
            ["communication.warn_at", "less than 1"],
            id="warn-at-above-one",
        ),
        pytest.param(
            '[resolution]\nsev1 = "eight hours"\n',
            ["resolution.sev1", "'eight hours' is not a duration"],
            id="bad-resolution-target",
        ),
        pytest.param(
            "[calendar\n",
            ["is not valid TOML"],
            id="invalid-toml",
        ),
    ],
)
def test_bad_policy_file_names_the_file_and_the_key(
    tmp_path: Path, toml: str, expected: list[str]
) -> None:
    path = write(tmp_path, toml)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_missing_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match="does not exist") as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_policy_error_is_a_value_error() -> None:
    # callers (the CLI, the worker) may catch ValueError
    assert issubclass(PolicyError, ValueError)


# --- snapshots -------------------------------------------------------------------------

# England and Wales bank holidays in 2026; Boxing Day (Sat 26th) has its substitute Mon 28th.
ENGLAND_2026 = {
    date(2026, 1, 1),
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 4),
    date(2026, 5, 25),
    date(2026, 8, 31),
    date(2026, 12, 25),
    date(2026, 12, 26),
    date(2026, 12, 28),
}


def test_snapshot_resolves_gb_holidays() -> None:
    policy = load_policy()
    snap = snapshot_policy(policy, RECEIVED)
    days = snap.calendar.holidays
    assert {d for d in days if d.year == 2026} == ENGLAND_2026
    assert date(2026, 12, 25) in days and date(2026, 12, 28) in days
    assert date(2026, 12, 24) not in days
    # received in 2026, two years ahead: 2026, 2027, 2028 but not 2029
    assert date(2028, 12, 25) in days
    assert date(2029, 1, 1) not in days
    assert days == sorted(days)
    # the loaded policy itself is untouched, everything else is carried over, and the
    # snapshot names its version (the file's name and a digest of what it says)
    assert policy.calendar.holidays == [] and policy.version is None
    assert snap.version == policy_version(policy) and snap.version.startswith("default@")
    assert snap.model_copy(update={"calendar": policy.calendar, "version": None}) == policy


def test_a_policy_version_changes_with_what_the_policy_says() -> None:
    policy = load_policy()
    assert policy_version(policy) == policy_version(load_policy())
    stricter = policy.model_copy(update={"resolution": policy.resolution.model_copy(
        update={"sev1": "4h"})})
    assert policy_version(stricter) != policy_version(policy)
    # Snapshots for complaints received in other years (other holidays) keep the version.
    assert snapshot_policy(policy, RECEIVED).version == snapshot_policy(
        policy, RECEIVED.replace(year=2030)).version


def test_snapshot_includes_extra_holidays(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[calendar]\ntimezone = "Europe/London"\nholidays_country = "GB"\n'
        'holidays_subdivision = "ENG"\nextra_holidays = ["2026-12-24", "2026-12-31"]\n',
    )
    days = snapshot_policy(load_policy(path), RECEIVED).calendar.holidays
    assert date(2026, 12, 24) in days  # company
    assert date(2026, 12, 31) in days  # company
    assert date(2026, 12, 25) in days  # public
    assert len([d for d in days if d.year == 2026]) == len(ENGLAND_2026) + 2


def test_snapshot_without_a_country_holds_only_the_listed_days() -> None:
    policy = SlaPolicy(
        calendar=CalendarPolicy(
            extra_holidays=[date(2026, 12, 31), date(2026, 12, 24)],
            holidays=[date(2026, 11, 30)],  # dates listed directly are kept too
        )
    )
    snap = snapshot_policy(policy, RECEIVED)
    assert snap.calendar.holidays == [date(2026, 11, 30), date(2026, 12, 24), date(2026, 12, 31)]
    # idempotent: snapshotting a snapshot changes nothing
    assert snapshot_policy(snap, RECEIVED) == snap


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(snapshot_policy(load_policy(), RECEIVED), id="default-snapshot"),
        pytest.param(snapshot_policy(load_policy(DEMO_POLICY_PATH), RECEIVED), id="demo-snapshot"),
        pytest.param(
            SlaPolicy.model_validate(
                {
                    "name": "odd",
                    "acknowledgement": {"personal_within": "1h30m", "automatic_within": "1.5s"},
                    "communication": {"customer_update_every": 7200},
                    "severity": {"by_impact": {"minor": 3}, "unknown": 2},
                    "calendar": {"extra_holidays": ["2026-12-24"]},
                }
            ),
            id="custom-values",
        ),
    ],
)
def test_snapshot_round_trips_through_json(policy: SlaPolicy) -> None:
    # The snapshot travels in Temporal history as JSON: it must come back equal.
    again = SlaPolicy.model_validate_json(policy.model_dump_json())
    assert again == policy


def test_durations_travel_as_readable_text() -> None:
    text = snapshot_policy(load_policy(), RECEIVED).model_dump_json()
    assert '"personal_within":"1h"' in text
    assert '"repeat_within":"90d"' in text
    assert '"2026-12-28"' in text


def test_severity_tables_are_validated_in_python_too() -> None:
    with pytest.raises(ValidationError) as caught:
        SlaPolicy.model_validate({"severity": {"by_category": {"billing_dispute": 0}}})
    assert caught.value.errors()[0]["loc"] == ("severity", "by_category")
    # and a valid override is taken
    assert SlaPolicy.model_validate(
        {"severity": {"by_impact": {"minor": 3}}}
    ).severity.by_impact == {Impact.minor: 3}
