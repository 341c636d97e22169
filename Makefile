# Quick start: `make run` (install, migrate, demo data, start) and `make test` (install, test).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export BTI_DATABASE_URL ?= sqlite:///instance/bti.sqlite3
PORT ?= 5000

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

run: install
	$(BIN)/bti init-db
	$(BIN)/bti demo-data --if-empty --password demo-passord-2026
	BTI_DEV=1 $(BIN)/flask --app app run --port $(PORT)

# Browser tests (tests/e2e) run when /usr/bin/chromium is there; tests/e2e/install-deps.sh
# installs it and axe-core (.ci/run does). The timeout stops a hung browser or server.
# The suite runs twice: on SQLite (in-process), then on PostgreSQL (a fresh schema per test,
# tests/dbs.py) when BTI_TEST_POSTGRES_URL answers or BTI_REQUIRE_POSTGRES=1 (CI sets it).
test: install
	$(BIN)/ruff check bti tests bench
	$(BIN)/bandit -q -r bti -ll
	$(MAKE) --no-print-directory test-sqlite
	@if [ "$${BTI_REQUIRE_POSTGRES:-}" = 1 ] || $(BIN)/python -m tests.dbs; then \
	  $(MAKE) --no-print-directory test-postgres; \
	else \
	  echo "PostgreSQL does not answer: the PostgreSQL run is left out (BTI_REQUIRE_POSTGRES=1 requires it)"; \
	fi

test-sqlite:
	BTI_TEST_DATABASE=sqlite $(BIN)/python -m pytest --timeout=900

test-postgres:
	BTI_TEST_DATABASE=postgres $(BIN)/python -m pytest --timeout=900

# Extract the English strings, update the nb and nn catalogues, compile them (re-run after
# translating; commit bti/web/translations/).
translations: $(BIN)/pybabel
	$(BIN)/python -m bti.i18n_tools update

$(BIN)/pybabel: $(BIN)/python
	$(MAKE) install

.PHONY: install run test test-sqlite test-postgres translations
