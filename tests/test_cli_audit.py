"""``bti audit verify`` and ``bti audit anchor`` on a database file."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy import text

from bti.cli import main
from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.domain.log import drop_append_only_ddl
from bti.domain.org import User
from bti.services.access import audit
from bti.services.cases import lifecycle as cases
from bti.services.context import Ctx
from tests.conftest import World
from tests.factories import CONCERN


@pytest.fixture
def db(tmp_path, registry, monkeypatch):
    url = f"sqlite:///{tmp_path / 'bti.sqlite3'}"
    engine = make_engine(url)
    create_schema(engine)
    with make_session_factory(engine)() as s:
        world = World(s, registry, "bti-standard")
        case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="T. Q.",
                               child_birth_year=2016, concern=dict(CONCERN)).case
        for i in range(4):
            cases.fire(world.ctx(world.teacher), case.id, "add_note", {"text": f"Notat {i}"})
        s.commit()
        chain = world.municipality.id
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    monkeypatch.delenv("BTI_AUDIT_ANCHOR_FILE", raising=False)
    yield engine, chain, case.id
    engine.dispose()


def run(*args, env=None):
    return CliRunner().invoke(main, ["audit", *args], env=env)


def _drop_triggers(conn):
    for table in ("audit_event", "stafettlogg_entry"):
        for sql in drop_append_only_ddl(conn.dialect.name, table):
            conn.execute(text(sql))


def test_verify_checks_case_and_audit_chains(db):
    r = run("verify")
    assert r.exit_code == 0, r.output
    assert "every stafettlogg chain verifies" in r.output
    assert "audit chain(s)" in r.output
    assert "no anchor given" in r.output


def test_anchor_appends_one_line_and_verify_compares(db, tmp_path):
    engine, chain, _ = db
    path = tmp_path / "outside" / "anchor.jsonl"
    assert run("anchor", "--file", str(path)).exit_code == 0
    assert run("anchor", "--file", str(path)).exit_code == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["at"].endswith("+00:00")
    heads = {h["chain"]: h for h in first["heads"]}
    assert heads[chain]["seq"] == 5  # opened + 4 notes
    assert len(heads[chain]["hash"]) == 64
    assert 0 in heads  # the anchor export is itself audited (system chain)
    r = run("verify", "--anchor", str(path))
    assert r.exit_code == 0, r.output
    assert "match the anchor" in r.output


def test_truncated_audit_tail_is_caught_only_with_the_anchor(db, tmp_path):
    engine, chain, _ = db
    path = tmp_path / "anchor.jsonl"
    assert run("anchor", "--file", str(path)).exit_code == 0
    with engine.begin() as conn:
        _drop_triggers(conn)
        conn.execute(text("DELETE FROM audit_event WHERE chain = :c AND seq > 3"), {"c": chain})
        last = conn.execute(text("SELECT seq, hash FROM audit_event WHERE chain = :c "
                                 "AND seq = 3"), {"c": chain}).one()
        conn.execute(text("UPDATE audit_chain_head SET seq = :s, hash = :h WHERE chain = :c"),
                     {"s": last.seq, "h": last.hash, "c": chain})
    # the chain alone cannot see it, but the case's log now has entries no audit row accounts for
    r = run("verify")
    assert r.exit_code == 1
    assert "have no audit row" in r.output
    r = run("verify", "--anchor", str(path))
    assert r.exit_code == 1
    assert f"audit chain {chain}" in r.output
    assert "truncated" in r.output
    # the default anchor path comes from BTI_AUDIT_ANCHOR_FILE
    r = run("verify", env={"BTI_AUDIT_ANCHOR_FILE": str(path)})
    assert r.exit_code == 1


def test_edited_audit_row_and_edited_case_log_exit_1(db):
    engine, chain, case_id = db
    with engine.begin() as conn:
        _drop_triggers(conn)
        conn.execute(text("UPDATE audit_event SET basis = 'x' WHERE chain = :c AND seq = 2"),
                     {"c": chain})
    r = run("verify")
    assert r.exit_code == 1
    assert f"audit chain {chain}: seq 2" in r.output
    with engine.begin() as conn:
        conn.execute(text("UPDATE stafettlogg_entry SET data = '{}' WHERE case_id = :c "
                          "AND seq = 2"), {"c": case_id})
    r = run("verify")
    assert r.exit_code == 1
    assert f"case {case_id}" in r.output  # the case chains are checked first


def test_anchor_needs_a_file_and_a_bad_anchor_file_is_refused(db, tmp_path):
    r = run("anchor")
    assert r.exit_code == 2
    assert "BTI_AUDIT_ANCHOR_FILE" in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"heads": [{"chain": 1}]}\n')
    r = run("verify", "--anchor", str(bad))
    assert r.exit_code == 1
    assert "line 1" in r.output
    r = run("verify", "--anchor", str(tmp_path / "missing.jsonl"))
    assert r.exit_code == 1
    assert "cannot read" in r.output
    r = run("anchor", env={"BTI_AUDIT_ANCHOR_FILE": str(tmp_path / "env.jsonl")})
    assert r.exit_code == 0
    assert (tmp_path / "env.jsonl").exists()


def test_municipality_set_switches_mfa_and_is_audited(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from sqlalchemy import select

    from bti.cli import main
    from bti.db.engine import make_engine
    from bti.db.engine import make_session_factory
    from bti.domain.log import AuditEvent
    from bti.domain.org import Municipality
    from bti.migrate import upgrade

    url = f"sqlite:///{tmp_path}/m.sqlite3"
    monkeypatch.setenv("BTI_DATABASE_URL", url)
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine).begin() as s:
        s.add(Municipality(slug="testvik", name="Testvik kommune", workflow_id="bti-standard"))
    runner = CliRunner()
    r = runner.invoke(main, ["municipality", "set", "testvik", "--mfa", "off",
                             "--retention-days", "1825"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["municipality", "set", "nowhere", "--mfa", "on"])
    assert r.exit_code == 1
    with make_session_factory(engine)() as s:
        m = s.scalar(select(Municipality))
        assert (m.mfa_required, m.case_retention_days) == (False, 1825)
        rows = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "municipality.settings_changed")).all()
        assert len(rows) == 1
    engine.dispose()



def test_review_raises_items_once_and_names_an_unknown_municipality(db):
    engine, chain, case_id = db
    with make_session_factory(engine).begin() as s:
        teacher = s.scalars(select(User).where(User.username == "kari")).one()
        ctx = Ctx(session=s, actor=teacher, workflows=None)
        for i in range(6):  # six exports in a day (the threshold is five)
            audit.record(ctx, "case.exported",
                         case=SimpleNamespace(id=case_id + i, municipality_id=chain))
    r = run("review")
    assert r.exit_code == 0, r.output
    assert "mass_export 1" in r.output
    again = run("review")
    assert again.exit_code == 0
    assert "raised 0 review item(s)" in again.output
    bad = run("review", "--municipality", "finst-ikkje")
    assert bad.exit_code != 0
    assert "no municipality with the slug 'finst-ikkje'" in bad.output
