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
    if args.desk:
        run_desk_from_args(args)
        return
    # Loaded only for a run: the embedded stack and the actors (--help needs only the flags).
    from bench.run import run_from_args

    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(run_from_args(args, command.strip()))
    except KeyboardInterrupt:
        sys.exit(130)


def run_desk_from_args(args: argparse.Namespace) -> None:
    """`python -m bench --desk`: the queue and search at size; the table, or JSON with --json
    (the table then on stderr). Exits 1 when a target is missed."""
    import json

    from bench.desk import format_desk, run_desk

    if not 0 < args.desk_open <= args.desk_complaints or args.desk_samples < 1:
        sys.exit("python -m bench --desk: needs 0 < --desk-open <= --desk-complaints and "
                 "--desk-samples >= 1")
    report = asyncio.run(run_desk(args.desk_complaints, args.desk_open, args.desk_samples,
                                  args.keep))
    table = format_desk(report)
    print(table, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(report, indent=2))
    if not report["met"]:
        sys.exit(1)


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
