# Quickstart targets: `make demo` and `make test`. Each sets itself up (venv, installs) and is idempotent.
# `make install` is what production runs; `make check` is the quick loop (lint + unit + fast integration
# tests); `make test` runs everything, as CI. Every install takes its exact versions from the committed
# lock files (requirements.lock, requirements-dev.lock); `make lock` writes them (see "Upgrading" in
# docs/production.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PACKAGES := sandbox tap-qtickets target-clickhouse orchestrate
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
TYPED := sandbox/qtickets_sandbox tap-qtickets/tap_qtickets target-clickhouse/target_clickhouse orchestrate/qtickets_pipeline
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# The local packages: resolved with the rest, left out of the lock (they are installed editable).
LOCAL := qtickets-sandbox tap-qtickets target-clickhouse qtickets-pipeline
COMPILE := $(UV) pip compile --quiet --universal --python-version 3.11 $(foreach p,$(LOCAL),--no-emit-package $(p))

export MELTANO_CLI_DISABLE_VERSION_CHECK := 1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install dev demo test check typecheck lint bench lock clean

install: $(STAMP)

# uv is not guaranteed on the machine: bootstrap it inside the venv with pip (pinned), then let uv install.
$(UV):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==$$(sed -n 's/^uv==//p' $(LOCK))"

$(STAMP): $(UV) $(PYPROJECTS) requirements.in $(LOCK)
	$(UV) pip install --quiet --compile-bytecode -p $(BIN)/python -c $(LOCK) -r requirements.in
	@touch $(STAMP)

# Tests, lint and benches need more than production: pytest, ruff, mypy, playwright, psutil.
dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.in $(DEV_LOCK)
	$(UV) pip install --quiet --compile-bytecode -p $(BIN)/python -c $(LOCK) -c $(DEV_LOCK) -r requirements-dev.in
	@touch $(DEV_STAMP)

demo: install
	$(BIN)/qtickets-pipeline demo

lint: dev
	$(BIN)/ruff check .
	$(BIN)/mypy $(TYPED)

# Two pytest-xdist workers, one per core (the tests are parallel-safe: own temp dirs, port 0, a Meltano run
# directory each); `.venv/bin/pytest <path>` alone runs in one process.
XDIST := -n 2

test: dev lint
	$(BIN)/pytest $(XDIST)

# Test tiers are pytest markers (pyproject.toml); `slow` integration tests and every e2e test wait for `make test`.
check: dev lint
	$(BIN)/pytest -q $(XDIST) -m "unit or (integration and not slow)"

# mypy (config in pyproject.toml) over every package; part of `lint`.
typecheck: dev
	$(BIN)/mypy $(TYPED)

bench: dev
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-resolve the locks: `make lock` keeps every pin it can (after a pyproject or .in change);
# `make lock UPGRADE=chdb` moves one package to its newest allowed version, `make lock UPGRADE=all` all.
lock: $(UV)
	$(COMPILE) $(if $(UPGRADE),$(if $(filter all,$(UPGRADE)),--upgrade,--upgrade-package $(UPGRADE))) requirements.in -o $(LOCK)
	$(COMPILE) $(if $(UPGRADE),$(if $(filter all,$(UPGRADE)),--upgrade,--upgrade-package $(UPGRADE))) -c $(LOCK) requirements-dev.in -o $(DEV_LOCK)

clean:
	rm -rf $(VENV) .venv-bench .meltano data .pytest_cache .ruff_cache .mypy_cache
