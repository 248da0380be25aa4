"""`python -m bench` (what `make bench` runs): parse the benchmark's flags, run it, print the
report. The product's `complaints` command does not carry the benchmark."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bench.options import add_arguments

ABOUT = ("the complaint lifecycle against the bare Temporal ceiling, side by side on the "
         "embedded stack (docs/performance.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=ABOUT)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # Loaded only for a run: the embedded stack and the actors (--help needs only the flags).
    from bench.run import run_from_args

    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(run_from_args(args, command.strip()))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    else:
        code = 0
    # Skip interpreter teardown, where the Temporal client's native threads can abort a
    # finished process (temporalio/sdk-python#300, as in starter/cli/__init__.py).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
