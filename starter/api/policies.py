"""`POST /policy/apply`: a new SLA policy for the open complaints (the head of customer
success), as `complaints policy apply` does: `dry_run` says which deadlines would move and
which would breach at once; the real run sends each open complaint the `adopt_policy`
update (starter/policy_apply.py)."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import asyncio
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from starter.api.deps import Staff, Temporal
from starter.api.errors import ApiError, forbidden, responses
from starter.operations import ActionNotPermitted
from starter.policy_apply import PolicyApplication, apply_policy
from workflows.policy import PolicyError, policy_from_text

router = APIRouter(tags=["policy"])
MAX_POLICY_CHARS = 64 * 1024
APPLY_TIMEOUT = 300.0  # seconds for the whole run


class PolicyApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_toml: str = Field(max_length=MAX_POLICY_CHARS,
                             description="the policy file's content (TOML)")
    dry_run: bool = Field(default=True, description="only say what would move (the default)")
    only: list[str] | None = Field(default=None, max_length=1000,
                                   description="only these CRNs (default: every open one)")


class MoveOut(BaseModel):
    deadline: str
    due_before: datetime
    due_after: datetime
    breaches_at_once: bool
    paused: bool


class ComplaintOut(BaseModel):
    crn: str
    policy_before: str
    outcome: str = Field(description="would move | moved | unchanged: ... | skipped: ...")
    moves: list[MoveOut]


class PolicyApplyOut(BaseModel):
    version: str
    dry_run: bool
    complaints: list[ComplaintOut]
    moving: int
    deadlines_moved: int
    breaching_at_once: int
    summary: list[str]


def _out(result: PolicyApplication) -> PolicyApplyOut:
    return PolicyApplyOut(
        version=result.version, dry_run=result.dry_run, moving=len(result.moving),
        deadlines_moved=result.deadlines_moved, breaching_at_once=result.breaching_at_once,
        summary=result.lines(),
        complaints=[ComplaintOut(crn=p.crn, policy_before=p.before, outcome=p.outcome, moves=[
            MoveOut(deadline=m.name, due_before=m.due_before, due_after=m.due_after,
                    breaches_at_once=m.breaches_at_once, paused=m.paused) for m in p.moves])
            for p in result.plans])


@router.post(
    "/policy/apply", operation_id="policy_apply",
    summary="Move the open complaints to a new SLA policy (or, dry run, say what would move)",
    description="The head of customer success. `dry_run` (the default): for each open "
    "complaint, which open deadlines move, from when to when, and which would breach at once; "
    "nothing is sent. Otherwise each is sent the `adopt_policy` update with the new snapshot; "
    "one already under the policy is `unchanged`, so the same file twice is safe. 422 for a "
    "policy that does not parse or validate; 403 for anyone else.",
    responses=responses(401, 403, 422, 503),
)
async def policy_apply(principal: Staff, body: PolicyApplyBody,
                       client: Temporal) -> PolicyApplyOut:
    member = principal.staff
    if member is None:
        raise forbidden("an intake key may not apply a policy")
    try:
        policy = policy_from_text(body.policy_toml, "(policy_toml)")
    except PolicyError as err:
        raise ApiError(422, "invalid", str(err)) from None
    try:  # one query (and update) per open complaint: more time than one action's
        result = await asyncio.wait_for(apply_policy(client, policy, member, member.id,
                                                     dry_run=body.dry_run, crns=body.only),
                                        APPLY_TIMEOUT)
    except ActionNotPermitted as err:
        raise forbidden(str(err)) from None
    except TimeoutError:
        raise ApiError(503, "unavailable", f"applying the policy: not done within "
                       f"{APPLY_TIMEOUT:.0f} s (is a worker running?); run it again: "
                       "complaints already moved are left unchanged",
                       headers={"Retry-After": "5"}) from None
    return _out(result)
