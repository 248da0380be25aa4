"""What `python -m bench` reads from recorded histories.

- `shape_from_history`: what one complaint asked of Temporal, step by step, which the
  ceiling workflow (bench/ceiling.py) mirrors;
- `history_counts`, `unchanged_upserts`, `payload_sizes`: what a history is made of;
- `timer_lateness`: where an escalation's lateness went.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from bench.ceiling import BareShape, Extras, Segment, Step


def shape_from_history(history: WorkflowHistory) -> BareShape:
    """What the complaint asked of Temporal, step by step: each workflow task's activities and
    timers, split into segments at each accepted update. Timers that ran out become sleeps of
    the same length; timers a met deadline cancelled are started and cancelled at the same steps."""
    fate: dict[str, str] = {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fate[e.timer_fired_event_attributes.timer_id] = "fired"
    segments = [Segment()]
    step: Step | None = None
    for e in history.events:
        kind = e.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            step = None
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            segments.append(Segment())
            step = None
        elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
                      EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_TIMER_CANCELED,
                      EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES):
            if step is None:
                step = Step()
                segments[-1].steps.append(step)
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                step.activities += 1
            elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
                step.timers_cancelled += 1
            elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
                step.upserts += 1
            else:
                timer = e.timer_started_event_attributes
                if fate.get(timer.timer_id) == "fired":
                    step.sleeps.append(timer.start_to_fire_timeout.ToTimedelta().total_seconds())
                else:
                    step.timers_started += 1
    return BareShape(segments=segments)


def payload_sizes(history: WorkflowHistory) -> Extras:
    """The complaint's mean payload sizes: activity inputs and results, update replies."""
    def mean(sizes: list[int]) -> int:
        return int(sum(sizes) / len(sizes)) if sizes else 0

    inputs, results, replies = [], [], []
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            inputs.append(e.activity_task_scheduled_event_attributes.input.ByteSize())
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            results.append(e.activity_task_completed_event_attributes.result.ByteSize())
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            replies.append(
                e.workflow_execution_update_completed_event_attributes.outcome.success.ByteSize())
    return Extras(activity_input_bytes=mean(inputs), activity_result_bytes=mean(results),
                  update_reply_bytes=mean(replies))


def timer_lateness(history: WorkflowHistory, due: Any) -> list[tuple[str, float]]:
    """Where an escalation's lateness went, from the history of the timer that ran out: the
    timer recorded after the instant the workflow computed it from, the server firing it
    after it ran out, the workflow task that acts on it being scheduled and picked up (the
    breach's time in the timeline is that pick-up: `workflow.now()`), and when that task's
    decision was recorded (completed), after the due instant.

    The timer is the fired one whose end is nearest `due` (not matched by its summary, which
    the payload codec encrypts)."""
    def at(e: Any) -> Any:
        return e.event_time.ToDatetime(tzinfo=due.tzinfo)

    started: dict[int, Any] = {}
    best = None
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            started[e.event_id] = e
        elif e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            timer = started.get(e.timer_fired_event_attributes.started_event_id)
            if timer is None:
                continue
            runs_out = at(timer) + (
                timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta())
            if best is None or abs(runs_out - due) < abs(best[1] - due):
                best = (e, runs_out)
    if best is None:
        return []
    fired, runs_out = best
    picked = completed = None
    for e in history.events:
        if e.event_id <= fired.event_id:
            continue
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and picked is None:
            picked = e
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and picked is not None:
            completed = e
            break
    if picked is None:
        return []

    def ms(delta: Any) -> float:
        return delta.total_seconds() * 1000

    out = [("timer_started_late", ms(runs_out - due)), ("timer_fired_late", ms(at(fired) - runs_out)),
           ("workflow_task_pickup", ms(at(picked) - at(fired)))]
    if completed is not None:
        out.append(("decision_recorded", ms(at(completed) - due)))
    return out


def _kind(e: Any) -> str:
    return EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower()


def unchanged_upserts(history: WorkflowHistory) -> int:
    """Search-attribute upserts that set every attribute to the value it already had."""
    current: dict[str, bytes] = {}
    unchanged = 0
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            fields = e.workflow_execution_started_event_attributes.search_attributes.indexed_fields
            current.update({k: v.SerializeToString(deterministic=True) for k, v in fields.items()})
        elif e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            upserted = e.upsert_workflow_search_attributes_event_attributes.search_attributes
            new = {k: v.SerializeToString(deterministic=True)
                   for k, v in upserted.indexed_fields.items()}
            unchanged += all(current.get(k) == v for k, v in new.items())
            current.update(new)
    return unchanged


def history_counts(history: WorkflowHistory) -> dict[str, Any]:
    kinds = Counter(_kind(e) for e in history.events)
    size: Counter[str] = Counter()
    by_activity: Counter[str] = Counter()  # what each activity's inputs and results weigh
    names: dict[int, str] = {}
    for e in history.events:
        size[_kind(e)] += e.ByteSize()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
            by_activity[names[e.event_id]] += e.ByteSize()
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes
            by_activity[names.get(done.scheduled_event_id, "?")] += e.ByteSize()
    return {
        "activities": kinds["activity_task_scheduled"],
        "timers": kinds["timer_started"],
        "timers_fired": kinds["timer_fired"],
        "timers_cancelled": kinds["timer_canceled"],
        "updates": kinds["workflow_execution_update_accepted"],
        "workflow_tasks": kinds["workflow_task_completed"],
        "search_attribute_upserts": kinds["upsert_workflow_search_attributes"],
        "search_attribute_upserts_unchanged": unchanged_upserts(history),
        "history_events": len(history.events),
        "history_bytes": sum(e.ByteSize() for e in history.events),
        "bytes_by_event": dict(size.most_common(6)),
        "bytes_by_activity": dict(by_activity.most_common(6)),
        # The summaries the contract asks of timers and activities (the ceiling has none).
        "summary_bytes": sum(e.user_metadata.ByteSize() for e in history.events
                             if e.HasField("user_metadata")),
    }
