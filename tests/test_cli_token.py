"""``bti token create/list/revoke`` on a database file, and the token working on the API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.log import AuditEvent
from bti.domain.org import ApiToken
from bti.services.accounts import tokens
from bti.services.accounts.auth import token_hash
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'bti.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    with make_session_factory(engine).begin() as s:
        m = make_municipality(s)
        make_user(s, m, make_unit(s, m), ("employee",), username="integrasjon1")
        make_user(s, m, make_unit(s, m), ("employee",), username="slutta1", active=False)
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    yield engine
    engine.dispose()


def run(*args):
    return CliRunner().invoke(main, ["token", *args])


def test_create_prints_the_token_once_and_stores_its_hash(db):
    r = run("create", "integrasjon1", "--scope", "cases:read", "--days", "30",
            "--name", "arkiv")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("bti_pat_")
    assert len(token) > 40
    with make_session_factory(db)() as s:
        row = s.scalars(select(ApiToken)).one()
        assert row.token_hash == token_hash(token)
        assert row.scopes == "cases:read"
        assert row.name == "arkiv"
        assert (row.expires_at - row.created_at).days == 30
        assert tokens.resolve(s, token, now=row.created_at).username == "integrasjon1"
        created = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "api_token.created")).one()
        assert created.object_id == row.id
        assert json.loads(created.details)["via"] == "cli"
        assert token not in created.details
    listed = run("list")
    assert listed.exit_code == 0
    assert "integrasjon1" in listed.output
    assert "active" in listed.output
    assert token not in listed.output


@pytest.mark.parametrize(("args", "problem"), [
    (["integrasjon1", "--scope", "cases:read"], "--days"),
    (["integrasjon1", "--scope", "cases:read", "--days", "91"], "--days"),
    (["integrasjon1", "--scope", "cases:read", "--days", "0"], "--days"),
    (["integrasjon1", "--days", "30"], "--scope"),
    (["integrasjon1", "--scope", "admin:all", "--days", "30"], "--scope"),
    (["ingen_slik", "--scope", "cases:read", "--days", "30"], "username"),
    (["slutta1", "--scope", "cases:read", "--days", "30"], "inactive"),
])
def test_create_refuses_bad_input(db, args, problem):
    r = run("create", *args)
    assert r.exit_code != 0
    assert problem in r.output
    with make_session_factory(db)() as s:
        assert s.scalars(select(ApiToken)).all() == []


def test_revoke_stops_the_token_and_is_audited(db):
    token = run("create", "integrasjon1", "--scope", "cases:read", "--scope", "cases:write",
                "--days", "7").stdout.strip().splitlines()[-1]
    with make_session_factory(db)() as s:
        token_id = s.scalars(select(ApiToken.id)).one()
    r = run("revoke", str(token_id))
    assert r.exit_code == 0, r.output
    assert run("revoke", "9999").exit_code == 1
    with make_session_factory(db)() as s:
        row = s.get(ApiToken, token_id)
        assert tokens.resolve(s, token, now=row.created_at + timedelta(minutes=1)) is None
        assert tokens.status(row, row.created_at) == "revoked"
        assert s.scalars(select(AuditEvent.action).where(
            AuditEvent.action == "api_token.revoked")).all() == ["api_token.revoked"]
    assert "revoked" in run("list", "integrasjon1").output
