# Quickstart targets: `make demo` and `make test`. Each sets itself up (venv, installs) and is idempotent.
# `make check` is the quick loop (lint + unit + fast integration tests); `make test` runs everything, as CI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
PACKAGES := sandbox tap-qtickets target-clickhouse orchestrate
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
TYPED := sandbox/qtickets_sandbox tap-qtickets/tap_qtickets target-clickhouse/target_clickhouse orchestrate/qtickets_pipeline

export MELTANO_CLI_DISABLE_VERSION_CHECK := 1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install demo test check typecheck lint bench clean

install: $(STAMP)

# uv is not guaranteed on the machine: bootstrap it inside the venv with pip, then let uv do the installs.
$(STAMP): $(PYPROJECTS) requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check uv
	$(UV) pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements-dev.txt $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $(STAMP)

demo: install
	$(BIN)/qtickets-pipeline demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)

# Two pytest-xdist workers, one per core (the tests are parallel-safe: own temp dirs, port 0, a Meltano run
# directory each); `.venv/bin/pytest <path>` alone runs in one process.
XDIST := -n 2

test: install lint
	$(BIN)/pytest $(XDIST)

# Test tiers are pytest markers (pyproject.toml); `slow` integration tests and every e2e test wait for `make test`.
check: install lint
	$(BIN)/pytest -q $(XDIST) -m "unit or (integration and not slow)"

# mypy (config in pyproject.toml) over every package; part of `lint`.
typecheck: install
	$(BIN)/mypy $(TYPED)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .meltano data .pytest_cache .ruff_cache .mypy_cache
