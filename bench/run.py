"""`python -m bench`: the complaint lifecycle against the bare Temporal ceiling, in one run.

Shared machines are noisy, so speed is a ratio of two runs side by side on the same
stack, never a timed test. On the embedded stack (bench/stack.py) it runs:

1. calibration: one complaint through its whole life; its recorded history gives the
   shape (activities, timers, updates, in which steps) that the ceiling mirrors;
2. lifecycle: N complaints, concurrently, through intake, personal acknowledgement,
   assignment, phone contact, review, plan, agreement, fix, confirmation, RCA and CSAT,
   on the product's worker with the demo policy (archive after a few seconds, so each run
   ends and its last write and archive copy are counted);
3. ceiling: N bare workflows of the same shape (no-op activities, the same timers and
   updates, nothing else) on a worker with the same settings;
4. escalation: complaints nobody acknowledges; how late each escalation fired after the
   personal acknowledgement fell due;
5. scale: complaints kept open at growing sizes (waiting on timers), with the worker's
   memory and the round trip of one update at each size.

Actors act when the email that tells a person to act arrives (the acknowledgement, the
owner's assignment), as in the tests, so no polling adds load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.ceiling import BareShape, BenchCeilingWorkflow, Extras
from bench.codec_cost import codec_cost
from bench.history import history_counts, payload_sizes, shape_from_history, timer_lateness
from bench.options import BenchOptions, options_from, parse_worker_options
from bench.report import format_report, machine, notes, storm_targets, targets
from bench.stack import BenchFailed, BenchStack, WorkerProcess, bench_stack, cpu_seconds
from bench.storm import run_storm
from devstack.devserver import tuning_flags
from starter.intake import submit
from starter.operations import act
from workflows import models as m
from workflows.events import PERSONAL_ACK, Event
from workflows.policy import DEMO_POLICY_PATH, parse_duration

# SDK metric names (Prometheus, milliseconds)
ACTIVITIES = "temporal_activity_execution_latency_count"
ACTIVITY_MS = "temporal_activity_execution_latency_sum"
WFT = "temporal_workflow_task_execution_latency_count"
WFT_MS = "temporal_workflow_task_execution_latency_sum"
WFT_WAIT = "temporal_workflow_task_schedule_to_start_latency_count"
WFT_WAIT_MS = "temporal_workflow_task_schedule_to_start_latency_sum"
CACHE = "temporal_sticky_cache_size"
EVICTIONS = "temporal_sticky_cache_total_forced_eviction"
HISTORY_SAMPLE = 20  # workflows per side whose history bytes are read after the side by side


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles, rounded to 0.1 (empty input gives zeros)."""
    ordered = sorted(values)
    out = {}
    for p in points:
        if not ordered:
            out[f"p{p}"] = 0.0
            continue
        out[f"p{p}"] = round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)
    out["max"] = round(ordered[-1], 1) if ordered else 0.0
    return out


async def run_all(n: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> list[str]:
    """Run `one(k)` for k < n, at most `concurrency` at once; returns the errors, one line each."""
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def guarded(k: int) -> None:
        async with gate:
            try:
                await one(k)
            except Exception as err:  # a failed complaint is reported, it does not stop the run
                errors.append(f"#{k}: {type(err).__name__}: {err}")

    await asyncio.gather(*(guarded(k) for k in range(n)))
    return errors


# --- policies the phases run under ---------------------------------------------------


def _set(text: str, key: str, value: str) -> str:
    new, count = re.subn(rf'(?m)^{key} = ".*"$', f'{key} = "{value}"', text)
    assert count == 1, f"{key} not found in the demo policy"
    return new


def lifecycle_policy(archive_after: str) -> str:
    text = _set(DEMO_POLICY_PATH.read_text(), "name", "demo-bench")
    return _set(text, "archive_after", archive_after)


def escalation_policy(personal_within: str) -> str:
    text = _set(DEMO_POLICY_PATH.read_text(), "name", "demo-bench-escalation")
    return _set(text, "personal_within", personal_within)


# The burst's deadline: long enough that every complaint is opened before it falls due.
BURST_DUE_AFTER = "10m"


def burst_policy(due_after: str) -> str:
    """Both acknowledgements due `due_after` after intake (the automatic one is sent at once)."""
    text = _set(DEMO_POLICY_PATH.read_text(), "name", "demo-bench-burst")
    text = _set(text, "automatic_within", due_after)
    return _set(text, "personal_within", due_after)


def scale_policy() -> str:
    """The demo policy with its minutes read as hours: nothing falls due while sizes are measured."""
    text = _set(DEMO_POLICY_PATH.read_text(), "name", "demo-bench-scale")
    return re.sub(r'"(\d+)m"', r'"\1h"', text)


# --- the scripted actors -----------------------------------------------------------------


@dataclass
class Run:
    """What one phase measured."""

    workflows: int
    wall_s: float = 0.0
    activities: int = 0
    emails: int = 0
    update_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)
    server: dict[str, float] = field(default_factory=dict)  # the dev server's metrics, deltas
    ids: list[str] = field(default_factory=list)  # the workflows run, in order

    def persistence(self) -> dict[str, Any]:
        """What the dev server asked of its SQLite file, per workflow: requests and busy time."""
        n = max(1, self.workflows)
        by_op = {k.split(":", 1)[1]: v for k, v in self.server.items()
                 if k.startswith("persistence_latency_sum:")}
        top = sorted(by_op.items(), key=lambda kv: -kv[1])[:5]
        return {
            "requests_per_workflow": round(self.server.get("persistence_latency_count", 0) / n, 1),
            "ms_per_workflow": round(self.server.get("persistence_latency_sum", 0) * 1000 / n, 1),
            "visibility_requests_per_workflow": round(
                self.server.get("visibility_persistence_latency_count", 0) / n, 1),
            "visibility_ms_per_workflow": round(
                self.server.get("visibility_persistence_latency_sum", 0) * 1000 / n, 1),
            "busy_share_of_wall": round((self.server.get("persistence_latency_sum", 0)
                                         + self.server.get("visibility_persistence_latency_sum", 0))
                                        / (self.wall_s or float("nan")), 2),
            "top_operations_ms_per_workflow": {
                op: round(v * 1000 / n, 1) for op, v in top},
            "requests_by_operation_per_workflow": {
                k.split(":", 1)[1]: round(v / n, 1) for k, v in sorted(self.server.items())
                if k.startswith(("persistence_latency_count:",
                                 "visibility_persistence_latency_count:")) and v},
        }

    def summary(self) -> dict[str, Any]:
        wall = self.wall_s or float("nan")
        wft = self.metrics.get(WFT, 0)
        return {
            "workflows": self.workflows,
            "wall_s": round(self.wall_s, 2),
            "complaints_per_s": round(self.workflows / wall, 2),
            "activities": int(self.activities),
            "activities_per_s": round(self.activities / wall, 1),
            "emails": self.emails,
            "emails_per_s": round(self.emails / wall, 1),
            "updates": len(self.update_ms),
            "update_ms": percentiles(self.update_ms),
            "worker_peak_rss_mib": self.memory.get("peak_rss_mib"),
            "workflow_tasks": int(wft),
            "workflow_task_ms_mean": round(self.metrics.get(WFT_MS, 0) / wft, 2) if wft else None,
            "workflow_task_wait_ms_mean": round(
                self.metrics.get(WFT_WAIT_MS, 0) / max(1, self.metrics.get(WFT_WAIT, 0)), 2),
            "activity_ms_mean": round(
                self.metrics.get(ACTIVITY_MS, 0) / max(1, self.metrics.get(ACTIVITIES, 0)), 2),
            "cpu_s": {k: round(v, 1) for k, v in self.cpu_s.items()},
            "worker_cpu_ms_per_workflow": round(
                self.cpu_s.get("worker", 0) * 1000 / max(1, self.workflows), 1),
            "server": self.persistence(),
            "errors": len(self.errors),
            "first_errors": self.errors[:5],
        }


@dataclass
class Workload:
    """One of the runs measured side by side: its worker and one workflow's life."""

    label: str
    worker: WorkerProcess
    one: Callable[[int, list[float]], Awaitable[Any]]  # (index, update timings)
    run: Run


class Bench:
    def __init__(self, stack: BenchStack, options: BenchOptions) -> None:
        self.stack = stack
        self.options = options
        self.run_id = uuid.uuid4().hex[:6]
        self.payload_sizes = Extras()
        self.worker_options = parse_worker_options(options.worker_options)

    # -- helpers shared by the phases

    def intake(self, customer: str, ref: str,
               received_at: datetime | None = None) -> m.ComplaintIntake:
        return m.ComplaintIntake.model_validate({"received_at": received_at,
            "source": "api", "external_ref": f"bench-{self.run_id}-{ref}",
            "customer": {"id": customer, "name": "Bench Customer",
                         "email": f"{customer}@bench.example"},
            "subject": "Export shows wrong totals",
            "description": "The monthly export shows totals that do not match the dashboard.",
            "category": "data_inaccuracy", "impact": "partial",
        })

    async def submit(self, worker: WorkerProcess, customer: str, ref: str,
                     received_at: datetime | None = None) -> str:
        result = await submit(self.stack.client, self.intake(customer, ref, received_at),
                              worker.task_queue)
        return result.crn

    async def start_worker(self, workload: str, name: str, policy: Path | None = None,
                           processes: int = 1, cache_size: int | None = None) -> WorkerProcess:
        """A worker under test on its own task queue, with the `--worker-option`s."""
        return await self.stack.start_worker(workload, f"bench-{name}-{self.run_id}", policy,
                                             cache_size=cache_size, processes=processes,
                                             options=self.worker_options)

    async def act(self, crn: str, update: str, payload: Any, timings: list[float]) -> None:
        started = time.perf_counter()
        await act(self.stack.client, crn, update, payload)
        timings.append((time.perf_counter() - started) * 1000)

    async def complaint_life(self, worker: WorkerProcess, customer: str, ref: str,
                             timings: list[float]) -> str:
        """One complaint from intake to archive, each person acting when told to."""
        sink, wait = self.stack.sink, 120.0
        crn = await self.submit(worker, customer, ref)
        await sink.first_email(crn, "acknowledgement", wait)
        await self.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
            actor="ana", message="Dear customer, I am sorry; I am on it and a manager will call."),
            timings)
        owner_email = (await sink.first_email(crn, "owner_assigned", wait))[0]
        owner = self.stack.roster_by_email[owner_email]
        for update, payload in [
            ("record_phone_contact", m.PhoneContact(
                actor=owner, reached=True, summary="Apologised, confirmed the issue",
                expectations="Fix within the week")),
            ("submit_internal_review", m.InternalReview(
                actor=owner, root_cause="Rounding bug in export",
                process_failure="No regression test", communication_failure="Tickets unanswered",
                checklist=m.InvestigationChecklist(history_reviewed=True, issue_verified=True,
                                                   order_checked=True))),
            ("submit_action_plan", m.ActionPlan(actor=owner, steps=[
                m.PlanStep(kind="technical_fix", description="Fix rounding in export"),
                m.PlanStep(kind="process_change", description="Add an export regression test")])),
            ("propose_solution", m.SolutionProposal(
                actor=owner, message="We will fix the rounding and add a test. Agreed?")),
            ("record_customer_response", m.CustomerResponse(
                actor="ana", agrees=True, message="Yes, please go ahead.")),
            ("record_fix_deployed", m.FixDeployed(actor="raj", reference="REL-42")),
            ("confirm_resolution", m.ResolutionConfirmation(
                actor=owner, confirmation_text="Totals are right now. Resolution Confirmed.")),
            ("submit_rca", m.RootCauseAnalysis(
                actor=owner, root_cause="Floats in the export", process_failures=["No test"],
                corrective_actions=["Decimal arithmetic"], kb_article_needed=False)),
            ("record_csat", m.CsatResponse(actor="ana", score=5, comment="Great")),
        ]:
            await self.act(crn, update, payload, timings)
        await self.stack.client.get_workflow_handle(crn).result()
        return crn

    async def bare_life(self, worker: WorkerProcess, shape: BareShape, ref: str,
                        timings: list[float]) -> str:
        wf_id = f"bench-ceiling-{self.run_id}-{ref}"
        handle = await self.stack.client.start_workflow(
            BenchCeilingWorkflow.run, shape, id=wf_id, task_queue=worker.task_queue)
        for n in range(shape.updates):
            started = time.perf_counter()
            await handle.execute_update(BenchCeilingWorkflow.step, n)
            timings.append((time.perf_counter() - started) * 1000)
        await handle.result()
        return wf_id

    async def measure(self, worker: WorkerProcess, run: Run, work: Callable[[], Awaitable[list[str]]]) -> Run:
        """Time `work` and add what it cost (the worker's, the server's and PostgreSQL's
        metrics and CPU) to `run`; the parts that ran at the same time are counted too."""
        def add(into: dict[str, float], after: dict[str, float], before: dict[str, float]) -> None:
            for k, v in after.items():
                into[k] = into.get(k, 0) + v - before.get(k, 0)

        before, cpu_before = await worker.metrics(), cpu_seconds(self.stack, worker)
        server_before = await self.stack.server_metrics()
        emails = self.stack.sink.total
        started = time.perf_counter()
        run.errors += await work()
        run.wall_s += time.perf_counter() - started
        after, cpu_after = await worker.metrics(), cpu_seconds(self.stack, worker)
        add(run.server, await self.stack.server_metrics(), server_before)
        add(run.metrics, after, before)
        add(run.cpu_s, cpu_after, cpu_before)
        run.activities = int(run.metrics.get(ACTIVITIES, 0))
        run.emails += self.stack.sink.total - emails
        run.memory = worker.memory()
        return run

    # -- the phases

    async def calibrate(self) -> tuple[WorkerProcess, list[str], BareShape, dict[str, Any]]:
        """The product's worker, and one complaint through its whole life: its history is the
        shape the ceiling mirrors."""
        o = self.options
        policy = self.stack.policy_file("lifecycle", lifecycle_policy(o.archive_after))
        worker = await self.start_worker("lifecycle", "lifecycle", policy)
        customers = await self.stack.add_customers(f"life-{self.run_id}", o.complaints + 1)
        say("calibration: one complaint through its whole life ...")
        crn = await self.complaint_life(worker, customers[-1], "calibration", [])
        history = await self.stack.client.get_workflow_handle(crn).fetch_history()
        shape, counts = shape_from_history(history), history_counts(history)
        self.payload_sizes = payload_sizes(history)
        say(f"  one complaint's history: {counts}")
        if os.environ.get("BENCH_DUMP_HISTORY"):
            Path(os.environ["BENCH_DUMP_HISTORY"]).write_text(history.to_json())
        return worker, customers, shape, counts

    async def ceiling_worker(self, shape: BareShape) -> tuple[WorkerProcess, dict[str, Any]]:
        worker = await self.start_worker("ceiling", "ceiling")
        say("ceiling: warm-up workflow ...")
        wf_id = await self.bare_life(worker, shape, "warm-up", [])
        counts = history_counts(await self.stack.client.get_workflow_handle(wf_id).fetch_history())
        say(f"  the bare workflow's history: {counts}")
        return worker, counts

    async def side_by_side(self, workloads: list[Workload]) -> None:
        """The workloads in alternating rounds (A B B A ...), one at a time, so that a machine
        getting slower or faster during the run weighs on each of them alike."""
        o = self.options
        rounds = max(1, min(o.rounds, o.complaints))
        sizes = [o.complaints // rounds + (r < o.complaints % rounds) for r in range(rounds)]
        done = 0
        for r, size in enumerate(sizes):
            for w in (workloads if r % 2 == 0 else workloads[::-1]):
                say(f"{w.label}: round {r + 1}/{rounds}, {size} workflows, {o.concurrency} "
                    "at a time ...")

                async def work(w: Workload = w, first: int = done, size: int = size) -> list[str]:
                    async def one(k: int) -> None:
                        w.run.ids.append(await w.one(first + k, w.run.update_ms))
                    return await run_all(size, o.concurrency, one)

                await self.measure(w.worker, w.run, work)
            done += size

    async def history_bytes(self, ids: list[str], sample: int = HISTORY_SAMPLE) -> dict[str, Any]:
        """History bytes of up to `sample` of the workflows a side ran, spread over its
        rounds: one workflow's bytes move by a few percent with how its workflow tasks fell
        (which events one task took in), so the ratio is of medians."""
        picked = ids[::max(1, len(ids) // sample)][:sample]
        sizes = sorted([history_counts(await self.stack.client.get_workflow_handle(i)
                                       .fetch_history())["history_bytes"] for i in picked])
        if not sizes:
            return {"workflows": 0}
        return {"workflows": len(sizes), "median": sizes[len(sizes) // 2], "min": sizes[0],
                "max": sizes[-1]}

    async def escalation(self) -> dict[str, Any]:
        """Complaints nobody acknowledges: the escalation fires when the deadline falls; how late."""
        o = self.options
        n = o.escalation_complaints
        policy = self.stack.policy_file("escalation", escalation_policy(o.escalation_after))
        worker = await self.start_worker("lifecycle", "escalation", policy)
        customers = await self.stack.add_customers(f"esc-{self.run_id}", n)
        say(f"escalation: {n} complaints left unacknowledged (personal acknowledgement due "
            f"after {o.escalation_after}) ...")
        crns: list[str] = []
        wait = parse_duration(o.escalation_after).total_seconds() + 180

        began = time.perf_counter()

        async def one(k: int) -> None:
            if o.escalation_rate > 0:  # arriving at a steady rate, as complaints do
                await asyncio.sleep(max(0.0, began + k / o.escalation_rate - time.perf_counter()))
            crns.append(await self.submit(worker, customers[k], f"esc-{k}"))

        errors = await run_all(n, o.concurrency, one)
        # Then every escalation email, all waited for at once (nobody holds a slot meanwhile).
        waits = await asyncio.gather(*(self.stack.sink.first_email(crn, "escalation:", wait)
                                       for crn in crns), return_exceptions=True)
        errors += [f"{crn}: {w}" for crn, w in zip(crns, waits, strict=True)
                   if isinstance(w, BaseException)]
        lateness, parts, _ = await self.lateness(crns, errors)
        await self.terminate(crns)
        memory = worker.memory()
        worker.stop()
        summary = percentiles(lateness)
        return {"complaints": n, "personal_acknowledgement_due_after": o.escalation_after,
                "arriving_per_second": o.escalation_rate, "rate": o.escalation_rate,
                "p99_ms": summary["p99"], "lateness_ms": summary, "measured": len(lateness),
                "parts_ms": {k: percentiles(v, (50, 99)) for k, v in parts.items()},
                "worker_peak_rss_mib": memory["peak_rss_mib"], "errors": len(errors),
                "first_errors": errors[:5]}

    async def lateness(self, crns: list[str], errors: list[str]
                       ) -> tuple[list[float], dict[str, list[float]], list[datetime]]:
        """Each escalated complaint's lateness (the breach's timeline time minus the deadline's
        `due_at`, from the `status` query), where it went (from its history), and the due_at."""
        lateness: list[float] = []
        dues: list[datetime] = []
        parts: dict[str, list[float]] = {"timer_started_late": [], "timer_fired_late": [],
                                         "workflow_task_pickup": [], "decision_recorded": []}
        for crn in crns:
            handle = self.stack.client.get_workflow_handle(crn)
            try:
                state = m.ComplaintState.model_validate(await handle.query("status"))
                history = await handle.fetch_history()
            except Exception as err:
                errors.append(f"{crn}: status: {err}")
                continue
            due = state.deadline(PERSONAL_ACK)
            # The breach and its escalation are decided in the same workflow task.
            fired = next((e for e in state.timeline if e.event == Event.deadline_breached
                          and e.deadline == PERSONAL_ACK), None)
            if due is None or fired is None:
                errors.append(f"{crn}: no escalation for the personal acknowledgement")
                continue
            lateness.append((fired.at - due.due_at).total_seconds() * 1000)
            dues.append(due.due_at)
            for name, ms in timer_lateness(history, due.due_at):
                parts[name].append(ms)
        return lateness, parts, dues

    async def terminate(self, crns: list[str]) -> None:
        """They would go on escalating (level 2) during the next phase."""
        for crn in crns:
            try:
                await self.stack.client.get_workflow_handle(crn).terminate("benchmark phase over")
            except Exception:
                pass  # nosec B110 # the complaint already ended

    async def burst(self, processes: int = 1) -> dict[str, Any]:
        """N complaints submitted ahead of time, each `received_at` the same instant, so that
        every personal acknowledgement falls due at one instant `lead` seconds after the first
        submission; all are opened (acknowledged automatically, waiting) before it falls."""
        o = self.options
        n = o.burst
        policy = self.stack.policy_file("burst", burst_policy(BURST_DUE_AFTER))
        worker = await self.start_worker("lifecycle", f"burst{processes}", policy,
                                         processes=processes)
        customers = await self.stack.add_customers(f"burst{processes}-{self.run_id}", n)
        lead = o.burst_lead or n / 5 + 10
        due = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        received = due - parse_duration(BURST_DUE_AFTER)
        say(f"burst: {n} complaints on {processes} worker process(es), received at "
            f"{received:%H:%M:%S}, every personal acknowledgement due at {due:%H:%M:%S} ...")
        crns: list[str] = []

        async def one(k: int) -> None:
            crn = await self.submit(worker, customers[k], f"burst{processes}-{k}", received)
            crns.append(crn)
            await self.stack.sink.first_email(crn, "acknowledgement", lead + 120)

        began = time.perf_counter()
        errors = await run_all(n, o.concurrency, one)
        opened_in = time.perf_counter() - began
        idle_before_due = (due - datetime.now(UTC)).total_seconds()
        cpu_before = cpu_seconds(self.stack, worker)
        server_before = await self.stack.server_metrics()
        waits = await asyncio.gather(*(self.stack.sink.first_email(crn, "escalation:", lead + 180)
                                       for crn in crns), return_exceptions=True)
        errors += [f"{crn}: {w}" for crn, w in zip(crns, waits, strict=True)
                   if isinstance(w, BaseException)]
        all_escalated = datetime.now(UTC)
        cpu_burst = {k: round(v - cpu_before.get(k, 0), 1)
                     for k, v in cpu_seconds(self.stack, worker).items()}
        server = {k: v - server_before.get(k, 0)
                  for k, v in (await self.stack.server_metrics()).items()}
        lateness, parts, dues = await self.lateness(crns, errors)
        await self.terminate(crns)
        memory = worker.memory()
        worker.stop()
        summary = percentiles(lateness)
        return {"complaints": n, "processes": processes, "due_at": due.isoformat(),
                "received_at": received.isoformat(), "opened_in_s": round(opened_in, 1),
                "opened_per_s": round(n / opened_in, 1) if opened_in else None,
                "idle_before_due_s": round(idle_before_due, 1),
                "due_spread_ms": round((max(dues) - min(dues)).total_seconds() * 1000, 1)
                if dues else None,
                "last_escalation_email_after_due_s": round(
                    (all_escalated - due).total_seconds(), 2),
                "p99_ms": summary["p99"], "lateness_ms": summary, "measured": len(lateness),
                "parts_ms": {k: percentiles(v, (50, 99)) for k, v in parts.items()},
                "worker_cpu_s_after_due": cpu_burst["worker"],
                "cpu_s_after_due": cpu_burst,  # all opened (idle till due) to the last escalation
                # the dev server's SQLite meanwhile: requests, and their time (s) summed
                "server_sqlite_after_due": {
                    "requests": int(server.get("persistence_latency_count", 0)
                                    + server.get("visibility_persistence_latency_count", 0)),
                    "busy_s": round(server.get("persistence_latency_sum", 0)
                                    + server.get("visibility_persistence_latency_sum", 0), 2)},
                "worker_peak_rss_mib": memory["peak_rss_mib"], "errors": len(errors),
                "first_errors": errors[:5]}

    async def scale(self) -> dict[str, Any]:
        """Complaints kept open (waiting on their timers) at growing sizes."""
        o = self.options
        sizes = sorted(o.scale_sizes)
        policy = self.stack.policy_file("scale", scale_policy())
        worker = await self.start_worker("lifecycle", "scale", policy, cache_size=o.scale_cache)
        customers = await self.stack.add_customers(f"scale-{self.run_id}", sizes[-1])
        await asyncio.sleep(1)
        rows: list[dict[str, Any]] = [{"open": 0, **worker.memory(), "update_ms": None}]
        crns: list[str] = []
        sampled: set[str] = set()
        chooser = random.Random(7)  # nosec B311 # benchmark timing, not security
        errors: list[str] = []
        for size in sizes:
            start = len(crns)
            say(f"scale: opening complaints {start + 1}..{size} ...")

            async def one(k: int, start: int = start) -> None:
                crn = await self.submit(worker, customers[start + k], f"scale-{start + k}")
                crns.append(crn)
                await self.stack.sink.first_email(crn, "acknowledgement", 300)
                if len(crns) % 1000 == 0:
                    say(f"  {len(crns)} open ...")

            began = time.perf_counter()
            errors += await run_all(size - start, o.scale_concurrency, one)
            opened_in = time.perf_counter() - began
            await asyncio.sleep(1.0)  # the last writes land; the worker is idle, complaints wait
            memory = worker.memory()
            metrics = await worker.metrics()
            timings: list[float] = []
            pool = [c for c in crns if c not in sampled]
            for crn in chooser.sample(pool, min(o.scale_sample, len(pool))):
                sampled.add(crn)
                try:
                    await self.act(crn, "acknowledge_personally", m.PersonalAcknowledgement(
                        actor="ana", message="Dear customer, I am sorry; I am on it."), timings)
                    # What the update set off (the owner's assignment) finishes before the next.
                    await self.stack.sink.first_email(crn, "owner_assigned", 60)
                except Exception as err:
                    errors.append(f"{crn}: {err}")
            rows.append({"open": len(crns), **memory, "update_ms": percentiles(timings),
                         "cached_workflows": int(metrics.get(CACHE, 0)),
                         "evictions": int(metrics.get(EVICTIONS, 0)),
                         "opened_per_s": round((size - start) / opened_in, 1)})
            say(f"  {len(crns)} open: worker RSS {memory['rss_mib']} MiB, update "
                f"p50 {rows[-1]['update_ms']['p50']} ms")
        self.stack.sink.forget(crns)
        worker.stop()
        beyond = [r for r in rows[1:] if r["open"] > o.scale_cache]
        growth = None
        if len(beyond) >= 2:
            growth = round((beyond[-1]["rss_mib"] - beyond[0]["rss_mib"]) / beyond[0]["rss_mib"], 3)
        return {"cache_size": o.scale_cache, "sizes": rows, "growth_beyond_cache": growth,
                "errors": len(errors), "first_errors": errors[:5]}

    async def processes(self, report: dict[str, Any]) -> dict[str, Any]:
        """The lifecycle and the burst again on `--workers` processes, beside the figures of
        one process (the lifecycle's run and the burst above, same sizes and concurrency)."""
        o = self.options
        n = o.workers
        policy = self.stack.policy_file("lifecycle", lifecycle_policy(o.archive_after))
        worker = await self.start_worker("lifecycle", f"lifecycle{n}", policy, processes=n)
        customers = await self.stack.add_customers(f"life{n}-{self.run_id}", o.complaints)
        say(f"processes: the lifecycle on {n} worker processes, {o.complaints} complaints, "
            f"{o.concurrency} at a time ...")
        run = Run(workflows=o.complaints)

        async def work() -> list[str]:
            return await run_all(o.complaints, o.concurrency, lambda k: self.complaint_life(
                worker, customers[k], f"life{n}-{k}", run.update_ms))

        await self.measure(worker, run, work)
        worker.stop()
        rows = [_process_row(1, report["lifecycle"], report.get("escalation", {}).get("burst")),
                _process_row(n, run.summary(), await self.burst(n) if o.burst else None)]
        first, last = rows[0], rows[-1]
        return {"rows": rows, "activities_per_s_ratio": (
            round(last["activities_per_s"] / first["activities_per_s"], 3)
            if first["activities_per_s"] else None)}


def _process_row(processes: int, life: dict[str, Any], burst: dict[str, Any] | None
                 ) -> dict[str, Any]:
    return {"processes": processes, "activities_per_s": life["activities_per_s"],
            "complaints_per_s": life["complaints_per_s"],
            "worker_cpu_s": life["cpu_s"].get("worker"),
            "worker_cpu_ms_per_workflow": life["worker_cpu_ms_per_workflow"],
            "worker_peak_rss_mib": life["worker_peak_rss_mib"],
            "update_p95_ms": life["update_ms"]["p95"],
            "lifecycle": life, "burst": burst,
            "burst_p50_ms": burst["lateness_ms"]["p50"] if burst else None,
            "burst_p99_ms": burst["p99_ms"] if burst else None}


def explain_shapes(shape: BareShape, sizes: Extras) -> list[tuple[str, str, BareShape]]:
    """The ceiling with one of the complaint's costs added back at a time (`--explain`): how
    much of the gap between the complaint and the ceiling each one accounts for."""
    variants = [("ceiling + upserts", "upserts", Extras(upserts=True)),
                ("ceiling + payload sizes", "payloads", sizes),
                ("ceiling + both", "both", sizes.model_copy(update={"upserts": True}))]
    return [(label, tag, shape.model_copy(update={"extras": extras}))
            for label, tag, extras in variants]


def ratios(report: dict[str, Any]) -> dict[str, float | None]:
    """The complaint against the ceiling beyond throughput: its history's bytes (the medians
    of the workflows sampled side by side; calibration's one pair when none were), the
    worker's CPU per workflow and the update round trip's p95, at the same load."""
    def of(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    shape, life, ceiling = report["shape"], report["lifecycle"], report["ceiling"]
    sampled = report.get("history_bytes", {})
    one_pair = of(shape["complaint"]["history_bytes"], shape["ceiling"]["history_bytes"])
    medians = of(sampled.get("lifecycle", {}).get("median"),
                 sampled.get("ceiling", {}).get("median"))
    return {"history_bytes_ratio": medians or one_pair,
            "history_bytes_ratio_calibration": one_pair,
            "worker_cpu_ratio": of(life["worker_cpu_ms_per_workflow"],
                                   ceiling["worker_cpu_ms_per_workflow"]),
            "update_p95_ratio": of(life["update_ms"]["p95"], ceiling["update_ms"]["p95"])}


def ratio(run: Run, ceiling: Run) -> float | None:
    """`run`'s activity throughput over the ceiling's."""
    if not (run.wall_s and ceiling.wall_s and ceiling.activities):
        return None
    return round(run.activities / run.wall_s / (ceiling.activities / ceiling.wall_s), 3)


async def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Run every phase on one fresh embedded stack; returns the report (see `format_report`)."""
    began = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "options": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}}
    say("bench: starting PostgreSQL, the Temporal dev server and the SMTP sink ...")
    # the dev server as `make dev` runs it (devstack/devserver.py), unless --plain-server
    server_args = tuple(() if options.plain_server else tuning_flags()) + tuple(
        a for p in options.sqlite_pragmas for a in ("--sqlite-pragma", p)) + tuple(
        a for v in options.dynamic_config for a in ("--dynamic-config-value", v))
    async with bench_stack(options.keep, server_args, not options.plain_payloads) as stack:
        if options.storm:  # outage day, on its own (bench/storm.py)
            report["storm"] = await run_storm(stack, options)
            report["phase_s"] = {"storm": round(time.perf_counter() - began, 1)}
            report["targets"] = storm_targets(report["storm"])
            report["notes"] = notes(options)
            report["elapsed_s"] = round(time.perf_counter() - began, 1)
            report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
            return report
        bench = Bench(stack, options)
        life_worker, customers, shape, counts = await bench.calibrate()
        ceiling_worker, bare_counts = await bench.ceiling_worker(shape)
        n = options.complaints
        lifecycle = Workload("lifecycle", life_worker, lambda k, t: bench.complaint_life(
            life_worker, customers[k], f"life-{k}", t), Run(workflows=n))
        ceiling = Workload("ceiling", ceiling_worker, lambda k, t: bench.bare_life(
            ceiling_worker, shape, f"c-{k}", t), Run(workflows=n))
        workloads = [lifecycle, ceiling]
        if options.explain:  # on the ceiling's worker, in the same rounds
            def bare(sh: BareShape, tag: str) -> Callable[[int, list[float]], Awaitable[Any]]:
                return lambda k, t: bench.bare_life(ceiling_worker, sh, f"{tag}-{k}", t)

            workloads += [Workload(label, ceiling_worker, bare(sh, tag), Run(workflows=n))
                          for label, tag, sh in explain_shapes(shape, bench.payload_sizes)]
        report["phase_s"] = {"setup and calibration": round(time.perf_counter() - began, 1)}
        mark = time.perf_counter()
        await bench.side_by_side(workloads)
        report["phase_s"]["side by side"] = round(time.perf_counter() - mark, 1)
        life_worker.stop()
        ceiling_worker.stop()
        report["shape"] = {"complaint": counts, "ceiling": bare_counts, "mirrored": shape.totals(),
                           "segments": shape.model_dump()["segments"]}
        report["lifecycle"] = lifecycle.run.summary()
        report["ceiling"] = ceiling.run.summary()
        report["history_bytes"] = {w.label: await bench.history_bytes(w.run.ids)
                                   for w in (lifecycle, ceiling)}
        report["ratio"] = ratio(lifecycle.run, ceiling.run)
        if stack.payload_keys:
            report["codec"] = await codec_cost(stack.client, stack.payload_keys,
                                               report["ceiling"]["worker_cpu_ms_per_workflow"])
        if options.explain:
            report["explain"] = [{"variant": w.label, "of_ceiling": ratio(w.run, ceiling.run),
                                  **w.run.summary()} for w in workloads[2:]]
        report.update(ratios(report))
        if options.escalation_complaints or options.burst:
            mark = time.perf_counter()
            report["escalation"] = (await bench.escalation() if options.escalation_complaints
                                    else {})
            if options.burst:
                report["escalation"]["burst"] = await bench.burst()
            report["phase_s"]["escalation"] = round(time.perf_counter() - mark, 1)
        if options.workers > 1:
            mark = time.perf_counter()
            report["processes"] = await bench.processes(report)
            report["phase_s"]["processes"] = round(time.perf_counter() - mark, 1)
        if options.scale_sizes:
            mark = time.perf_counter()
            report["scale"] = await bench.scale()
            report["phase_s"]["scale"] = round(time.perf_counter() - mark, 1)
    report["targets"] = targets(report)
    report["notes"] = notes(options)
    report["elapsed_s"] = round(time.perf_counter() - began, 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


async def run_from_args(args: argparse.Namespace, command: str) -> None:
    """`python -m bench`: run it, print the report (`command`: how it was asked for)."""
    try:
        report = await run_bench(options_from(args))
    except BenchFailed as err:
        print(f"python -m bench: {err}", file=sys.stderr)
        sys.exit(1)
    report["command"] = command
    table = format_report(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(table)
