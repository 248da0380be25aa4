"""The import contracts (pyproject.toml, [tool.importlinter]; docs/design.md, layout) hold, and
`lint-imports` fails when a module imports what they forbid, inside a function too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from settings import REPO_ROOT

LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
IMPORTLINTER = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = IMPORTLINTER["root_packages"]
CONTRACTS = [c["name"] for c in IMPORTLINTER["contracts"]]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, "--no-cache", "--no-logo", "pyproject.toml"], cwd=root,
                          env=os.environ | {"PYTHONPATH": str(root)}, capture_output=True,
                          text=True, timeout=120)


def test_the_contracts_hold():
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "statement", "contract"), [
    ("workflows/policy.py", "from starter import operations",
     "workflows: deterministic code, no other package of ours, no I/O library"),
    ("workflows/calendar.py", "import asyncpg",
     "workflows: deterministic code, no other package of ours, no I/O library"),
    ("workers/health.py", "import starter.cli", "Imports point one way"),
    ("database/keys.py", "from settings import Settings", "Imports point one way"),
    ("database/records.py", "from reporting import figures", "Imports point one way"),
    ("mail/links.py", "from database import pool", "Imports point one way"),
    ("starter/operations.py", "import bench.run", "Imports point one way"),
    ("starter/operations.py", "import bench.run", "The product never imports"),
    ("activities/email.py", "import devstack", "The product never imports"),
    ("starter/api/errors.py", "from starter.cli import usage",
     "starter: the CLI and the HTTP API side by side"),
    ("starter/listing.py", "from starter import operations",
     "starter: the CLI and the HTTP API side by side"),
    ("starter/cli/views.py", "import asyncpg", "starter has no SQL of its own"),
    ("starter/cli/views.py", "from activities import store", "starter has no SQL of its own"),
    ("bench/report.py", "from bench import run", "No import circles inside any package"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, statement: str,
                                                contract: str):
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n\ndef _hidden() -> None:\n    {statement}\n")

    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())  # long contract names wrap
    [name] = [n for n in CONTRACTS if n.startswith(contract)]
    assert f"{name} BROKEN" in report, result.stdout
