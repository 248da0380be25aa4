"""What `python -m bench` can be asked to run: its options, their defaults and its flags.

Light on purpose: `--help` needs only these, and only a run imports the benchmark itself
(bench/run.py).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class BenchOptions:
    # Defaults sized to finish in under 5 minutes on 2 cores (docs/performance.md has the
    # full sizes: --complaints 200 --scale 100,400,1600 --scale-cache 100).
    complaints: int = 100
    concurrency: int = 10
    escalation_complaints: int = 40
    escalation_after: str = "20s"  # the personal acknowledgement's deadline in that run
    escalation_rate: float = 4.0  # complaints arriving per second in that run (0: all at once)
    # A burst: complaints submitted ahead of time, received_at chosen so that every one's
    # personal acknowledgement falls due at the same instant (0 skips).
    burst: int = 100
    burst_lead: float = 0.0  # seconds from the first submission to that instant (0: n/5 + 10)
    workers: int = 1  # worker processes: >1 runs the lifecycle and the burst again at that many
    worker_options: tuple[str, ...] = ()  # KEY=VALUE Worker options for every worker under test
    scale_sizes: tuple[int, ...] = (50, 200, 800)
    scale_cache: int = 50  # the scale worker's workflow cache (the product's default is 500)
    scale_sample: int = 15  # updates timed, one at a time, at each size
    scale_concurrency: int = 20  # complaints opened at once (keep it under the cache size)
    archive_after: str = "2s"
    rounds: int = 2  # lifecycle and ceiling alternate: A B, B A, ...
    explain: bool = False  # also run the ceiling with the complaint's upserts / payload sizes
    sqlite_pragmas: tuple[str, ...] = ()  # more `--sqlite-pragma` for the dev server
    dynamic_config: tuple[str, ...] = ()  # more `--dynamic-config-value` for the dev server
    plain_server: bool = False  # SQLite as start-dev leaves it, not `make dev`'s WAL mode
    plain_payloads: bool = False  # both sides without the payload codec (bench/codec_cost.py)
    keep: Path | None = None
    # Outage day (bench/storm.py): N complaints by email through the mail gateway over
    # `over` seconds, instead of the phases above (0: those phases).
    storm: int = 0
    over: float = 600.0
    storm_senders: int = 8
    # The personal acknowledgement's deadline in the storm's policy: the last complaint's
    # falls due `over` + 3 minutes after the first email, so the full run ends in ~15 min.
    storm_due: str = "3m"
    storm_digest_after: int = 5
    storm_digest_window: str = "10m"
    storm_digest_wait: float = 60.0  # seconds to wait after the last escalation for digests


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes such as 100,400,1600") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = BenchOptions()
    p.add_argument("--complaints", type=int, default=d.complaints,
                   help=f"complaints in the lifecycle and ceiling runs (default {d.complaints})")
    p.add_argument("--concurrency", type=int, default=d.concurrency,
                   help=f"complaints in flight at once (default {d.concurrency})")
    p.add_argument("--escalation-complaints", type=int, default=d.escalation_complaints,
                   help=f"complaints left to escalate (default {d.escalation_complaints}; 0 skips)")
    p.add_argument("--escalation-after", default=d.escalation_after,
                   help=f"their personal acknowledgement deadline (default {d.escalation_after})")
    p.add_argument("--escalation-rate", type=float, default=d.escalation_rate,
                   help=f"complaints arriving per second in that run, so their deadlines fall due "
                        f"at that rate (default {d.escalation_rate}; 0: as fast as --concurrency "
                        "allows, a burst)")
    p.add_argument("--burst", type=int, default=d.burst,
                   help=f"complaints whose personal acknowledgement falls due at one instant "
                        f"(default {d.burst}; 0 skips)")
    p.add_argument("--burst-lead", type=float, default=d.burst_lead,
                   help="seconds from the first submission to that instant (default: "
                        "burst/5 + 10, time for them all to be opened first)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="worker processes on the task queue: above 1, the lifecycle and the "
                        "burst run again with that many and both are reported (default 1)")
    p.add_argument("--worker-option", action="append", default=[], dest="worker_options",
                   metavar="KEY=VALUE", help="a Worker option for every worker under test, "
                   "e.g. max_concurrent_workflow_tasks=500 (a number; seconds for *_timeout; "
                   "workflow_task_poller_behavior=autoscaling)")
    p.add_argument("--scale", type=_sizes, default=d.scale_sizes, dest="scale_sizes",
                   help="sizes of open complaints, comma-separated "
                        f"(default {','.join(map(str, d.scale_sizes))}; empty skips)")
    p.add_argument("--scale-cache", type=int, default=d.scale_cache,
                   help=f"the scale worker's workflow cache size (default {d.scale_cache})")
    p.add_argument("--scale-sample", type=int, default=d.scale_sample,
                   help=f"updates timed at each size (default {d.scale_sample})")
    p.add_argument("--scale-concurrency", type=int, default=d.scale_concurrency,
                   help=f"complaints opened at once in the scale phase (default "
                        f"{d.scale_concurrency}; keep it under --scale-cache)")
    p.add_argument("--archive-after", default=d.archive_after,
                   help=f"the lifecycle policy's archive delay (default {d.archive_after})")
    p.add_argument("--rounds", type=int, default=d.rounds,
                   help=f"alternating rounds of lifecycle and ceiling, A B B A ... (default "
                        f"{d.rounds})")
    p.add_argument("--explain", action="store_true",
                   help="also run the ceiling with the complaint's search-attribute upserts and "
                        "payload sizes added back, one at a time (three more runs)")
    p.add_argument("--sqlite-pragma", action="append", default=[], dest="sqlite_pragmas",
                   metavar="PRAGMA=VALUE", help="passed to the dev server after `make dev`'s "
                   "own (devstack/devserver.py), e.g. cache_size=-64000")
    p.add_argument("--dynamic-config", action="append", default=[], metavar="KEY=VALUE",
                   help="a dynamic config value for the dev server (JSON value)")
    p.add_argument("--plain-server", action="store_true",
                   help="run the dev server without `make dev`'s tuning: SQLite with a "
                        "rollback journal and a full sync per commit, search attributes "
                        "re-read on every use")
    p.add_argument("--plain-payloads", action="store_true",
                   help="run both sides without payload encryption (by default both encrypt, "
                        "and the report gives the codec's own cost against the ceiling)")
    storm = p.add_argument_group("outage day (--storm N: only the storm runs)")
    storm.add_argument("--storm", type=int, default=d.storm, metavar="N",
                       help="N new complaints as emails through the mail gateway, from N "
                            "customers, none acknowledged (make bench-storm: 2000)")
    storm.add_argument("--over", type=float, default=d.over, metavar="SECONDS",
                       help=f"the storm's length (default {d.over:g})")
    storm.add_argument("--storm-senders", type=int, default=d.storm_senders,
                       help=f"concurrent SMTP senders (default {d.storm_senders})")
    storm.add_argument("--storm-due", default=d.storm_due,
                       help=f"the personal acknowledgement's deadline (default {d.storm_due})")
    storm.add_argument("--storm-digest-after", type=int, default=d.storm_digest_after,
                       help=f"the policy's [digest] after (default {d.storm_digest_after})")
    storm.add_argument("--storm-digest-window", default=d.storm_digest_window,
                       help=f"the policy's [digest] window (default {d.storm_digest_window})")
    storm.add_argument("--storm-digest-wait", type=float, default=d.storm_digest_wait,
                       help="seconds to wait after the last escalation for the digests of "
                            f"windows closing by then (default {d.storm_digest_wait:g})")
    p.add_argument("--desk", action="store_true",
                   help="instead: the desk's queue and search at size on PostgreSQL alone "
                        "(bench/desk.py; the p95 target is 150 ms)")
    p.add_argument("--desk-complaints", type=int, default=100_000,
                   help="with --desk: complaints loaded (default 100,000)")
    p.add_argument("--desk-open", type=int, default=10_000,
                   help="with --desk: of which open (default 10,000)")
    p.add_argument("--desk-samples", type=int, default=200,
                   help="with --desk: rounds of each timed call (default 200)")
    p.add_argument("--keep", type=Path, help="run in this directory and keep it (worker logs)")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON on stdout (the table goes to stderr)")


def options_from(args: argparse.Namespace) -> BenchOptions:
    """The options `add_arguments` parsed."""
    return BenchOptions(**{k: getattr(args, k) for k in asdict(BenchOptions()) if hasattr(args, k)})


def parse_worker_options(pairs: tuple[str, ...] | list[str]) -> dict[str, float | str]:
    """`--worker-option KEY=VALUE` pairs as Worker keyword arguments: numbers, or `autoscaling`
    for a `*_poller_behavior`."""
    out: dict[str, float | str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--worker-option {pair!r}: expected KEY=VALUE")
        if value == "autoscaling":
            out[key.strip()] = value
            continue
        number = float(value)
        out[key.strip()] = int(number) if number.is_integer() and "." not in value else number
    return out
