"""Phase 1 decisions (workflows/triage.py): severity, severity score, Retention Risk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from workflows.models import ComplaintIntake
from workflows.policy import SeverityPolicy, SlaPolicy, load_policy
from workflows.records import ComplaintContext, CustomerProfile, EarlierComplaint
from workflows.triage import retention_risk, severity_level, severity_score

RULES = SeverityPolicy()  # the SOP's definitions (default.toml has no [severity] table)
POLICY = load_policy()
RECEIVED = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
CRN = "CRN-2026-000100"


def intake(**fields) -> ComplaintIntake:
    return ComplaintIntake.model_validate(
        {
            "source": "email",
            "external_ref": "msg-1",
            "customer": {"id": "CUST-1"},
            "subject": "It broke",
            "description": "The export fails every time.",
            **fields,
        }
    )


# --- severity level ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "level"),
    [
        # SOP step 2 by impact
        ({"impact": "many_users"}, 1),  # critical: outage for all/many users
        ({"impact": "single_client"}, 2),  # high: one client blocked
        ({"impact": "partial"}, 3),  # medium: partial loss
        ({"impact": "minor"}, 4),  # low: minor
        # impact wins over category
        ({"impact": "minor", "category": "technical_bug"}, 4),
        ({"impact": "many_users", "category": "feature_request"}, 1),
        # no impact: by category
        ({"category": "technical_bug"}, 3),
        ({"category": "billing_dispute"}, 3),
        ({"category": "data_inaccuracy"}, 3),
        ({"category": "service_deficiency"}, 3),
        ({"category": "feature_request"}, 4),
        # neither: the policy's "unknown"
        ({}, 3),
    ],
)
def test_severity_level(fields: dict, level: int) -> None:
    assert severity_level(intake(**fields), RULES) == level


def test_severity_level_follows_the_policy() -> None:
    rules = SeverityPolicy(unknown=2, by_category={"technical_bug": 1})
    assert severity_level(intake(), rules) == 2  # neither impact nor category
    assert severity_level(intake(category="technical_bug"), rules) == 1


def test_partial_severity_tables_fall_through() -> None:
    # A policy file's [severity.by_impact] replaces the whole table; an impact it does not
    # name falls back to the category, then to "unknown" (no KeyError inside the workflow).
    rules = SeverityPolicy(by_impact={"many_users": 1}, by_category={"feature_request": 4})
    assert severity_level(intake(impact="many_users"), rules) == 1
    assert severity_level(intake(impact="partial", category="feature_request"), rules) == 4
    assert severity_level(intake(impact="partial", category="technical_bug"), rules) == 3


# --- severity score ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "lifetime_value", "score"),
    [
        # technical_bug 30 + LTV 150,000 (>= 100,000) 30 + many_users 40 + termination 10
        # = 110, capped at 100
        (
            {
                "category": "technical_bug",
                "impact": "many_users",
                "flags": {"threatens_termination": True},
            },
            Decimal("150000"),
            100,
        ),
        # billing_dispute 25 + LTV 30,000 (>= 25,000) 20 + single_client 30 = 75
        ({"category": "billing_dispute", "impact": "single_client"}, Decimal("30000"), 75),
        # feature_request 5 + LTV 4,999.99 (< 5,000: band 0) 0 + minor 5 + manager 5 = 15
        (
            {"category": "feature_request", "impact": "minor", "flags": {"requests_manager": True}},
            Decimal("4999.99"),
            15,
        ),
        # no category 0 + LTV exactly 5,000 10 + no impact 0 + legal 10 + manager 5 = 25
        (
            {"flags": {"legal_or_compliance": True, "requests_manager": True}},
            Decimal("5000"),
            25,
        ),
        # service_deficiency 20 + LTV exactly 25,000 20 + partial 15 + all flags 25 = 80
        (
            {
                "category": "service_deficiency",
                "impact": "partial",
                "flags": {
                    "threatens_termination": True,
                    "requests_manager": True,
                    "legal_or_compliance": True,
                },
            },
            Decimal("25000"),
            80,
        ),
        # data_inaccuracy 25 + LTV 0 0 = 25
        ({"category": "data_inaccuracy"}, Decimal("0"), 25),
        # technical_bug 30 + LTV exactly 100,000 30 + minor 5 = 65
        ({"category": "technical_bug", "impact": "minor"}, Decimal("100000"), 65),
        # nothing at all: 0
        ({}, Decimal("0"), 0),
    ],
)
def test_severity_score(fields: dict, lifetime_value: Decimal, score: int) -> None:
    assert severity_score(intake(**fields), lifetime_value, RULES) == score


# --- Retention Risk -------------------------------------------------------------------


def earlier(crn: str, days_before: float, category: str | None) -> EarlierComplaint:
    return EarlierComplaint(
        crn=crn,
        category=category,
        received_at=RECEIVED - timedelta(days=days_before),
        status="closed",
    )


def risk(the_intake: ComplaintIntake, context: ComplaintContext | None = None, policy=POLICY):
    return retention_risk(the_intake, context or ComplaintContext(), policy, RECEIVED, CRN)


def test_no_signal_no_tag() -> None:
    r = risk(intake(category="technical_bug"))
    assert (r.tagged, r.reasons, r.recurrent_of) == (False, [], None)


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        ({"threatens_termination": True}, "threatens termination"),
        ({"requests_manager": True}, "requests a manager"),
    ],
)
def test_flag_rules(flags: dict, reason: str) -> None:
    r = risk(intake(flags=flags))
    assert r.tagged is True
    assert r.reasons == [reason]
    assert r.recurrent_of is None


def test_key_account() -> None:
    key = ComplaintContext(profile=CustomerProfile(id="CUST-1", name="Acme", key_account=True))
    r = risk(intake(), key)
    assert (r.tagged, r.reasons) == (True, ["key account"])
    plain = ComplaintContext(profile=CustomerProfile(id="CUST-1", name="Acme"))
    assert risk(intake(), plain).tagged is False


def test_legal_flag_only_when_the_policy_enables_it() -> None:
    legal = intake(flags={"legal_or_compliance": True})
    assert POLICY.retention_risk.legal_or_compliance is False
    r = risk(legal)  # default policy: legal_or_compliance = false
    assert (r.tagged, r.reasons) == (False, [])
    enabled = SlaPolicy.model_validate({"retention_risk": {"legal_or_compliance": True}})
    r = risk(legal, policy=enabled)
    assert (r.tagged, r.reasons) == (True, ["legal or compliance implications"])


def test_a_rule_the_policy_disables_does_not_tag() -> None:
    policy = SlaPolicy.model_validate(
        {"retention_risk": {"threatens_termination": False, "requests_manager": False}}
    )
    r = risk(intake(flags={"threatens_termination": True, "requests_manager": True}), policy=policy)
    assert (r.tagged, r.reasons) == (False, [])


@pytest.mark.parametrize(
    ("history", "category", "tagged", "reasons", "recurrent_of"),
    [
        pytest.param(
            [earlier("CRN-OLD", 30, "technical_bug")],
            "technical_bug",
            True,
            ["repeat complaint within 90 days (earlier: CRN-OLD)"],
            "CRN-OLD",
            id="30-days-same-category",
        ),
        pytest.param(
            [earlier("CRN-OLD", 30, "billing_dispute")],
            "technical_bug",
            True,
            ["repeat complaint within 90 days (earlier: CRN-OLD)"],
            None,
            id="30-days-other-category",
        ),
        pytest.param(
            [earlier("CRN-OLD", 30, "technical_bug")],
            None,  # this intake names no category: a repeat, but no recurrence of a category
            True,
            ["repeat complaint within 90 days (earlier: CRN-OLD)"],
            None,
            id="30-days-no-category",
        ),
        pytest.param(
            [earlier("CRN-OLD", 90, "technical_bug")],  # exactly 90 days: still within
            "technical_bug",
            True,
            ["repeat complaint within 90 days (earlier: CRN-OLD)"],
            "CRN-OLD",
            id="90-days-boundary",
        ),
        pytest.param(
            [earlier("CRN-OLD", 120, "technical_bug")],
            "technical_bug",
            False,
            [],
            None,
            id="120-days",
        ),
        pytest.param(
            [earlier(CRN, 0, "technical_bug")],  # the complaint itself (e.g. a retried read)
            "technical_bug",
            False,
            [],
            None,
            id="itself",
        ),
        pytest.param(
            [earlier("CRN-LATER", -1, "technical_bug")],  # received after this one
            "technical_bug",
            False,
            [],
            None,
            id="later-complaint",
        ),
        pytest.param(
            # the reason names the most recent (B, 10 days); the recurrence is the most
            # recent of the same category (A, 60 days), C is outside the window
            [
                earlier("CRN-C", 100, "technical_bug"),
                earlier("CRN-A", 60, "technical_bug"),
                earlier("CRN-B", 10, "billing_dispute"),
            ],
            "technical_bug",
            True,
            ["repeat complaint within 90 days (earlier: CRN-B)"],
            "CRN-A",
            id="several",
        ),
    ],
)
def test_repeat_complaints(history, category, tagged, reasons, recurrent_of) -> None:
    context = ComplaintContext(earlier_complaints=history)
    r = risk(intake(category=category), context)
    assert (r.tagged, r.reasons, r.recurrent_of) == (tagged, reasons, recurrent_of)


def test_repeat_window_follows_the_policy() -> None:
    policy = SlaPolicy.model_validate({"retention_risk": {"repeat_within": "30d"}})
    history = ComplaintContext(earlier_complaints=[earlier("CRN-OLD", 45, "technical_bug")])
    # 45 days earlier is inside the default 90 but outside 30
    assert risk(intake(category="technical_bug"), history).tagged is True
    r = risk(intake(category="technical_bug"), history, policy=policy)
    assert (r.tagged, r.recurrent_of) == (False, None)
    history = ComplaintContext(earlier_complaints=[earlier("CRN-OLD", 20, "technical_bug")])
    r = risk(intake(category="technical_bug"), history, policy=policy)
    assert r.reasons == ["repeat complaint within 30 days (earlier: CRN-OLD)"]


def test_every_reason_in_order() -> None:
    context = ComplaintContext(
        profile=CustomerProfile(id="CUST-1", name="Acme", key_account=True),
        earlier_complaints=[earlier("CRN-OLD", 5, "billing_dispute")],
    )
    the_intake = intake(
        category="billing_dispute",
        flags={
            "threatens_termination": True,
            "requests_manager": True,
            "legal_or_compliance": True,
        },
    )
    r = risk(the_intake, context)  # legal is off in the default policy
    assert r.tagged is True
    assert r.reasons == [
        "threatens termination",
        "key account",
        "requests a manager",
        "repeat complaint within 90 days (earlier: CRN-OLD)",
    ]
    assert r.recurrent_of == "CRN-OLD"
