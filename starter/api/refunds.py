"""`POST /complaints/{crn}/refund-decision`: the Finance Manager approves or rejects the
refund waiting for a decision, and gets the answer at once (the `decide_refund` update)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations, and
# the body is a model built at run time.

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from starter.api.bodies import body_model, strict_body, with_actor
from starter.api.complaints import Crn, known_crn
from starter.api.deps import Staff, Temporal
from starter.api.errors import forbidden, in_time, refuse_unless, responses
from starter.operations import decide_refund, get_status
from workflows import models as m
from workflows.models import ComplaintState
from workflows.permissions import check_actor

router = APIRouter(tags=["actions"])
DecisionBody = body_model(m.RefundDecision)


@router.post(
    "/complaints/{crn}/refund-decision", operation_id="refund_decision",
    summary="The Finance Manager approves or rejects the pending refund",
    description="Sent as the `decide_refund` update: 200 with the complaint's state once the "
    "workflow took the decision (refund `approved`, then `applied` a moment later); 403 for "
    "anyone but a finance manager; 409 when the complaint refuses it (nothing pending, an "
    "amount above the maximum or above the one requested), and nothing changes.",
    responses=responses(401, 403, 404, 409, 422, 503),
)
async def refund_decision(crn: Crn, principal: Staff, body: DecisionBody,  # type: ignore[valid-type]
                          strict: Annotated[BaseModel, strict_body(DecisionBody)],
                          client: Temporal) -> ComplaintState:
    member = principal.staff
    if member is None:  # the Staff dependency refused intake keys already
        raise forbidden("an intake key may not decide a refund")
    refuse_unless(lambda: check_actor("decide_refund", member.id, {member.id: member}))
    known_crn(crn)
    decision = with_actor(m.RefundDecision, strict, member.id)
    await in_time(decide_refund(client, crn, decision), "refund decision")
    return await in_time(get_status(client, crn), "the complaint's status")
