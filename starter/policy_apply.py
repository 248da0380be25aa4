"""A new SLA policy for the open complaints: `complaints policy apply FILE [--dry-run]`, the
API's POST /policy/apply and the console's policy page all call `apply_policy`.

The dry run is the what-if over the open complaints: for each, which open deadlines move,
from when to when, and which would breach at once (workflows/policy_moves.py, read against
the complaint's own snapshot, the `policy` query). The real run sends each the
`adopt_policy` update with the new snapshot (its holidays resolved from its own intake), and
the complaint makes the same computation itself. A complaint already under the policy says
so and changes nothing (the same file twice is safe); one that closed meanwhile is left as
it is. Each update is answered in turn, between the other actions on the complaint, so a
complaint being acted on meanwhile moves under the policy from wherever it then is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client

from starter.operations import (
    ActionNotPermitted,
    ActionRefused,
    ComplaintNotFound,
    act,
    get_status,
)
from workflows import policy_moves, refusals
from workflows.actions import ACTIONS
from workflows.complaint import ComplaintWorkflow
from workflows.models import ComplaintState, Status
from workflows.policy import PolicyAdoption, SlaPolicy, policy_version, snapshot_policy
from workflows.policy_moves import DeadlineMove
from workflows.records import StaffMember

OPEN_COMPLAINTS = "WorkflowType = 'ComplaintWorkflow' AND ExecutionStatus = 'Running'"
CLOSED = (Status.resolved, Status.closed, Status.archived)


@dataclass
class ComplaintPlan:
    crn: str
    before: str  # the policy version it runs under
    moves: list[DeadlineMove] = field(default_factory=list)
    outcome: str = "would move"  # moved | unchanged (already under it) | skipped: why

    @property
    def breaches_at_once(self) -> list[DeadlineMove]:
        return [m for m in self.moves if m.breaches_at_once]


@dataclass
class PolicyApplication:
    version: str
    dry_run: bool
    at: datetime
    plans: list[ComplaintPlan] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for p in self.plans if p.outcome.startswith(outcome))

    @property
    def moving(self) -> list[ComplaintPlan]:
        return [p for p in self.plans if p.outcome in ("moved", "would move")]

    @property
    def deadlines_moved(self) -> int:
        return sum(len(p.moves) for p in self.moving)

    @property
    def breaching_at_once(self) -> int:
        return sum(len(p.breaches_at_once) for p in self.moving)

    def lines(self) -> list[str]:
        """The report people read: a summary, then each complaint with its moves."""
        verb = "would move" if self.dry_run else "moved"
        out = [f"policy {self.version}: {len(self.plans)} open complaint(s); "
               f"{len(self.moving)} {verb} to it ({self.deadlines_moved} deadline(s), "
               f"{self.breaching_at_once} breaching at once); "
               f"{self.count('unchanged')} already under it; {self.count('skipped')} skipped"
               + (" (dry run: nothing sent)" if self.dry_run else "")]
        for p in self.plans:
            out.append(f"  {p.crn} ({p.before}): {p.outcome}")
            out += [f"    {policy_moves.describe(m)}" for m in p.moves]
        return out


async def open_complaints(client: Client) -> list[str]:
    """The running complaints' CRNs (visibility; each one's status decides if it is open)."""
    return [wf.id async for wf in client.list_workflows(OPEN_COMPLAINTS)]


def check_may_apply(member: StaffMember | None, actor: str) -> None:
    roles = ACTIONS["adopt_policy"].roles
    if member is None or member.role not in roles:
        names = ", ".join(sorted(r.value for r in roles))
        raise ActionNotPermitted(f"{actor!r} may not apply a policy to open complaints; it "
                                 f"needs one of: {names}")


async def apply_policy(client: Client, policy: SlaPolicy, member: StaffMember | None,
                       actor: str, *, dry_run: bool, crns: Iterable[str] | None = None,
                       now: datetime | None = None) -> PolicyApplication:
    """The dry run (nothing sent) or the real run over `crns` (default: the open ones)."""
    check_may_apply(member, actor)
    version = policy.version or policy_version(policy)
    result = PolicyApplication(version=version, dry_run=dry_run, at=now or datetime.now(UTC))
    for crn in (list(crns) if crns is not None else await open_complaints(client)):
        result.plans.append(await _one(client, crn, policy, version, actor, dry_run,
                                       now or datetime.now(UTC)))
    return result


async def _one(client: Client, crn: str, policy: SlaPolicy, version: str, actor: str,
               dry_run: bool, now: datetime) -> ComplaintPlan:
    try:
        state: ComplaintState = await get_status(client, crn)
        current: SlaPolicy | None = await client.get_workflow_handle(crn).query(
            ComplaintWorkflow.policy)
    except ComplaintNotFound:
        return ComplaintPlan(crn, "-", outcome="skipped: not found")
    before = (current.version or current.name) if current else "(registering)"
    if state.status in CLOSED or state.outcome is not None:
        return ComplaintPlan(crn, before, outcome=f"skipped: {state.status.value}")
    if current is None:
        return ComplaintPlan(crn, before, outcome="skipped: still being registered")
    if current.version == version:
        return ComplaintPlan(crn, before, outcome="unchanged: already under it")
    snapshot = snapshot_policy(policy.model_copy(update={"version": version}),
                               state.received_at)
    plan = ComplaintPlan(crn, before, policy_moves.plan(state, current, snapshot, now))
    if dry_run:
        return plan
    try:
        await act(client, crn, "adopt_policy", PolicyAdoption(actor=actor, policy=snapshot))
    except ActionRefused as err:
        plan.moves = []
        plan.outcome = ("unchanged: already under it" if err.kind is refusals.AlreadyDone
                        else f"skipped: {err}")
        return plan
    plan.outcome = "moved"
    return plan
