"""Intake: what an email gateway, web form or phone desk calls to start a complaint.

    crn = await submit_complaint(client, intake)

The CRN is derived from (source, external_ref) and is the workflow id, so a
complaint submitted twice (a retried webhook, two gateways racing) gets the
same CRN and never a second workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.complaint import ComplaintWorkflow
from workflows.complaint.presentation import start_metadata
from workflows.messages import ComplaintStart
from workflows.models import ComplaintIntake, complaint_reference

# An intake system's clock may run a little ahead of ours; more than this is a bad payload.
CLOCK_SKEW = timedelta(minutes=5)


class IntakeError(ValueError):
    """A payload that is not a valid complaint; nothing was started."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Submission:
    crn: str
    created: bool  # False when this (source, external_ref) was already submitted


def parse_intake(payload: Any) -> ComplaintIntake:
    """Validate a payload (dict or JSON text); the error names every bad field."""
    try:
        if isinstance(payload, str | bytes):
            return ComplaintIntake.model_validate_json(payload)
        return ComplaintIntake.model_validate(payload)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(payload)"
            problems.append(f"{where}: {e['msg']}")
        raise IntakeError(problems) from None


async def submit(client: Client, payload: ComplaintIntake | Any, task_queue: str) -> Submission:
    intake = payload if isinstance(payload, ComplaintIntake) else parse_intake(payload)
    if intake.received_at is not None and intake.received_at > datetime.now(UTC) + CLOCK_SKEW:
        # Checked here, not in the model: the workflow re-validates its input on every
        # replay, and "now" there is not the time of intake.
        raise IntakeError([f"received_at: {intake.received_at.isoformat()} is in the future"])
    crn = complaint_reference(intake.source, intake.external_ref)
    try:
        await client.start_workflow(
            ComplaintWorkflow.run,
            ComplaintStart(intake=intake),
            id=crn,
            task_queue=task_queue,
            # A second start for the same CRN fails fast instead of starting anything,
            # also once the first complaint has closed.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            **start_metadata(crn, intake),
        )
    except WorkflowAlreadyStartedError:
        return Submission(crn=crn, created=False)
    return Submission(crn=crn, created=True)


async def submit_complaint(client: Client, payload: ComplaintIntake | Any,
                           task_queue: str = "complaints") -> str:
    """Start (or find) the complaint's workflow and return its CRN."""
    return (await submit(client, payload, task_queue)).crn
