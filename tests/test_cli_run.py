"""The ``bti`` console script run as a user runs it: a fresh process (``.venv/bin/bti``) on a
database made by ``bti init-db`` and ``bti demo-data`` (a SQLite file, or a fresh PostgreSQL
schema in the PostgreSQL run), and outside the repository root."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - the project's own console script, an argument list
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select

from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.cases import Case
from bti.domain.cases import CaseArchive
from bti.domain.cases import Measure
from bti.domain.log import AuditEvent
from bti.domain.log import CasePurge
from bti.domain.log import StafettloggEntry
from bti.domain.org import Municipality
from bti.migrate import downgrade
from tests.dbs import ON_POSTGRES
from tests.dbs import pg_schema
from tests.dbs import require_postgres
from tests.dbs import sqlite_only

ROOT = Path(__file__).resolve().parent.parent
BTI = Path(sys.executable).parent / "bti"  # .venv/bin/bti: the console script pip installed
PASSWORD = "demo-passord-for-testen"


def user_env(**settings: str) -> dict[str, str]:
    """The caller's environment without any BTI_* setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTI_")}
    env.update(settings)
    return env


def bti(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    assert BTI.is_file(), f"no console script at {BTI}: pip install -e '.[dev]'"
    return subprocess.run([str(BTI), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)


def ok(run: subprocess.CompletedProcess) -> str:
    assert run.returncode == 0, f"{run.args}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run.stdout


def refused(run: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 1 with a message (no traceback) that contains every one of ``needles``."""
    assert run.returncode == 1, f"{run.args}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert "Traceback" not in run.stderr, run.stderr
    for needle in needles:
        assert needle in run.stderr, (needle, run.stderr)
    return run.stderr


@pytest.fixture
def database_url(tmp_path):
    """A database that does not exist yet (SQLite: a file path) or is empty (PostgreSQL)."""
    if ON_POSTGRES:
        with pg_schema(require_postgres()) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'db' / 'bti.sqlite3'}"


def test_privacy_export_archive_and_purge_in_fresh_processes(database_url, tmp_path):
    env = user_env(BTI_DATABASE_URL=database_url)
    assert "database migrated" in ok(bti("init-db", env=env))
    # 22 cases: two of them are closed (the demo walks every 12th case to "closed")
    ok(bti("demo-data", "--cases", "22", "--password", PASSWORD, env=env))
    ok(bti("municipality", "set", "demo", "--retention-days", "30", env=env))
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as s:
            closed = list(s.execute(select(Case.id, Case.closed_at).where(
                Case.closed_at.is_not(None)).order_by(Case.id)))
            open_id = s.scalar(select(Case.id).where(Case.closed_at.is_(None)).limit(1))
            cases_before = s.scalar(select(func.count()).select_from(Case))
            with_catalogue = s.scalar(select(func.count()).select_from(Measure).where(
                Measure.case_id == closed[0].id, Measure.catalogue_id.is_not(None)))
        assert len(closed) == 2
        assert with_catalogue  # its measures point into measure_catalogue
        (due_id, _), (kept_id, last_closed_at) = closed

        out = ok(bti("privacy", "export", "--case", str(due_id), "--format", "json",
                     "--out", str(tmp_path / "innsyn.json"), env=env))
        assert f"wrote {tmp_path / 'innsyn.json'}" in out
        doc = json.loads((tmp_path / "innsyn.json").read_text(encoding="utf-8"))
        assert doc["case_id"] == due_id
        assert doc["case"]["closed_at"]
        assert len(doc["measures"]) == with_catalogue
        assert doc["stafettlogg"][-1]["trigger"] == "close"
        ok(bti("privacy", "export", "--case", str(due_id), "--format", "pdf",
               "--out", str(tmp_path / "innsyn.pdf"), env=env))
        assert (tmp_path / "innsyn.pdf").read_bytes().startswith(b"%PDF-")

        refused(bti("privacy", "archive", "--case", str(open_id), "--dir",
                    str(tmp_path / "arkiv"), env=env), f"case {open_id} is not closed")
        assert "verified" in ok(bti("privacy", "archive", "--case", str(due_id), "--dir",
                                    str(tmp_path / "arkiv"), env=env))
        with make_session_factory(engine)() as s:
            archive_sha = s.scalar(select(CaseArchive.sha256).where(
                CaseArchive.case_id == due_id))
        assert archive_sha
        assert len(archive_sha) == 64

        # both closed cases past the 30 days' retention: the archived one is due, the other is
        # not archived and is skipped; open cases are never candidates
        now = (last_closed_at + timedelta(days=31)).isoformat()
        out = ok(bti("privacy", "purge", "--dry-run", "--now", now, env=env))
        assert "would purge 1 case(s)" in out
        assert f"skipped case {kept_id}:" in out
        out = ok(bti("privacy", "purge", "--now", now, "--journal", str(tmp_path / "j.jsonl"),
                     env=env))
        assert "purged 1 case(s)" in out
        assert f"case {due_id} (retention)" in out
        assert f"skipped case {kept_id}:" in out

        with make_session_factory(engine)() as s:
            tombstones = list(s.scalars(select(CasePurge)))
            assert [(t.case_id, t.rule, t.archive_sha256) for t in tombstones] == [
                (due_id, "retention", archive_sha)]
            counts = json.loads(tombstones[0].counts)
            assert counts["case_record"] == 1
            assert counts["measure"] == with_catalogue
            assert counts["stafettlogg_entry"] == len(doc["stafettlogg"])
            assert counts["case_archive"] == 1
            assert s.scalar(select(func.count()).select_from(CaseArchive).where(
                CaseArchive.case_id == due_id)) == 0
            assert s.get(Case, due_id) is None
            assert s.scalar(select(func.count()).select_from(StafettloggEntry).where(
                StafettloggEntry.case_id == due_id)) == 0
            assert s.get(Case, kept_id) is not None
            assert s.get(Case, open_id) is not None
            assert s.scalar(select(func.count()).select_from(Case)) == cases_before - 1
            purged = s.scalars(select(AuditEvent).where(AuditEvent.action == "case.purged")).all()
            assert [(e.case_id, e.actor_id, json.loads(e.details)["via"]) for e in purged] == [
                (due_id, None, "cli")]
            assert s.scalar(select(Municipality.case_retention_days).where(
                Municipality.slug == "demo")) == 30
        journal = [json.loads(line) for line in
                   (tmp_path / "j.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [(e["case_id"], e["archive_sha256"]) for e in journal] == [(due_id, archive_sha)]

        out = ok(bti("privacy", "purge", "--now", now, env=env))  # nothing is due twice
        assert "purged 0 case(s)" in out
        assert "every stafettlogg chain verifies" in ok(bti("audit", "verify", env=env))
    finally:
        engine.dispose()


def test_a_missing_unmigrated_or_outdated_database_is_named_and_never_made(database_url):
    env = user_env(BTI_DATABASE_URL=database_url)
    if not ON_POSTGRES:
        path = Path(database_url.removeprefix("sqlite:///"))
        for command in (("token", "list"), ("audit", "verify"), ("demo-data",)):
            refused(bti(*command, env=env), f"no database at {path}", "`bti init-db`")
        assert not path.parent.exists()
    engine = make_engine(database_url)  # an empty database (SQLite: the file is made here)
    try:
        engine.connect().close()
        for command in (("token", "list"), ("privacy", "purge", "--dry-run"),
                        ("municipality", "list")):
            refused(bti(*command, env=env), "it is not migrated", "run `bti init-db`")
        ok(bti("init-db", env=env))
        downgrade(engine, "-1")  # a database one migration behind the code
        refused(bti("audit", "verify", env=env), "its schema is at revision",
                "run `bti init-db` to migrate it")
        ok(bti("init-db", env=env))
        assert ok(bti("municipality", "list", env=env)) == ""
    finally:
        engine.dispose()


@sqlite_only  # about the default SQLite file relative to the current folder
def test_outside_the_repository_root_nothing_is_made_and_the_problem_is_named(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = user_env()  # no BTI_DATABASE_URL, no BTI_WORKFLOWS_DIR: the defaults
    default_db = elsewhere.resolve() / "instance" / "bti.sqlite3"
    for command in (("token", "list"), ("audit", "verify"), ("municipality", "list"),
                    ("privacy", "export", "--case", "1", "--out", "x.json"),
                    ("privacy", "purge", "--dry-run"), ("demo-data",)):
        refused(bti(*command, env=env, cwd=elsewhere), f"no database at {default_db}",
                "BTI_DATABASE_URL is not set", "relative to the current folder",
                "`bti init-db`")
    no_workflows = f"no workflows folder at {elsewhere.resolve() / 'workflows'}"
    for command in (("init-db",), ("workflow", "list"), ("notify", "consents"),
                    ("workflow", "docs", "--output", "-")):
        refused(bti(*command, env=env, cwd=elsewhere), no_workflows, "BTI_WORKFLOWS_DIR")
    assert list(elsewhere.iterdir()) == []  # no instance/, no database file, no docs
    # the folders named: it works from anywhere
    env = user_env(BTI_WORKFLOWS_DIR=str(ROOT / "workflows"))
    assert "bti-standard" in ok(bti("workflow", "list", env=env, cwd=elsewhere))
    ok(bti("init-db", env=env, cwd=elsewhere))  # the one command that makes the database
    assert default_db.is_file()
    listed = bti("token", "list", env=env, cwd=elsewhere)
    assert (listed.returncode, listed.stderr) == (0, "no tokens\n"), listed


@sqlite_only
def test_the_web_app_started_elsewhere_names_the_missing_database_and_makes_none(tmp_path):
    """``flask --app app run`` (or gunicorn) from another folder: one line saying what to do,
    exit 1, no ./instance/bti.sqlite3 made as a side effect."""
    flask = Path(sys.executable).parent / "flask"
    env = user_env(BTI_DEV="1", BTI_WORKFLOWS_DIR=str(ROOT / "workflows"))
    run = subprocess.run([str(flask), "--app", str(ROOT / "app.py"), "routes"], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    refused(run, f"no database at {tmp_path.resolve() / 'instance' / 'bti.sqlite3'}",
            "`bti init-db`")
    assert list(tmp_path.iterdir()) == []


def test_readme_says_how_to_run_the_cli_and_names_every_demo_user():
    import re

    from bti.demo.seed import USERS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == [
        "make run", "make test"]
    assert ".venv/bin/bti" in readme
    assert ". .venv/bin/activate" in readme
    assert "make run PORT=" in readme
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^PORT \?= 5000$", makefile, re.M)
    assert "--port $(PORT)" in makefile
    rows = {m[0]: m[1] for m in re.findall(r"^\| `([a-z]+)` \| ([^|]+) \|", readme, re.M)}
    assert {username: sorted(re.findall(r"`([a-z_]+)`", rows.get(username, "")))
            for username, _name, _unit, _roles in USERS} == {
        username: sorted(roles) for username, _name, _unit, roles in USERS}
