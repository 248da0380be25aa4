"""The product's metrics from workflow code (README.md, "On call: metrics, health, traces,
logs"), through the workflow's metric meter: it records nothing while a complaint replays
(a cache eviction, a worker restart), so every count is the number of times it happened,
once.

Labels stay few and bounded: a deadline's type (`phone_contact`, never `phone_contact_2`)
and the team it counts against, an escalation level, a channel and a severity. The meter adds namespace, task queue and
workflow type.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.events import deadline_type, team_of

STARTED = "complaints_started_total"
DEADLINE_MET = "complaints_deadline_met_total"
DEADLINE_BREACHED = "complaints_deadline_breached_total"
ESCALATIONS = "complaints_escalations_total"
ESCALATION_LATENESS = "complaints_escalation_lateness_seconds"
REOPENED = "complaints_reopened_total"
# Seconds between a deadline's due instant and the workflow acting on its breach: a timer
# fires within milliseconds on a healthy worker; minutes mean the workers were down or behind.
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


def complaint_started(source: str, severity: int) -> None:
    workflow.metric_meter().create_counter(
        STARTED, "complaints registered (source and severity after triage)").add(
        1, {"source": source, "severity": str(severity)})


def deadline_met(name: str) -> None:
    """A deadline met in time (one met after its breach was already counted as breached)."""
    workflow.metric_meter().create_counter(
        DEADLINE_MET, "SLA deadlines met in time, by deadline type").add(
        1, {"deadline": deadline_type(name)})


def deadline_breached(name: str, due_at: datetime) -> None:
    """A deadline fell due unmet; the lateness is how long after its due instant the workflow
    acted on it (one observation per breach)."""
    kind = deadline_type(name)
    meter = workflow.metric_meter()
    meter.create_counter(DEADLINE_BREACHED, "SLA deadlines breached, by deadline type and "
                         "the team it counts against").add(
        1, {"deadline": kind, "team": team_of(kind)})
    late = max((workflow.now() - due_at).total_seconds(), 0.0)
    meter.create_histogram_float(
        ESCALATION_LATENESS, "seconds from a deadline's due instant to its breach being acted "
        "on (the escalation firing)", unit="s").record(late, {"deadline": kind})


def reopened(by_customer: bool) -> None:
    """A resolved or closed complaint taken up again (reopening.py)."""
    workflow.metric_meter().create_counter(
        REOPENED, "complaints reopened after their resolution, by who reopened them").add(
        1, {"by": "customer" if by_customer else "staff"})


def escalated(level: int) -> None:
    workflow.metric_meter().create_counter(
        ESCALATIONS, "escalations raised or repeated, by level (1 team lead, 2 head of CS)").add(
        1, {"level": str(level)})


RETRIAGED = "complaints_retriaged_total"
CLOCKS_PAUSED = "complaints_clocks_paused_total"
POLICY_CHANGED = "complaints_policy_changed_total"


def retriaged(before: int, after: int) -> None:
    workflow.metric_meter().create_counter(
        RETRIAGED, "complaints re-triaged, by severity before and after").add(
        1, {"from": str(before), "to": str(after)})


def clocks_paused() -> None:
    workflow.metric_meter().create_counter(
        CLOCKS_PAUSED, "times the clocks paused for the customer's information").add(1)


def policy_changed() -> None:
    workflow.metric_meter().create_counter(
        POLICY_CHANGED, "open complaints moved to a new policy").add(1)
