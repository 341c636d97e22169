"""The least-privileged PostgreSQL runtime role (``bti db grant-runtime ROLE``): the app reads and
writes its tables, only appends to the log tables, and can neither change a log row nor lift a
trigger. The PostgreSQL run of the suite connects as such a role (tests/dbs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.db.engine import runtime_grants
from bti.domain.log import APPEND_ONLY_TABLES
from bti.domain.models import Base
from bti.services.access import integrity
from bti.services.cases import lifecycle as cases
from tests.conftest import World
from tests.dbs import as_role
from tests.dbs import pg_schema
from tests.factories import CONCERN

BTI = Path(sys.executable).with_name("bti")

LOG_TABLES = ("stafettlogg_entry", "audit_event", "case_purge")


def test_the_log_tables_are_append_only_for_the_runtime_role():
    sql = runtime_grants("bti_app", "public")
    assert set(APPEND_ONLY_TABLES) == set(LOG_TABLES)
    for table in Base.metadata.tables:  # every table gets exactly one decision
        grants = [s for s in sql if s.endswith(f" ON public.{table} TO bti_app")]
        expected = "SELECT, INSERT" if table in LOG_TABLES else "SELECT, INSERT, UPDATE, DELETE"
        assert grants == [f"GRANT {expected} ON public.{table} TO bti_app"], table
    assert not any("TRUNCATE" in s or "TRIGGER" in s or "CREATE" in s for s in sql
                   if s.startswith("GRANT"))


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [
    "UPDATE stafettlogg_entry SET data = '{}'",
    "DELETE FROM stafettlogg_entry",
    "TRUNCATE stafettlogg_entry",
    "UPDATE audit_event SET action = 'x'",
    "DELETE FROM audit_event",
    "DELETE FROM case_purge",
    "UPDATE case_purge SET rule = 'x'",
    "ALTER TABLE stafettlogg_entry DISABLE TRIGGER ALL",
    "ALTER TABLE case_purge DISABLE TRIGGER case_purge_append_only",
    "DROP TRIGGER audit_event_append_only ON audit_event",
    "CREATE TABLE stray (id int)",
])
def test_the_runtime_role_cannot_change_a_log_row_or_lift_a_trigger(pg_engine, registry, sql):
    """``pg_engine`` connects as the runtime role (tests/dbs.py)."""
    with make_session_factory(pg_engine)() as s:
        w = World(s, registry, "bti-standard")
        case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="R. Q.",
                               child_birth_year=2016, concern=dict(CONCERN)).case
        cases.fire(w.ctx(w.teacher), case.id, "add_note", {"text": "Notat"})
        s.commit()  # the app's own writes work as the runtime role
        assert s.execute(text("SELECT current_user")).scalar() != "postgres"
        with pytest.raises(DBAPIError, match="permission denied|must be owner"):
            s.execute(text(sql))
        s.rollback()
        assert list(integrity.verify(s)) == []


def _bti(*args: str, url: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BTI), *args], env={**os.environ, "BTI_DATABASE_URL": url},
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.postgres
def test_cli_grant_runtime_on_a_migrated_schema(postgres_url):
    """As an operator does it: ``bti init-db`` as the owner, ``bti db grant-runtime ROLE``, then
    the app's work as ROLE, which cannot touch the logs."""
    role = f"bti_rt_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN NOINHERIT"))
    try:
        with pg_schema(postgres_url, prefix="bti_roles") as owner_url:
            r = _bti("init-db", url=owner_url)
            assert r.returncode == 0, r.stderr
            r = _bti("db", "grant-runtime", role, url=owner_url)
            assert r.returncode == 0, r.stderr
            assert "GRANT SELECT, INSERT ON bti_roles_" in r.stdout
            # refused: no such role, the superuser, a bad name
            for bad, message in ((f"{role}_missing", "create it first"),
                                 ("postgres", "superuser"), ("Robert'); --", "lower-case")):
                r = _bti("db", "grant-runtime", bad, url=owner_url)
                assert r.returncode == 1
                assert message in r.stderr
                assert "Traceback" not in r.stderr
            app_url = as_role(owner_url, role)
            r = _bti("demo-data", "--password", "et demo-passord som er langt nok", url=app_url)
            assert r.returncode == 0, r.stderr
            r = _bti("audit", "verify", url=app_url)
            assert r.returncode == 0, r.stderr
            eng = make_engine(app_url)
            try:
                for sql in ("DELETE FROM stafettlogg_entry", "UPDATE audit_event SET outcome = 'x'",
                            "ALTER TABLE audit_event DISABLE TRIGGER ALL"):
                    with eng.connect() as conn, pytest.raises(DBAPIError,
                                                              match="permission denied|owner"):
                        conn.execute(text(sql))
            finally:
                eng.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_cli_grant_runtime_on_sqlite_says_there_are_no_roles(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    assert _bti("init-db", url=url).returncode == 0
    r = _bti("db", "grant-runtime", "bti_app", url=url)
    assert r.returncode == 1
    assert "only PostgreSQL has roles" in r.stderr
