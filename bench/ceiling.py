"""The ceiling that `python -m bench` measures the complaint against: the bare shape, run
by `BenchCeilingWorkflow` with one activity that does nothing (`bench_no_op`).

`BenchCeilingWorkflow` does what a complaint does to Temporal, and nothing else: the same
number of activities (no-ops), timers (the ones that run out and the ones a met deadline
cancels) and updates, in the same steps, taken from a real complaint's recorded history
(`bench.history.shape_from_history`). No validators, no state, no search attributes, no
payloads: what is left is the cost of Temporal itself on this machine.

`bench --explain` adds back one of the complaint's costs at a time (its search-attribute
upserts, its payload sizes) to show how much of the gap each one is; the ceiling never has them.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import datetime, timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field

    from workflows import search_attributes as sa

NO_OP = "bench_no_op"
# A timer the complaint cancels (a deadline met before it fell due) never runs out here either.
CANCELLED_LATER = timedelta(days=1)
QUICK = timedelta(seconds=5)


class Step(BaseModel):
    """What one of the complaint's workflow tasks asked of the server."""

    activities: int = 0
    timers_started: int = 0  # timers cancelled later (a deadline met before it fell due)
    timers_cancelled: int = 0
    sleeps: list[float] = Field(default_factory=list)  # timers that run out (seconds)
    upserts: int = 0  # search-attribute upserts (only with `Extras.upserts`)


class Segment(BaseModel):
    """The steps between one update and the next (segment 0: from the start)."""

    steps: list[Step] = Field(default_factory=list)


class Extras(BaseModel):
    """The complaint's costs `bench --explain` adds back, one at a time."""

    upserts: bool = False  # the complaint's upserts of its nine search attributes
    activity_input_bytes: int = 0  # the complaint's mean payload sizes
    activity_result_bytes: int = 0
    update_reply_bytes: int = 0


class BareShape(BaseModel):
    segments: list[Segment]
    extras: Extras = Field(default_factory=Extras)

    @property
    def updates(self) -> int:
        return len(self.segments) - 1

    def totals(self) -> dict[str, int]:
        steps = [st for seg in self.segments for st in seg.steps]
        return {
            "activities": sum(st.activities for st in steps),
            "timers": sum(st.timers_started + len(st.sleeps) for st in steps),
            "timers_fired": sum(len(st.sleeps) for st in steps),
            "timers_cancelled": sum(st.timers_cancelled for st in steps),
            "updates": self.updates,
        }


@workflow.defn(name="BenchCeilingWorkflow")
class BenchCeilingWorkflow:
    def __init__(self) -> None:
        self.updates = 0
        self.reply = ""

    def _updated(self, times: int) -> bool:
        return self.updates >= times

    @workflow.run
    async def run(self, shape: BareShape) -> int:
        extras = shape.extras
        self.reply = "x" * extras.update_reply_bytes
        padded = extras.activity_input_bytes or extras.activity_result_bytes
        pad = ["x" * extras.activity_input_bytes, extras.activity_result_bytes] if padded else []
        open_timers: list[asyncio.Task[None]] = []
        done = 0
        for i, segment in enumerate(shape.segments):
            await workflow.wait_condition(functools.partial(self._updated, i))
            for step in segment.steps:
                open_timers += [asyncio.create_task(workflow.sleep(CANCELLED_LATER))
                                for _ in range(step.timers_started)]
                for _ in range(min(step.timers_cancelled, len(open_timers))):
                    open_timers.pop(0).cancel()
                if extras.upserts:
                    for n in range(step.upserts):
                        _upsert(done + n)
                work = [workflow.execute_activity(NO_OP, args=pad, start_to_close_timeout=QUICK)
                        for _ in range(step.activities)]
                work += [workflow.sleep(seconds) for seconds in step.sleeps]
                await asyncio.gather(*work)
                done += step.activities
        # Timers still open when the complaint completes are left open here too.
        return done

    @workflow.update
    async def step(self, n: int) -> str:
        self.updates += 1
        return self.reply


@workflow.defn(name="BenchTimerWorkflow")
class BenchTimerWorkflow:
    """The storm's ceiling (`bench --storm`): one timer to the instant a complaint's deadline
    falls due, nothing else; returns how late its workflow task saw it (seconds), as a
    complaint's breach is timed at `workflow.now()` of the task its timer woke."""

    @workflow.run
    async def run(self, due_at: datetime) -> float:
        left = due_at - workflow.now()
        if left > timedelta(0):
            await workflow.sleep(left)
        return (workflow.now() - due_at).total_seconds()


def _upsert(n: int) -> None:
    """All nine of the complaint's search attributes, as `ComplaintWorkflow._changed` does."""
    workflow.upsert_search_attributes([
        sa.COMPLAINT_STATUS.value_set(f"status-{n % 4}"),
        sa.COMPLAINT_PHASE.value_set(f"phase-{n % 3}"),
        sa.COMPLAINT_CATEGORY.value_set("data_inaccuracy"),
        sa.COMPLAINT_OWNER.value_set("sam"),
        sa.CUSTOMER_ID.value_set("bench"),
        sa.COMPLAINT_SEVERITY.value_set(3),
        sa.ESCALATION_LEVEL.value_set(0),
        sa.RETENTION_RISK.value_set(False),
        sa.SLA_BREACHED.value_set(False),
    ])


@activity.defn(name=NO_OP)
async def bench_no_op(pad: str = "", reply_bytes: int = 0) -> str:
    """The ceiling's activity: it does nothing, so its cost is Temporal's. `pad` and
    `reply_bytes` carry the complaint's payload sizes for `bench --explain`."""
    return "x" * reply_bytes
