"""The import contracts (pyproject.toml, [tool.importlinter]; docs/design.md, layout) hold, and
`lint-imports` fails when a module imports what they forbid, inside a function too."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import typing
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


def test_no_test_module_imports_another():
    """Shared helpers live in tests/scenarios.py, conftest and the other non-test modules, so
    running or changing one test module never depends on another."""
    offenders = []
    for path in sorted((REPO_ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            offenders += [f"{path.name}:{node.lineno} imports {name}" for name in modules
                          if name.rpartition(".")[2].startswith("test_")
                          and name.partition(".")[0] in ("tests", name)]
    assert offenders == []


def _layout_section() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]  # the tree, the first block of the section


def test_the_readme_layout_names_every_package_and_module():
    """README.md's layout is the map a new engineer reads first: every top-level directory
    with Python in it, and every module of those (tests/' own test modules aside)."""
    tree = _layout_section()
    named = set(re.findall(r"^(\w+)/", tree, re.M))
    tops = sorted(p.name for p in REPO_ROOT.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.py")))
    assert [t for t in tops if t not in named] == []
    modules = sorted(str(path.relative_to(REPO_ROOT)) for top in tops
                     for path in (REPO_ROOT / top).rglob("*.py")
                     if path.name != "__init__.py" and not path.name.startswith("test_")
                     and "vendor" not in path.parts)
    assert [m for m in modules if Path(m).name not in tree] == []


def test_the_design_names_every_action_of_the_workflow():
    """docs/design.md's contract table names every update, signal and query, with its
    payload model, as ComplaintWorkflow defines them."""
    from temporalio import workflow

    from workflows.complaint import ComplaintWorkflow

    design = (REPO_ROOT / "docs" / "design.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in design.splitlines()
            if line.startswith("| `")}
    defn = workflow._Definition.from_class(ComplaintWorkflow)
    assert defn is not None
    names = [*defn.updates, *defn.signals, *defn.queries]
    assert [name for name in names if f"`{name}`" not in rows] == []
    actions = [(u.name, u.fn) for u in defn.updates.values()]
    actions += [(s.name, s.fn) for s in defn.signals.values()]
    for name, fn in actions:
        payload = next(iter(typing.get_type_hints(fn).values()))
        assert f"`{payload.__name__}`" in rows[f"`{name}`"], name
