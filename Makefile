# Quick start: `make run` (install, migrate, demo data, start) and `make test` (install, test).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export BTI_DATABASE_URL ?= sqlite:///instance/bti.sqlite3

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'

run: install
	$(BIN)/bti init-db
	$(BIN)/bti demo-data --if-empty --password demo-passord-2026
	BTI_DEV=1 $(BIN)/flask --app app run

# Browser tests (tests/e2e) run when /usr/bin/chromium is there; tests/e2e/install-deps.sh
# installs it and axe-core (.ci/run does). The timeout stops a hung browser or server.
test: install
	$(BIN)/ruff check bti tests bench
	$(BIN)/bandit -q -r bti -ll
	$(BIN)/python -m pytest --timeout=900

# Extract the English strings, update the nb and nn catalogues, compile them (re-run after
# translating; commit bti/web/translations/).
translations: $(BIN)/pybabel
	$(BIN)/python -m bti.i18n_tools update

$(BIN)/pybabel: $(BIN)/python
	$(MAKE) install

.PHONY: install run test translations
