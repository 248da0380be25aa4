"""Bad input on the command line, caught before anything is sent: `complaints` exits 2."""

from __future__ import annotations

import sys

from pydantic import ValidationError


class UsageError(Exception):
    """Bad input on the command line or in a file: exit 2, nothing sent."""


def read_text(path: str) -> str:
    """A file's text, or standard input's for `-`."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


def describe(err: ValidationError) -> str:
    """A validation error in one line, each field named."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(payload)'}: {e['msg']}" for e in err.errors()
    )
