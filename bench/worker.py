"""The worker under test in `python -m bench`: `python -m bench.worker lifecycle|ceiling`.

`lifecycle` is the product's worker, built by `build_worker` as `python -m workers` builds
it; `ceiling` runs the bare workflow of the same shape with no-op activities. Both get the
same client, sandbox, tuning and shutdown, so the ratio between them is the complaint's own
cost. Each phase runs in a fresh process, so its peak RSS is its own. The SDK's metrics
are served in Prometheus format on BENCH_METRICS_PORT for the benchmark to read.

Reads the worker's usual variables (TEMPORAL_ADDRESS, TASK_QUEUE, DATABASE_URL, ...) plus
BENCH_METRICS_PORT and, optionally, BENCH_MAX_CACHED_WORKFLOWS (the SDK's default is 1000).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from datetime import timedelta

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorAutoscaling, Worker

from bench.ceiling import BenchCeilingWorkflow, BenchTimerWorkflow, bench_no_op
from database.pool import create_pool
from settings import Settings, connect
from workers.worker import WORKER_TUNING, build_worker, workflow_runner

log = logging.getLogger("complaints.bench.worker")


def worker_options() -> dict:
    """The options both workloads run with: those of `python -m workers`, plus the cache size
    when the benchmark sets one, plus BENCH_WORKER_OPTIONS (`--worker-option`, JSON: Worker
    keyword arguments; a number for an option ending in `_timeout` is seconds)."""
    options: dict = {"graceful_shutdown_timeout": timedelta(seconds=10)}
    if os.environ.get("BENCH_MAX_CACHED_WORKFLOWS"):
        options["max_cached_workflows"] = int(os.environ["BENCH_MAX_CACHED_WORKFLOWS"])
    for key, value in json.loads(os.environ.get("BENCH_WORKER_OPTIONS") or "{}").items():
        if value == "autoscaling":
            options[key] = PollerBehaviorAutoscaling()
        else:
            options[key] = timedelta(seconds=value) if key.endswith("_timeout") else value
    return options


async def run(workload: str) -> None:
    settings = Settings.from_env()
    port = int(os.environ["BENCH_METRICS_PORT"])
    runtime = Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await connect(settings, runtime=runtime)
    pool = None
    if workload == "lifecycle":
        policy = settings.policy()
        pool = await create_pool(settings.database_url)
        worker = build_worker(client, settings, pool, policy, **worker_options())
    else:
        worker = Worker(client, task_queue=settings.task_queue, workflows=[BenchCeilingWorkflow, BenchTimerWorkflow],
                        activities=[bench_no_op], workflow_runner=workflow_runner(),
                        **(WORKER_TUNING | worker_options()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print(f"ready: {workload} worker on {settings.task_queue}", flush=True)
        await stop.wait()
    if pool is not None:
        await pool.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workload = sys.argv[1] if len(sys.argv) > 1 else ""
    if workload not in ("lifecycle", "ceiling"):
        print("usage: python -m bench.worker lifecycle|ceiling", file=sys.stderr)
        sys.exit(2)
    asyncio.run(run(workload))


if __name__ == "__main__":
    main()
