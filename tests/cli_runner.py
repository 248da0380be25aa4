"""`complaints ...` run in-process, as the CLI tests call it (`Cli`)."""

from __future__ import annotations

import asyncio
from typing import Any

from starter import cli


class Cli:
    """Runs `complaints ...` in-process with the environment a shell would have."""

    def __init__(self, capsys: Any) -> None:
        self.capsys = capsys

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()  # drop anything printed before
        try:
            await asyncio.to_thread(cli.main, list(argv))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = self.capsys.readouterr()
        return code, out, err
