"""Contexts every customer-facing template renders with in the language tests
(tests/test_languages.py): each key the workflow gives that template, with values that
show dates, amounts and durations. Not a test module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# The instant the German samples show: 7 December 2026, 16:00 in Berlin.
INSTANT = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
LINKS = {"status": "https://care.example.com/c/status/t0k3n",
         "agreement": "https://care.example.com/c/agreement/t0k3n",
         "sign_off": "https://care.example.com/c/sign_off/t0k3n",
         "survey": "https://care.example.com/c/survey/t0k3n",
         "information": "https://care.example.com/c/information/t0k3n"}
BASE: dict[str, Any] = {"crn": "CRN-2026-000123", "subject": "Broken delivery",
                        "customer_name": "Erika Mustermann", "links": LINKS}
# The default policy's closing text, which the German catalog has too.
_REFERRAL = {"referral_text": "This is our final response to your complaint. If you are not "
                              "satisfied with it, you may ask for it to be reviewed by our "
                              "Head of Customer Success by replying to this email."}

EMAILS: dict[str, dict[str, Any]] = {
    "acknowledgement": {
        "agent_name": "Anna Agent", "estimated_resolution": "Mon 07 Dec 2026, 16:00 CET",
        "personal_within": "1h", "update_every": "24h",
        "estimated_resolution_at": INSTANT.isoformat(), "time_zone": "Europe/Berlin",
        "personal_within_seconds": 3600, "update_every_seconds": 86400},
    "personal_acknowledgement": {"message": "Hello, I am looking into it.",
                                 "agent_name": "Anna Agent"},
    "customer_update": {"message": "We found the parcel.", "owner_name": "Otto Owner"},
    "solution_proposal": {"message": "We propose a refund.", "owner_name": "Otto Owner"},
    "refund_applied": {"amount": "1234.50", "currency": "EUR", "order_id": "ORD-1",
                       "credit_note": "CN-1"},
    "sign_off_request": {"owner_name": "Otto Owner", "reminder": True,
                         "due": "Mon 07 Dec 2026, 16:00 CET", "due_at": INSTANT.isoformat(),
                         "time_zone": "Europe/Berlin"},
    "resolution_notice": {"owner_name": "Otto Owner"},
    "survey": {"reminder": True},
    "sign_off_confirm": {},
    "agreement_reminder": {"owner_name": "Otto Owner", "due": "Mon 07 Dec 2026, 16:00 CET",
                           "due_at": INSTANT.isoformat(), "time_zone": "Europe/Berlin"},
    "resolution_unconfirmed": {"owner_name": "Otto Owner", **_REFERRAL},
    "summary_resolution": {"owner_name": "Otto Owner", **_REFERRAL},
    "final_response": {"message": "We looked at everything.", "outcome": "partly_upheld",
                       "owner_name": "Otto Owner", "redress": "1234.50", "currency": "EUR",
                       **_REFERRAL},
    "not_a_complaint": {},
    "follow_up_started": {"earlier_crn": "CRN-2026-000099"},
    "information_request": {"message": "Could you send us a photo of the parcel?",
                            "owner_name": "Otto Owner"},
    "information_reminder": {"owner_name": "Otto Owner", "due": "Mon 07 Dec 2026, 16:00 CET",
                             "due_at": INSTANT.isoformat(), "time_zone": "Europe/Berlin"},
}
# Each email again in its other branches (no reminder, no links, another outcome).
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("sign_off_request", {"reminder": False, "links": {"sign_off": None}}),
    ("survey", {"reminder": False, "links": {"survey": None}}),
    ("agreement_reminder", {"links": {"agreement": None}}),
    ("acknowledgement", {"links": {"status": None}}),
    ("solution_proposal", {"links": {"agreement": None}}),
    ("sign_off_confirm", {"links": {"sign_off": None}}),
    ("final_response", {"outcome": "upheld", "redress": None}),
    ("final_response", {"outcome": "not_upheld"}),
    ("information_request", {"links": {"information": None}}),
    ("information_reminder", {"links": {"information": None}}),
]


def email_contexts() -> list[tuple[str, dict[str, Any]]]:
    """(template, context) for every customer email and each of its branches."""
    out = [(name, {**BASE, **ctx}) for name, ctx in EMAILS.items()]
    out += [(name, {**BASE, **EMAILS[name], **extra}) for name, extra in VARIANTS]
    return out
