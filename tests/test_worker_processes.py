"""`python -m workers` with WORKER_PROCESSES=2 (workers/processes.py), as real processes on the
dev server: both children poll the task queue and run complaints, the parent's METRICS_PORT
serves both children's metrics labelled by process, the container's readiness check passes
against it, SIGTERM stops everything with exit 0, and a child that dies makes the parent
stop the other and exit 1."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from settings import REPO_ROOT, Settings
from tests.conftest import ComplaintStack
from tests.faultstack import free_port


def test_worker_processes_default_to_the_usable_cores_and_refuse_zero():
    assert Settings.from_env({}).worker_processes == len(os.sched_getaffinity(0))
    assert Settings.from_env({"WORKER_PROCESSES": "3"}).worker_processes == 3
    with pytest.raises(ValueError, match="WORKER_PROCESSES must be 1 or more"):
        Settings.from_env({"WORKER_PROCESSES": "0"})


def _metrics_port() -> int:
    """A port with the next two free as well (the children's)."""
    for _ in range(50):
        port = free_port()
        if port < 65000 and all(_free(port + i) for i in (1, 2)):
            return port
    raise RuntimeError("no three free ports in a row")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


async def test_two_worker_processes_share_the_queue_and_one_metrics_port(
        local_stack: ComplaintStack, tmp_path: Path):
    stack = local_stack
    port = _metrics_port()
    env = os.environ | {
        "TEMPORAL_ADDRESS": stack.client.service_client.config.target_host,
        "TASK_QUEUE": stack.settings.task_queue, "DATABASE_URL": stack.settings.database_url,
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(stack.settings.smtp_port),
        "METRICS_PORT": str(port), "WORKER_PROCESSES": "2", "PAYLOAD_ENCRYPTION_KEYS": "",
    }
    log = tmp_path / "worker.log"

    def start() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "workers"], cwd=REPO_ROOT, env=env,
                                stdout=log.open("ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)  # its children die with it below

    parent = start()
    try:
        crns = [(await stack.submit()).crn for _ in range(4)]
        for crn in crns:  # the automatic acknowledgement: some child ran each one
            await stack.mail_for(crn, "acknowledgement", timeout=60)

        text = await asyncio.to_thread(_scrape, port)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        up = {s.labels["worker_process"]: s.value
              for s in families["complaints_worker_process_up"].samples}
        assert up == {"0": 1.0, "1": 1.0}
        polls = {s.labels.get("worker_process") for f in families.values() for s in f.samples
                 if f.name.startswith("temporal_")}
        assert polls == {"0", "1"}, "each child's SDK metrics, labelled with its index"

        ready = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "workers.health",
                                                         "--ready"], cwd=REPO_ROOT, env=env,
                                        capture_output=True, text=True, timeout=60)
        assert ready.returncode == 0, ready.stdout + ready.stderr

        parent.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(parent.wait, 30) == 0, log.read_text()

        # A child that dies: the parent stops the other and exits 1 (the restart policy's turn).
        parent = start()
        children = await _children_of(parent.pid, 2)
        os.kill(children[0], signal.SIGKILL)
        assert await asyncio.to_thread(parent.wait, 30) == 1, log.read_text()
        assert "exited with code -9: stopping the others" in log.read_text()
        assert not any(Path(f"/proc/{pid}").exists() for pid in children[1:])

        # The parent killed outright (no time to pass a signal on): its children end too,
        # rather than orphans that keep polling and hold their metrics ports.
        parent = start()
        children = await _children_of(parent.pid, 2)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not any(_alive(pid) for pid in children), log.read_text()
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not reaped by init yet, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


async def _children_of(pid: int, n: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            if int(text[text.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(stat.parent.name))
        if len(found) >= n:
            return sorted(found)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{n} worker processes did not start")
