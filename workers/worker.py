"""Builds the worker: settings -> pool -> activities -> Worker.

Tests build the same Worker with `build_worker`, so what is tested is what runs.
"""

from __future__ import annotations

import asyncio
import compileall
import dataclasses
import logging
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.email import EmailActivities, TemplateRenderer
from activities.inbound import InboundActivities
from activities.notes import NoteActivities
from activities.policy import PolicyActivities
from activities.refunds import RefundActivities
from activities.reports import ReportActivities
from activities.store import StoreActivities
from database.pool import create_pool
from mail.links import CustomerLinks
from reporting.rendering import ReportRenderer
from settings import Settings, connect, metrics_runtime
from settings.codec import EncryptionKeyError, MissingKey
from settings.logs import configure_logging
from workers.gauges import keep_gauges_current
from workers.processes import child_metrics_port, end_with_parent, supervise
from workers.schedules import ensure_report_schedules
from workflows.complaint import ComplaintWorkflow
from workflows.inbound import InboundMessageWorkflow
from workflows.policy import PolicyError, SlaPolicy
from workflows.report import ReportWorkflow

log = logging.getLogger("complaints.worker")

WORKFLOWS = [ComplaintWorkflow, ReportWorkflow, InboundMessageWorkflow]
# Modules the sandbox shares with the worker instead of re-importing them for every
# workflow run: pure, deterministic libraries the contract models are built on, and our
# own `workflows` package (deterministic, no I/O, no module state that changes: the
# import-linter contracts keep it from importing anything that does). Re-importing it
# for every run and every replay was 6% of the worker's CPU per complaint.
# opentelemetry: the tracing interceptor's context, when tracing is on (settings/tracing.py).
PASSTHROUGH = ("pydantic", "pydantic_core", "annotated_types", "email_validator", "zoneinfo",
               "opentelemetry", "workflows")


def activities_for(settings: Settings, pool: asyncpg.Pool, policy: SlaPolicy,
                   client: Client | None = None) -> list:
    """Every activity the workflows call. The inbound email's need the Temporal client (they
    act on complaints as the customer), so they come with one."""
    store = StoreActivities(pool)
    renderer = TemplateRenderer(settings.templates_dir,
                                console_url=f"{settings.public_url}/console")
    email = EmailActivities(
        pool, renderer, settings.smtp_host, settings.smtp_port, settings.mail_from,
        settings.support_address, CustomerLinks(settings.link_secret, settings.public_url),
    )
    reports = ReportActivities(
        pool, ReportRenderer(settings.templates_dir), policy, settings.smtp_host,
        settings.smtp_port, settings.mail_from,
    )
    return [
        PolicyActivities(policy).snapshot_sla_policy,
        store.fetch_complaint_context,
        store.assign_handling_agent,
        store.assign_owner,
        store.save_progress,
        store.archive_complaint,
        RefundActivities(pool).apply_refund,
        NoteActivities(pool).store_note,
        email.send_email,
        reports.prepare_report,
        reports.send_report,
    ] + (_inbound_activities(pool, client, settings) if client is not None else [])


def _inbound_activities(pool: asyncpg.Pool, client: Client, settings: Settings) -> list:
    inbound = InboundActivities(pool, client, parse_limit=settings.inbound_parse_seconds)
    return [inbound.read_inbound, inbound.deliver_reply, inbound.record_inbound_outcome]


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, minus its guard around zoneinfo: the business-hours calendar builds the
    policy's time zone with `ZoneInfo.from_file` from the rules the complaint's policy
    snapshot pinned (bytes in history, never the host's files), and the sandbox's proxied
    ZoneInfo is not a tzinfo that datetime accepts. Snapshots from before the rules were
    pinned fall back to the installed rules, as they always did."""
    members = SandboxRestrictions.invalid_module_members_default
    members = dataclasses.replace(
        members, children={k: v for k, v in members.children.items() if k != "zoneinfo"}
    )
    return SandboxedWorkflowRunner(
        restrictions=dataclasses.replace(
            SandboxRestrictions.default, invalid_module_members=members
        ).with_passthrough_modules(*PASSTHROUGH)
    )


# Worker options beyond the SDK's defaults, measured with `python -m bench --burst 200`
# (docs/performance.md, "Worker processes, a burst of 200"); the benchmark's ceiling runs with
# the same. With many deadlines due at once, more slots and pollers than the SDK's 100 and 5
# can take the timers' tasks as the server hands them out (on 2 cores: burst p50 3.0 s to 0.8
# to 1.7 s, p99 4.9 s to 1.9 to 4.2 s; the dev server is the rest). 20 pollers as a poller
# behaviour: `max_concurrent_workflow_task_polls` is deprecated.
WORKER_TUNING: dict[str, Any] = {
    "max_concurrent_workflow_tasks": 500,
    "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(20),
}


def build_worker(
    client: Client, settings: Settings, pool: asyncpg.Pool, policy: SlaPolicy, **options
) -> Worker:
    _compile_workflow_sources()
    options.setdefault("max_cached_workflows", settings.workflow_cache_size)
    options = WORKER_TUNING | options
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(settings, pool, policy, client),
        workflow_runner=workflow_runner(),
        **options,
    )


def _compile_workflow_sources() -> None:
    """The sandbox imports each workflow's own module afresh for every run it starts or
    replays (`workflows/complaint/workflow.py`; the modules it imports through
    `imports_passed_through` are shared). Where PYTHONDONTWRITEBYTECODE is set (container
    images, this machine) nothing caches its bytecode, and each import compiles it again. Compiling once here lets those imports read the .pyc; where the directory is
    read-only (an installed image compiled it at install) this is a no-op."""
    compileall.compile_dir(str(Path(workflows.__file__).parent), quiet=2)


async def run(settings: Settings, process: int | None = None) -> None:
    """One worker. `process`: its index among WORKER_PROCESSES children (workers/processes.py);
    only the first (or the only one, None) keeps the gauges and the report schedules."""
    policy = settings.policy()  # a bad policy stops the start here, naming the key
    # The process's one runtime: Prometheus scrapes http://<host>:METRICS_PORT/metrics (a
    # child's port is the parent's to merge, on 127.0.0.1).
    if process is None:
        metrics_port, runtime = settings.metrics_port, metrics_runtime(settings.metrics_port)
    else:
        metrics_port = child_metrics_port(settings, process)
        runtime = metrics_runtime(metrics_port, host="127.0.0.1")
    client = await connect(settings, runtime,
                           on_missing_key=UndecryptableComplaints(runtime.metric_meter))
    pool = await create_pool(settings.database_url)
    gauges = None
    if not process:
        gauges = asyncio.create_task(keep_gauges_current(pool, runtime.metric_meter))
        await _ensure_report_schedules(client, settings, policy)
    # On Ctrl-C/SIGTERM, activities in hand get a few seconds to finish (an email being
    # sent, a row being written) before they are cancelled and retried elsewhere.
    worker = build_worker(client, settings, pool, policy,
                          graceful_shutdown_timeout=timedelta(seconds=10))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if not process:  # process 0 says how payloads and links are kept, once for all
        announce_protections(settings)
    log.info("worker%s on task queue %r, namespace %r, policy %r (%s); metrics on :%d/metrics",
             "" if process is None else f" process {process}", settings.task_queue,
             settings.namespace, policy.name, settings.policy_path or "built-in default",
             metrics_port)
    async with worker:
        await stop.wait()
        log.info("stopping: finishing the tasks in hand")
    if gauges is not None:
        gauges.cancel()
    await pool.close()


UNDECRYPTABLE_PAYLOADS = "complaints_undecryptable_payloads_total"


class UndecryptableComplaints:
    """The worker's report of payloads under a key it lacks (the codec calls it): each one
    counted (UNDECRYPTABLE_PAYLOADS, by key id), each complaint logged once, with its key.
    The SDK retries the complaint's task and logs each failure; this says why, in a line."""

    def __init__(self, meter: MetricMeter | None) -> None:
        self._counter = meter.create_counter(
            UNDECRYPTABLE_PAYLOADS, "payloads this worker could not decrypt: their key is "
            "not in PAYLOAD_ENCRYPTION_KEYS") if meter is not None else None
        self._logged: set[str | None] = set()

    def __call__(self, key_id: str, workflow_id: str | None) -> None:
        if self._counter is not None:
            self._counter.with_additional_attributes({"key_id": key_id}).add(1)
        if workflow_id not in self._logged:
            self._logged.add(workflow_id)
            log.error("complaint %s: %s", workflow_id or "(unknown)", MissingKey(key_id))


def announce_protections(settings: Settings) -> None:
    """At start: a warning for each protection that is off, so an operator sees it."""
    if not settings.payload_keys:
        log.warning("PAYLOAD_ENCRYPTION_KEYS is not set: workflow payloads (customer names, "
                    "addresses, descriptions) are stored in clear in Temporal's history")
    else:
        log.info("payloads encrypted with key %r (%d key(s) can decrypt)",
                 next(iter(settings.payload_keys)), len(settings.payload_keys))
    if not settings.link_secret:
        log.warning("LINK_SECRET is not set: customer emails carry no links (status page, "
                    "agreement, sign-off, survey) and the customer pages refuse every link")


async def _ensure_report_schedules(client: Client, settings: Settings, policy: SlaPolicy) -> None:
    """The weekly, monthly and quarterly report schedules, created or brought up to date.
    A failure here is logged, not fatal: complaints matter more than reports."""
    try:
        await ensure_report_schedules(client, settings, policy)
    except Exception:
        log.exception("the report schedules could not be created or updated")


def main(argv: list[str] | None = None) -> None:
    """`python -m workers`: one worker, or WORKER_PROCESSES of them under a parent
    (workers/processes.py); `--process I` is how the parent starts child I."""
    argv = sys.argv[1:] if argv is None else argv
    process = int(argv[argv.index("--process") + 1]) if "--process" in argv else None
    if process is not None:
        end_with_parent()
    try:
        settings = Settings.from_env()
    except (EncryptionKeyError, ValueError) as err:  # names the entry, never the key
        print(f"worker not started: {err}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_format)
    try:
        if process is None and settings.worker_processes > 1:
            settings.policy()  # a bad policy stops the parent, before any child starts
            sys.exit(supervise(settings))
        asyncio.run(run(settings, process))
    except PolicyError as err:
        print(f"worker not started: {err}", file=sys.stderr)
        sys.exit(2)
