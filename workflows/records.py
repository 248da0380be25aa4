"""The records a complaint is about, as the database holds them (the roster, customers,
orders) and as the context activity reads them for Phase 1 (`ComplaintContext`, the result
of `load_context`). Not the public contract (`workflows/models.py`): the workflow receives
them from its activity and the seed file (database/seed.py) is made of them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints

from workflows.models import Category, LanguageTag, Model, Name, Role, Status


class StaffMember(Model):
    id: Name
    name: Name
    email: EmailStr
    role: Role
    skills: list[Category] = Field(default_factory=list)
    available: bool = True
    # The team whose queue and hand-off deadlines this person shares ("support", "rnd", "qa",
    # "finance"); a team lead leads the team named here.
    team: Name = "support"


class CustomerProfile(Model):
    id: Name
    name: Name
    email: EmailStr | None = None
    phone: str | None = None
    key_account: bool = False
    lifetime_value: Decimal = Decimal("0")
    loyalty_tier: str | None = None
    csm: str | None = None
    account_balance: Decimal = Decimal("0")
    # The language the customer is written to in (a tag: "de"); None: English.
    language: LanguageTag | None = None


class CreditNote(Model):
    id: Name
    amount: Decimal = Field(ge=0)


class Order(Model):
    id: Name
    customer_id: Name
    net_amount: Decimal = Field(ge=0)
    tax_rate: Decimal = Field(ge=0, le=1)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    credit_notes: list[CreditNote] = Field(default_factory=list)


class EarlierComplaint(Model):
    crn: str
    category: Category | None
    received_at: datetime
    status: Status


class ComplaintContext(Model):
    """What Phase 1 reads about the customer before triage."""

    profile: CustomerProfile | None = None
    order: Order | None = None
    earlier_complaints: list[EarlierComplaint] = Field(default_factory=list)
    roster: list[StaffMember] = Field(default_factory=list)
