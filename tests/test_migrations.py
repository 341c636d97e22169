"""Alembic ``upgrade head`` gives exactly the models' schema (and the append-only triggers);
every migration has a working downgrade."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy import text

from bti.db import make_engine
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
                        "audit_event_no_update", "audit_event_no_delete"}
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()


@pytest.mark.postgres
def test_upgrade_head_matches_models_on_postgres(pg_engine):
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
