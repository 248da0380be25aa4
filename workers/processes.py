"""More than one worker process on one host: `python -m workers` with WORKER_PROCESSES > 1.

Python runs one workflow task or activity at a time per process (one GIL), so one process
uses one core however many it is given. With WORKER_PROCESSES=N the parent starts N children
(`python -m workers --process I`), each a whole worker on the same task queue with its own
workflow cache (WORKFLOW_CACHE_SIZE each), and supervises them:

- SIGTERM or SIGINT to the parent is passed on to every child, which finishes the tasks in
  hand (10 s for activities) as a single worker does; the parent waits for them and exits 0.
- A child that exits on its own (crashed, killed) stops the others and makes the parent exit
  1: the container's restart policy (compose: `unless-stopped`) or systemd starts the whole
  worker again, rather than a parent restarting children in a loop nobody sees.
- Only process 0 does the once-per-worker work: the report schedules and the gauges read from
  PostgreSQL (the worker runs no migrations; `complaints migrate` does).
- Metrics: child I serves its Prometheus endpoint on 127.0.0.1, port METRICS_PORT + 1 + I;
  the parent serves METRICS_PORT, where every child's metrics are merged, each series with a
  `worker_process="I"` label. Prometheus, the health check and the dashboard keep scraping one
  port per host; sum or max over `worker_process` as over workers.

WORKER_PROCESSES=1 runs the worker in this process, as before: no parent, no extra port.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess  # nosec B404 # this interpreter running this package
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from settings import Settings

log = logging.getLogger("complaints.worker")

# The children's graceful shutdown (10 s for activities in hand) and a margin to exit.
STOP_WITHIN = 15.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PROCESS_LABEL = "worker_process"


def end_with_parent() -> None:
    """In a child: SIGTERM (a graceful stop) when the parent dies, however it dies (a SIGKILL
    gives it no time to pass anything on), so no orphan keeps polling or holds its port."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent was gone already, before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def child_metrics_port(settings: Settings, index: int) -> int:
    return settings.metrics_port + 1 + index


def supervise(settings: Settings) -> int:
    """Run WORKER_PROCESSES children until a signal (exit code 0) or one child's end (1)."""
    n = settings.worker_processes
    try:  # first: a busy METRICS_PORT stops the start before any child runs
        fan_in = MetricsFanIn(settings, n)
    except OSError as err:
        print(f"worker not started: METRICS_PORT {settings.metrics_port}: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()  # no logging here: a signal handler must not take the logging lock

    for sig in (signal.SIGINT, signal.SIGTERM):  # before the children: none is left orphaned
        signal.signal(sig, on_signal)
    children = [subprocess.Popen([sys.executable, "-m", "workers", "--process", str(i)])  # nosec B603 # fixed argv, no shell
                for i in range(n)]
    fan_in.start()
    log.info("%d worker processes (pids %s); metrics of all on :%d/metrics", n,
             ", ".join(str(c.pid) for c in children), settings.metrics_port)
    code = 0
    while not stop.wait(0.5):
        ended = [(i, c) for i, c in enumerate(children) if c.poll() is not None]
        if ended:
            i, child = ended[0]
            log.error("worker process %d (pid %d) exited with code %s: stopping the others",
                      i, child.pid, child.returncode)
            code = 1
            break
    else:
        log.info("stopping the %d worker processes", n)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WITHIN
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker process (pid %d) did not stop within %.0f s: killed", child.pid,
                      STOP_WITHIN)
            child.kill()
            child.wait()
    fan_in.stop()
    return code


class MetricsFanIn:
    """The parent's METRICS_PORT: every child's metrics, labelled with the child's index."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.ports = [child_metrics_port(settings, i) for i in range(processes)]
        fan_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 # http.server's name
                body = fan_in.merged()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # one line per scrape is noise
                pass

        self.server = ThreadingHTTPServer(("0.0.0.0", settings.metrics_port), Handler)  # nosec B104 # metrics for Prometheus in the container network
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def merged(self) -> bytes:
        families: dict[str, Metric] = {}
        up = Metric("complaints_worker_process_up", "1 if the worker process answered the "
                    "last scrape", "gauge")
        for index, port in enumerate(self.ports):
            label = {PROCESS_LABEL: str(index)}
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url, timeout=5) as reply:  # nosec B310 # a fixed http URL on 127.0.0.1
                    text = reply.read().decode()
            except OSError:
                up.add_sample(up.name, label, 0)
                continue
            up.add_sample(up.name, label, 1)
            for family in text_string_to_metric_families(text):
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit))
                merged.samples += [s._replace(labels={**s.labels, **label}) for s in family.samples]
        families[up.name] = up
        return generate_latest(_Collected(list(families.values())))


class _Collected:
    """What `generate_latest` renders: a registry's one method."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families
