"""Alembic ``upgrade head`` gives exactly the models' schema (and the append-only triggers);
every migration has a working downgrade."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bti.db.engine import make_engine
from bti.domain.models import Base
from bti.migrate import downgrade
from bti.migrate import upgrade


def _diff(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)


def test_upgrade_head_matches_models_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/m.sqlite3")
    upgrade(engine)
    assert _diff(engine) == []
    with engine.connect() as conn:
        triggers = {r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
    assert triggers == {"stafettlogg_entry_no_update", "stafettlogg_entry_no_delete",
                        "audit_event_no_update", "audit_event_no_delete",
                        "case_purge_no_update", "case_purge_no_delete"}
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


@pytest.mark.postgres
def test_upgrade_head_matches_models_on_postgres(pg_owner_engine):
    pg_engine = pg_owner_engine  # migrations run as the owner of the tables
    with pg_engine.begin() as conn:  # pg_engine's schema was made by create_all: start empty
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}" CASCADE'))
    upgrade(pg_engine)
    assert _diff(pg_engine) == []
    downgrade(pg_engine, "base")
    assert set(inspect(pg_engine).get_table_names()) == {"alembic_version"}


SEEDED = ("municipality", "unit", "user_account", "user_role", "user_session")


def test_upgrading_a_sqlite_file_with_data_keeps_every_row(tmp_path):
    """SQLite rebuilds a table to alter it (batch mode: copy, drop, rename). With foreign keys
    on, dropping ``user_account`` cascaded into ``user_role`` and ``user_session``: an upgrade
    past f2c8d1e5b7a4 deleted every role. Rows written early must survive every later step."""
    from alembic.script import ScriptDirectory

    from bti.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path}/data.sqlite3")
    upgrade(engine, "e4b7c2d9a1f3")  # the revision before the first rebuild of user_account
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO municipality (id, slug, name, workflow_id) "
                          "VALUES (1, 'prove', 'Prøvekommune', 'bti-standard')"))
        conn.execute(text("INSERT INTO unit (id, municipality_id, name, kind) "
                          "VALUES (1, 1, 'Prøvevik skule', 'school')"))
        conn.execute(text(
            "INSERT INTO user_account (id, municipality_id, unit_id, username, display_name, "
            "password_hash, active, locale, created_at) VALUES (1, 1, 1, 'prove.laerar', "
            "'Tora Prøve', 'x', 1, 'nb', '2026-11-24 08:00:00')"))
        conn.execute(text("INSERT INTO user_role (id, user_id, role) VALUES (1, 1, 'employee')"))
        conn.execute(text(
            "INSERT INTO user_session (id, token_hash, user_id, created_at, last_seen_at) "
            "VALUES (1, :h, 1, '2026-11-24 08:00:00', '2026-11-24 08:00:00')"), {"h": "a" * 64})
    script = ScriptDirectory.from_config(alembic_config())
    later = [r.revision for r in script.iterate_revisions("heads", "e4b7c2d9a1f3")][::-1][1:]
    assert later, "no migration after e4b7c2d9a1f3"
    for revision in later:  # one step at a time, so the step that loses a row is named
        upgrade(engine, revision)
        with engine.connect() as conn:
            counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                      for t in SEEDED}
            problems = conn.execute(text("PRAGMA foreign_key_check")).all()
            fk_on = conn.execute(text("PRAGMA foreign_keys")).scalar_one()
        assert counts == dict.fromkeys(SEEDED, 1), f"after {revision}: {counts}"
        assert problems == []
        assert fk_on == 1, "foreign keys must be on again after a migration"
    engine.dispose()


def _seal_scenario(engine) -> None:
    """An audit row written before the seals (at the revision before them), then the upgrade
    with BTI_LOG_KEYS set (tests/conftest.py): the row is sealed and verifies."""
    from datetime import UTC
    from datetime import datetime

    from bti.db.engine import make_session_factory
    from bti.domain.cases import GENESIS_HASH
    from bti.domain.log import AuditChainHead
    from bti.domain.log import AuditEvent
    from bti.domain.log import chain_hash
    from bti.services.access import audit

    upgrade(engine, "3d7a1c9e5b42")
    row = dict(chain=0, seq=1, at=datetime(2026, 11, 30, 8, 0, tzinfo=UTC), municipality_id=None,
               actor_id=None, actor_roles="", unit_id=None, case_id=None,
               action="auth.login_failed", object_type=None, object_id=None, basis=None,
               outcome="denied", details="{}", prev_hash=GENESIS_HASH)
    row["hash"] = chain_hash(GENESIS_HASH, AuditEvent.content_of(row))
    t = AuditEvent.__table__
    with engine.begin() as conn:  # the columns of that revision only (no mac yet)
        conn.execute(t.insert().values({t.c[k]: v for k, v in row.items()}))
        conn.execute(AuditChainHead.__table__.insert().values(chain=0, seq=1, hash=row["hash"]))
    upgrade(engine)
    with make_session_factory(engine)() as s:
        assert s.scalar(text("SELECT mac FROM audit_event")).startswith("test1:")
        assert list(audit.verify(s)) == []
    with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE audit_event SET mac = NULL"))  # the guard is back on


def test_the_upgrade_seals_the_rows_written_before_it_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/s.sqlite3")
    _seal_scenario(engine)

def _feedback_survives_a_downgrade_and_upgrade(engine, registry):
    """The stages of barnevernet's feedback (06b4bbf296b3) go back to one ``feedback_kind`` per
    report on a downgrade, and come back as rows on the next upgrade."""
    from bti.db.engine import make_session_factory
    from bti.services.cases import lifecycle as cases
    from tests.conftest import World
    from tests.factories import CONCERN
    from tests.factories import TODAY

    with make_session_factory(engine)() as s:
        w = World(s, registry, "bti-standard")
        ids = []
        for stages in (["receipt_confirmed", "investigation_opened", "investigation_closed"],
                       ["receipt_confirmed"], []):
            case = cases.open_case(w.ctx(w.teacher), unit_id=None, child_pseudonym="M.",
                                   child_birth_year=2016, concern=dict(CONCERN)).case
            ids.append(cases.fire(w.ctx(w.teacher), case.id, "report_barnevernet",
                                  {"sent_on": TODAY.isoformat()}).entry.object_id)
            for stage in stages:
                cases.fire(w.ctx(w.teacher), case.id, "record_barnevern_feedback",
                           {"feedback_kind": stage, "received_on": TODAY.isoformat()})
        s.commit()
        teacher = w.teacher.id
    downgrade(engine, "7f3c2b9e1d64")  # the revision before 06b4bbf296b3
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT id, feedback_kind, feedback_received_on IS NOT NULL FROM barnevern_report "
            "ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(ids[0], "investigation_closed", True),
                                        (ids[1], "receipt_confirmed", True),
                                        (ids[2], None, False)]
    upgrade(engine)
    with engine.connect() as conn:
        feedback = conn.execute(text(
            "SELECT report_id, stage, recorded_by_id FROM barnevern_feedback ORDER BY report_id"
        )).all()
        concluded = conn.execute(text(
            "SELECT id FROM barnevern_report WHERE concluded_on IS NOT NULL")).scalars().all()
    assert [tuple(r) for r in feedback] == [(ids[0], "investigation_closed", teacher),
                                            (ids[1], "receipt_confirmed", teacher)]
    assert concluded == [ids[0]]


def test_feedback_stages_migrate_both_ways_on_sqlite(tmp_path, registry):
    engine = make_engine(f"sqlite:///{tmp_path}/f.sqlite3")
    upgrade(engine)
    _feedback_survives_a_downgrade_and_upgrade(engine, registry)
    engine.dispose()


@pytest.mark.postgres
def test_the_upgrade_seals_the_rows_written_before_it_on_postgres(pg_owner_engine):
    with pg_owner_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}" CASCADE'))
    _seal_scenario(pg_owner_engine)


@pytest.mark.postgres
def test_feedback_stages_migrate_both_ways_on_postgres(pg_owner_engine, registry):
    with pg_owner_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}" CASCADE'))
    upgrade(pg_owner_engine)
    _feedback_survives_a_downgrade_and_upgrade(pg_owner_engine, registry)


def _contacts_survive_a_downgrade_and_upgrade(engine):
    """The municipality's child welfare contacts: added empty, dropped by the downgrade (the
    municipality's rows stay), empty again after the next upgrade."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO municipality (slug, name, workflow_id, mfa_required, "
                          "case_retention_days, malform, barnevern_phone) VALUES ('k', 'K', "
                          "'bti-standard', true, 3650, 'nb', '00 00 00 01')"))
    downgrade(engine, "4781b22d94e6")
    columns = {c["name"] for c in inspect(engine).get_columns("municipality")}
    assert not columns & {"barnevern_phone", "barnevern_email", "barnevernvakt_phone"}
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT slug, barnevern_phone, barnevernvakt_phone "
                                 "FROM municipality")).all() == [("k", None, None)]
    assert _diff(engine) == []


def test_contacts_migrate_both_ways_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/c.sqlite3")
    upgrade(engine)
    _contacts_survive_a_downgrade_and_upgrade(engine)
    engine.dispose()


@pytest.mark.postgres
def test_contacts_migrate_both_ways_on_postgres(pg_owner_engine):
    with pg_owner_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}" CASCADE'))
    upgrade(pg_owner_engine)
    _contacts_survive_a_downgrade_and_upgrade(pg_owner_engine)
