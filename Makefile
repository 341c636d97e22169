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

test: install
	$(BIN)/python -m pytest

.PHONY: install run test
