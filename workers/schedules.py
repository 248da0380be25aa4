"""The report schedules (Temporal Schedules), created or updated when the worker starts.

Weekly on Monday 08:00, monthly on the 1st at 08:00, quarterly on the 1st of January,
April, July and October at 08:00, all in the policy's time zone. Each starts one
`ReportWorkflow` on the last complete period. Running this again (every worker start)
updates the schedules in place and keeps a pause an operator set in the Temporal UI.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from settings import Settings
from workflows.policy import SlaPolicy
from workflows.report import ReportKind, ReportRequest, ReportWorkflow

log = logging.getLogger("complaints.schedules")

CRON = {
    ReportKind.weekly: "0 8 * * MON",
    ReportKind.monthly: "0 8 1 * *",
    ReportKind.quarterly: "0 8 1 1,4,7,10 *",
    ReportKind.half_year: "0 8 1 1,7 *",
}
WHEN = {
    ReportKind.weekly: "every Monday at 08:00",
    ReportKind.monthly: "on the 1st of every month at 08:00",
    ReportKind.quarterly: "on the 1st of January, April, July and October at 08:00",
    ReportKind.half_year: "on the 1st of January and July at 08:00",
}


def schedule_id(settings: Settings, kind: ReportKind) -> str:
    """One set of schedules per task queue: `complaints-report-weekly` by default."""
    return f"{settings.task_queue}-report-{kind.value}"


def report_schedule(settings: Settings, policy: SlaPolicy, kind: ReportKind) -> Schedule:
    timezone = policy.calendar.timezone
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReportWorkflow.run, ReportRequest(kind=kind, timezone=timezone),
            id=schedule_id(settings, kind), task_queue=settings.task_queue,
            static_summary=f"{kind.value.capitalize()} complaints report to the head of "
                           f"customer success",
        ),
        spec=ScheduleSpec(cron_expressions=[CRON[kind]], time_zone_name=timezone),
        # Each run reports on its own period, and the reports table keeps one report per
        # period: a run still retrying (SMTP down) must not hold up the next period's.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                              catchup_window=timedelta(days=7)),
        state=ScheduleState(note=f"{kind.value} report {WHEN[kind]} ({timezone}), "
                                 f"policy {policy.name!r}"),
    )


async def ensure_report_schedules(client: Client, settings: Settings,
                                  policy: SlaPolicy) -> list[str]:
    """Create the three report schedules, or bring existing ones up to date. Returns their ids."""
    ids = []
    for kind in ReportKind:
        schedule = report_schedule(settings, policy, kind)
        sid = schedule_id(settings, kind)
        try:
            await client.create_schedule(sid, schedule)
            log.info("schedule %s created: %s", sid, schedule.state.note)
        except ScheduleAlreadyRunningError:
            def update(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                # An operator's pause (and its note) survives a worker restart.
                state = current.description.schedule.state
                if state.paused:
                    new.state = ScheduleState(note=state.note, paused=True)
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(sid).update(update)
            log.info("schedule %s updated: %s", sid, schedule.state.note)
        ids.append(sid)
    return ids
