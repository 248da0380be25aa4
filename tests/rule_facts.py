"""What the update rules read (`rules.ActionFacts`), built for the pure rule tests: a
registered complaint owned by sam in the ownership phase, with the demo roster's roles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from workflows import models as m
from workflows import records
from workflows.complaint import rules
from workflows.models import Phase, Role, Status

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
ROSTER = {
    sid: records.StaffMember(id=sid, name=sid.capitalize(), email=f"{sid}@example.com", role=role)
    for sid, role in [("ana", Role.agent), ("sam", Role.specialist), ("carla", Role.csm),
                      ("tom", Role.team_lead), ("helen", Role.head_of_cs),
                      ("fiona", Role.finance_manager), ("raj", Role.rnd), ("quinn", Role.qa)]
}
ORDER = records.Order(id="ord-1", customer_id="cust-1", net_amount=Decimal("100.00"),
                tax_rate=Decimal("0.20"), currency="GBP")


def complaint(**state: object) -> rules.ActionFacts:
    """A registered complaint owned by sam in the ownership phase, unless told otherwise."""
    s = m.ComplaintState(crn="CRN-TEST", source=m.Source.web, external_ref="r", customer_id="cust-1",
                         subject="s", received_at=T0, phase=Phase.ownership,
                         status=Status.under_investigation, owner="sam")
    return rules.ActionFacts(state=s.model_copy(update=state), roster=ROSTER,
                           customer_email="kim@example.com", order=ORDER)
