# One command each: `make dev` runs the whole stack locally, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv dev test faults bench bench-storm lint clean-dev

venv: $(VENV)/.installed

# Reinstalls whenever pyproject.toml changes; creates the venv only if it is missing.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $@

dev: venv
	$(BIN)/python -m devstack

# The import contracts (pyproject.toml, [tool.importlinter]) and the type checker
# ([tool.mypy]) first, then the tests.
test: venv
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The fault tests (docs/reliability.md): worker SIGKILLed, SMTP, PostgreSQL and Temporal
# down, duplicate intakes, all through real processes; about 4 minutes. FAULTS_SEED=n
# replays the kill times of an earlier run.
faults: venv
	$(BIN)/python -m pytest -q -s -m faults $(PYTEST_ARGS)

# The complaint lifecycle against the bare Temporal ceiling on the embedded stack, side by
# side (docs/performance.md); under 5 minutes. BENCH_ARGS="--complaints 200 --json" etc.
bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

# Outage day (docs/performance.md): 2,000 complaints by email through the mail gateway over
# 10 minutes, none acknowledged, every one breaching and escalating; about 15 minutes.
bench-storm: venv
	$(BIN)/python -m bench --storm 2000 --over 600 $(BENCH_ARGS)

# ruff, then bandit (security findings: fixed, or `# nosec` with its reason; docs/security.md).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/bandit -q -c pyproject.toml -r workflows activities database mail reporting workers starter settings devstack bench

# Deletes the development stack's data (PostgreSQL, Temporal history, mail); stop `make dev` first.
clean-dev:
	rm -rf .dev
