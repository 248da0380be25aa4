"""Is the worker on this host alive, and ready? The container health check.

`python -m workers.health`: alive means Temporal has seen a poll from this host on the task
queue in the last two minutes (a live worker long-polls all the time; its identity is
`pid@hostname`). PostgreSQL or SMTP being down does not make the worker unhealthy: its
activities retry, and restarting it would not help.

`python -m workers.health --ready` (what compose uses): alive, and PostgreSQL answers, and
the worker's metrics endpoint (METRICS_PORT) answers, so Prometheus sees it. Exit 0 when
so, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from database.pool import create_pool, ping
from settings import Settings, connect

RECENT = timedelta(minutes=2)


async def pollers_from(settings: Settings, host: str) -> list[str]:
    """Identities of this host's recent pollers on the task queue (workflow tasks)."""
    client = await connect(settings)
    reply = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=settings.namespace, task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    since = datetime.now(UTC) - RECENT
    return [p.identity for p in reply.pollers if p.identity.endswith(f"@{host}")
            and p.last_access_time.ToDatetime(UTC) >= since]


async def database_answers(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        await ping(pool)
    finally:
        await pool.close()


def metrics_answer(settings: Settings) -> None:
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:  # nosec B310 # a fixed http URL on 127.0.0.1
        reply.read()


def check(settings: Settings, ready: bool) -> tuple[int, str]:
    host = socket.gethostname()
    try:
        found = asyncio.run(asyncio.wait_for(pollers_from(settings, host), 10))
    except Exception as err:  # Temporal unreachable, timed out, ...
        return 1, f"unhealthy: cannot ask Temporal at {settings.temporal_address}: {err}"
    if not found:
        return 1, (f"unhealthy: no worker on {host} polled {settings.task_queue!r} in the last "
                   f"{int(RECENT.total_seconds())} s")
    alive = f"{', '.join(found)} polling {settings.task_queue!r}"
    if not ready:
        return 0, f"healthy: {alive}"
    try:
        asyncio.run(asyncio.wait_for(database_answers(settings), 10))
    except Exception as err:
        return 1, f"not ready: PostgreSQL does not answer: {err}"
    try:
        metrics_answer(settings)
    except OSError as err:
        return 1, f"not ready: no metrics on port {settings.metrics_port}: {err}"
    return 0, f"ready: {alive}; PostgreSQL answers; metrics on :{settings.metrics_port}"


def main() -> None:
    """Exits with os._exit: a short-lived Temporal client can abort at interpreter teardown
    (temporalio/sdk-python#300), which would read as "unhealthy"."""
    code, line = check(Settings.from_env(), ready="--ready" in sys.argv[1:])
    print(line)
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
