"""`complaints bench`: the benchmark, which lives in the source checkout's bench/ (development
only: the wheel does not carry it, see bench/__init__.py)."""

from __future__ import annotations

import argparse
import os
import sys

from settings import REPO_ROOT, Settings
from starter.cli.usage import UsageError

ABOUT = ("the complaint lifecycle against the bare Temporal ceiling, side by side on the "
         "embedded stack (docs/performance.md)")


def add_bench_command(sub: argparse._SubParsersAction) -> None:
    try:
        from bench.options import add_arguments  # the flags only: a few dataclass fields
    except ModuleNotFoundError as err:
        if (err.name or "").partition(".")[0] != "bench":  # bench/ there, but broken
            raise
        # Every flag (--help too) is the benchmark's, passed on to the checkout's.
        p = sub.add_parser("bench", help=ABOUT, add_help=False, prefix_chars="+")
        p.add_argument("options", nargs="*")
        p.set_defaults(func=_bench_from_checkout)
        return
    p = sub.add_parser("bench", help=ABOUT)
    add_arguments(p)
    p.set_defaults(func=_bench)


async def _bench(args: argparse.Namespace, settings: Settings) -> None:
    # The run: its embedded stack and actors (embedded PostgreSQL, the Temporal dev server,
    # the SMTP sink of the dev extra), loaded only when it runs. It starts its own stack,
    # so `settings` are not used.
    from bench.run import run_from_args

    await run_from_args(args, "complaints " + " ".join(sys.argv[1:]))


async def _bench_from_checkout(args: argparse.Namespace, settings: Settings) -> None:
    """`complaints` installed from a source checkout (`pip install -e .` maps only the
    product's packages): run again with the checkout on the path, where bench/ is."""
    checkout = str(REPO_ROOT)
    if checkout in sys.path or not (REPO_ROOT / "bench" / "__init__.py").is_file():
        raise UsageError("complaints bench runs from a source checkout: make bench")
    path = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)
    os.execve(sys.executable, [sys.executable, "-m", "starter.cli", "bench", *args.options],  # nosec B606 # fixed argv, no shell
              os.environ | {"PYTHONPATH": path})
