"""Time-zone rules are pinned per complaint: its policy snapshot carries the zone's rules
(from the `tzdata` package) and their IANA release, and every deadline is worked out from
those. A worker whose host rules change (a tzdata upgrade, a different base image) replays
a running complaint to exactly the deadlines it had."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import tzdata
from temporalio.api.enums.v1 import EventType

from tests.conftest import ComplaintStack
from workflows import calendar
from workflows.complaint import RESOLUTION
from workflows.policy import load_policy, snapshot_policy


class TokyoEverywhere:
    """Host rules that have moved: every zone the host is asked for is Asia/Tokyo's."""

    def __new__(cls, key: str) -> ZoneInfo:  # type: ignore[misc]  # stands in for ZoneInfo
        return ZoneInfo("Asia/Tokyo")

    from_file = staticmethod(ZoneInfo.from_file)


@pytest.fixture
def host_rules_moved(monkeypatch: pytest.MonkeyPatch):
    calendar._zone_from.cache_clear()
    monkeypatch.setattr(calendar, "ZoneInfo", TokyoEverywhere)
    yield
    calendar._zone_from.cache_clear()


async def snapshot_of(stack: ComplaintStack, crn: str) -> dict:
    history = await stack.client.get_workflow_handle(crn).fetch_history()
    first = next(e for e in history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    return json.loads(first.activity_task_completed_event_attributes.result.payloads[0].data)


def test_the_snapshot_pins_the_rules_and_the_calendar_reads_only_them(host_rules_moved):
    at = datetime(2026, 3, 27, 15, tzinfo=UTC)  # Friday before the clocks go forward in London
    pinned = snapshot_policy(load_policy(None), at).calendar
    assert pinned.timezone == "Europe/London"
    assert pinned.timezone_rules_version == tzdata.IANA_VERSION and pinned.timezone_rules
    unpinned = pinned.model_copy(update={"timezone_rules": None, "timezone_rules_version": None})
    # 8 business hours from Friday 15:00 London time: Monday 15:00 BST (14:00 UTC).
    assert calendar.business_deadline(pinned, at, "8h") == datetime(2026, 3, 30, 14, tzinfo=UTC)
    # The same calendar read by the (moved) host rules lands elsewhere: the fixture bites.
    assert calendar.business_deadline(unpinned, at, "8h") != calendar.business_deadline(
        pinned, at, "8h")


async def test_a_running_complaint_replays_to_the_same_deadlines_when_host_rules_change(
        stack: ComplaintStack, monkeypatch: pytest.MonkeyPatch):
    async with stack.worker(max_cached_workflows=0):  # every task and query replays it whole
        crn = (await stack.submit()).crn
        before = await stack.until(crn, lambda s: s.deadline(RESOLUTION) is not None)
        snapshot = (await snapshot_of(stack, crn))["calendar"]
        assert snapshot["timezone"] == "Europe/London"
        assert snapshot["timezone_rules_version"] == tzdata.IANA_VERSION

        calendar._zone_from.cache_clear()
        monkeypatch.setattr(calendar, "ZoneInfo", TokyoEverywhere)
        try:
            after = await stack.status(crn)
        finally:
            monkeypatch.undo()
            calendar._zone_from.cache_clear()
    assert after.estimated_resolution_at == before.estimated_resolution_at
    assert [(d.name, d.due_at, d.warn_at) for d in after.deadlines] == [
        (d.name, d.due_at, d.warn_at) for d in before.deadlines]
    await stack.terminate_all()
