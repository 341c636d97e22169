"""``bti team …`` on a database file: an administrator keeps the teams from the command line,
with the same rules and audit rows as the admin pages. Names are made up."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.log import AuditEvent
from bti.domain.teams import Team
from bti.domain.teams import TeamMeeting
from bti.domain.teams import TeamMember
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
        unit = make_unit(s, m)
        make_user(s, m, None, ("admin",), username="admin9")
        make_user(s, m, unit, ("employee",), username="laerar9")
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    yield engine
    engine.dispose()


def run(*args):
    return CliRunner().invoke(main, ["team", *args])


def test_an_administrator_keeps_a_team_from_the_command_line(db):
    r = run("create", "BTI-teamet", "--kind", "bti_team", "--as", "admin9")
    assert r.exit_code == 0, r.output
    team_id = int(r.output.split()[0])
    assert run("add-member", str(team_id), "laerar9", "--as", "admin9").exit_code == 0
    r = run("meeting", str(team_id), "--at", "2099-05-04T13:30", "--place", "Rom 1",
            "--as", "admin9")
    assert r.exit_code == 0, r.output
    assert run("set", str(team_id), "--name", "BTI-team", "--inactive",
               "--as", "admin9").exit_code == 0
    r = run("list", "--as", "admin9")
    assert "BTI-team" in r.output
    assert "deactivated" in r.output
    assert run("remove-member", str(team_id), "laerar9", "--as", "admin9").exit_code == 0
    with make_session_factory(db)() as s:
        assert s.get(Team, team_id).name == "BTI-team"
        assert s.scalars(select(TeamMember.removed_at)).one() is not None
        assert len(s.scalars(select(TeamMeeting)).all()) == 1
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert [a for a in actions if a.startswith("team.")] == [
        "team.created", "team.member_added", "team.meeting_scheduled", "team.changed",
        "team.deactivated", "team.member_removed"]


def test_refusals_name_the_field_and_write_nothing(db):
    r = run("create", "Teamet", "--kind", "ukjent", "--as", "admin9")
    assert r.exit_code == 1
    assert "kind: not_a_choice" in r.output
    r = run("create", "Teamet", "--kind", "bti_team", "--as", "laerar9")
    assert r.exit_code == 1
    assert "refused: forbidden" in r.output
    r = run("create", "Teamet", "--kind", "bti_team", "--as", "ingen")
    assert r.exit_code == 1
    r = run("meeting", "1", "--at", "i morgon", "--as", "admin9")
    assert r.exit_code == 1
    with make_session_factory(db)() as s:
        assert s.scalars(select(Team)).all() == []
