"""Where PostgreSQL holds a customer's personal data: the one list that erasure
(database/erasure.py) and export (database/export.py) both work from.

Each table on it is either blanked by an erasure (its personal columns replaced, its ids
and numbers kept for the reports) or kept as it is (ids, amounts and dates only); an export
carries every one of them. Erasure refuses to finish, and export to write, if a table on the
list was not handled: adding a table here without teaching both fails loudly, and
tests/test_data_requests.py fails when a table with personal-looking columns
(information_schema) is on neither this list nor NOT_CUSTOMER_DATA.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CustomerTable:
    name: str
    holds: str          # what of the customer's it holds, in a line (docs, the export's index)
    erased: bool        # an erasure blanks its personal columns; False: ids and numbers only


CUSTOMER_TABLES: tuple[CustomerTable, ...] = (
    CustomerTable("customers", "the profile: name, email, phone, account figures", True),
    CustomerTable("orders", "their orders: ids, amounts, currency", False),
    CustomerTable("credit_notes", "credit notes on their orders: ids and amounts", False),
    CustomerTable("refunds", "refunds and credits applied to their account", False),
    CustomerTable("complaints", "each complaint: what they wrote, how it went", True),
    CustomerTable("complaint_events", "each complaint's timeline (the resolution log)", True),
    CustomerTable("complaint_archive", "the archived complaints' snapshots", True),
    CustomerTable("email_outbox", "every email sent to them about their complaints", True),
    CustomerTable("inbound_messages", "every email they sent, suspended ones included", True),
    CustomerTable("inbound_attachments", "the attachments of their emails", True),
    CustomerTable("customer_link_uses", "their answers through links (agreement, sign-off, "
                  "survey)", True),
    CustomerTable("notes", "staff's internal notes on their complaints (exported only when "
                  "the policy's data_requests.notes_disclosable says so)", True),
    CustomerTable("webhook_events", "events about their complaints queued for webhook "
                  "receivers (their details only where a subscription asked for them)", True),
    CustomerTable("staff_alerts", "staff alerts about their complaints held for a digest "
                  "(a line each, e.g. an escalation's reason)", True),
    CustomerTable("erasures", "the record of an erasure of their data", False),
    CustomerTable("exports", "the record of each export of their data", False),
)

# Tables with personal-looking columns that hold no customer's data, and why.
NOT_CUSTOMER_DATA: dict[str, str] = {
    "staff": "the roster: staff members, not customers",
    "staff_passwords": "staff's password hashes",
    "console_sessions": "staff's console sessions",
    "console_sign_in_failures": "failed staff sign-ins (the login tried)",
    "reports": "aggregate reports for the head of customer success: counts, no customer",
    "api_keys": "intake systems' keys",
    "auth_failures": "failed API authentications by client address",
    "webhook_subscriptions": "webhook receivers: URLs, secrets, descriptions; no customer",
    "reply_templates": "the canned replies staff keep: placeholders, no customer's data",
}


def table(name: str) -> CustomerTable:
    return next(t for t in CUSTOMER_TABLES if t.name == name)


def check_covered(kind: str, tables: list[CustomerTable], handled: set[str]) -> None:
    """Raise if `kind` (erasure, export) left a table of the list unhandled."""
    missed = [t.name for t in tables if t.name not in handled]
    if missed:
        raise RuntimeError(f"{kind} does not cover {', '.join(missed)} "
                           "(database/personal_data.py lists it): nothing was done")
