# Quick start: `make run` (install, migrate, demo data, start) and `make test` (install, test).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export BTI_DATABASE_URL ?= sqlite:///instance/bti.sqlite3
PORT ?= 5000

LOCK := requirements/dev.lock
STAMP := $(VENV)/.installed

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Exactly what CI tested: every runtime and dev dependency, pip and setuptools pinned with their
# hashes in requirements/dev.lock (refresh it with `make lock`), then bti itself without deps.
install: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

# Re-resolve the pins after changing dependencies in pyproject.toml (or to take upgrades:
# `make lock UPGRADE=--upgrade`), then commit requirements/dev.lock.
lock: install
	$(BIN)/uv pip compile pyproject.toml requirements/tools.in --extra dev --extra postgres \
	  --generate-hashes --python-version 3.11 --python-platform linux \
	  --custom-compile-command "make lock" -q $(UPGRADE) -o $(LOCK)

run: install
	$(BIN)/bti init-db
	$(BIN)/bti demo-data --if-empty --password demo-passord-2026
	BTI_DEV=1 $(BIN)/flask --app app run --port $(PORT)

# Browser tests (tests/e2e) run when /usr/bin/chromium is there; tests/e2e/install-deps.sh
# installs it and axe-core (.ci/run does). The timeout stops a hung browser or server.
# The suite runs twice: on SQLite (in-process), then on PostgreSQL (a fresh schema per test,
# tests/dbs.py) when BTI_TEST_POSTGRES_URL answers or BTI_REQUIRE_POSTGRES=1 (CI sets it).
# Every check runs even when one before it fails, and the target fails at the end naming
# each failed step, so one CI run reports everything.
test: install
	@failed=""; \
	$(BIN)/ruff check bti tests bench || failed="$$failed ruff"; \
	$(BIN)/bandit -q -r bti -ll || failed="$$failed bandit"; \
	$(BIN)/mypy || failed="$$failed mypy"; \
	$(MAKE) --no-print-directory test-sqlite || failed="$$failed sqlite"; \
	if [ "$${BTI_REQUIRE_POSTGRES:-}" = 1 ] || $(BIN)/python -m tests.dbs; then \
	  $(MAKE) --no-print-directory test-postgres || failed="$$failed postgres"; \
	else \
	  echo "PostgreSQL does not answer: the PostgreSQL run is left out (BTI_REQUIRE_POSTGRES=1 requires it)"; \
	fi; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed"; exit 1; fi; \
	echo "make test: all steps passed"

test-sqlite:
	BTI_TEST_DATABASE=sqlite $(BIN)/python -m pytest --timeout=900

test-postgres:
	BTI_TEST_DATABASE=postgres $(BIN)/python -m pytest --timeout=900

# The edit loop: the engine, the domain and the services on SQLite, without the tests marked slow
# (the Hypothesis state machines, the crash test); `make test` still runs everything.
test-fast: install
	BTI_TEST_DATABASE=sqlite $(BIN)/python -m pytest -q -m "not slow" --timeout=300 \
	  tests/engine tests/domain tests/render tests/services tests/test_architecture.py

# Type-check bti with mypy: strict on bti/engine and bti/domain, mypy's defaults on the rest
# ([tool.mypy] in pyproject.toml); `make test` runs it too.
typecheck: install
	$(BIN)/mypy

# Extract the English strings, update the nb and nn catalogues, compile them (re-run after
# translating; commit bti/web/translations/).
translations: install
	$(BIN)/python -m bti.i18n_tools update

.PHONY: install lock run test test-fast test-sqlite test-postgres translations typecheck
