# One command each: `make dev` runs the whole stack locally, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv dev test lint clean-dev

venv: $(VENV)/.installed

# Reinstalls whenever pyproject.toml changes; creates the venv only if it is missing.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $@

dev: venv
	$(BIN)/python -m starter.devstack

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

# Deletes the development stack's data (PostgreSQL, Temporal history, mail); stop `make dev` first.
clean-dev:
	rm -rf .dev
