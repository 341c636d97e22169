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
