"""Migration b6f1c3e8a925 (the handover's proposer and the holder's choice to stay on, the
debrief after a report) both ways, on SQLite and PostgreSQL: the columns come and go, and the
schema after the next upgrade matches the models again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect
from sqlalchemy import text

from bti.db.engine import make_engine
from bti.domain.models import Base
from bti.migrate import downgrade
from bti.migrate import upgrade
from tests.test_migrations import _diff

NEW = {"handover": {"proposed_by_id", "holder_stays"},
       "barnevern_report": {"debrief_recorded_at", "debrief_recorded_by_id"}}


def _both_ways(engine) -> None:
    for table, columns in NEW.items():
        assert columns <= {c["name"] for c in inspect(engine).get_columns(table)}
    downgrade(engine, "9d2e4f1a7b30")
    for table, columns in NEW.items():
        assert not columns & {c["name"] for c in inspect(engine).get_columns(table)}
    upgrade(engine)
    with engine.connect() as conn:  # the holder's choice defaults to no
        default = inspect(engine).get_columns("handover")
        assert any(c["name"] == "holder_stays" and c["default"] is not None for c in default)
        assert conn.execute(text("SELECT count(*) FROM handover")).scalar() == 0
    assert _diff(engine) == []


def test_handover_and_debrief_columns_migrate_both_ways_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/h.sqlite3")
    upgrade(engine)
    _both_ways(engine)
    engine.dispose()


@pytest.mark.postgres
def test_handover_and_debrief_columns_migrate_both_ways_on_postgres(pg_owner_engine):
    with pg_owner_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}" CASCADE'))
    upgrade(pg_owner_engine)
    _both_ways(pg_owner_engine)
