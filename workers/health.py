"""Is the worker on this host alive? The container health check (`python -m workers.health`).

Alive means: Temporal has seen a poll from this host on the task queue in the last two
minutes (a live worker long-polls all the time; its identity is `pid@hostname`). Exit 0
when alive, 1 otherwise, with one line saying why. PostgreSQL or SMTP being down does not
make the worker unhealthy: its activities retry, and restarting it would not help.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

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


def main() -> None:
    """Exits with os._exit: a short-lived Temporal client can abort at interpreter teardown
    (temporalio/sdk-python#300), which would read as "unhealthy"."""
    settings = Settings.from_env()
    host = socket.gethostname()
    try:
        found = asyncio.run(asyncio.wait_for(pollers_from(settings, host), 10))
    except Exception as err:  # Temporal unreachable, timed out, ...
        print(f"unhealthy: cannot ask Temporal at {settings.temporal_address}: {err}")
        found, code = [], 1
    else:
        code = 0 if found else 1
        if found:
            print(f"healthy: {', '.join(found)} polling {settings.task_queue!r}")
        else:
            print(f"unhealthy: no worker on {host} polled {settings.task_queue!r} in the last "
                  f"{int(RECENT.total_seconds())} s")
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
