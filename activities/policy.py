"""The policy snapshot a complaint takes at its start (holidays resolved into dates)."""

from __future__ import annotations

from datetime import datetime

from temporalio import activity

from workflows import activity_types
from workflows.policy import SlaPolicy, snapshot_policy


class PolicyActivities(activity_types.PolicyActivities):
    def __init__(self, policy: SlaPolicy) -> None:
        self.policy = policy

    @activity.defn
    async def snapshot_sla_policy(self, received_at: datetime) -> SlaPolicy:
        """The worker's configured policy as this complaint will keep it for its whole life."""
        return snapshot_policy(self.policy, received_at)
