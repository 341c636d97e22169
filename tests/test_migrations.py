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


def _feedback_survives_a_downgrade_and_upgrade(engine, registry):
    """The stages of barnevernet's feedback (06b4bbf296b3) go back to one ``feedback_kind`` per
    report on a downgrade, and come back as rows on the next upgrade."""
    from bti.db import make_session_factory
    from bti.services import cases
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
    downgrade(engine, "79666edba8f0")  # the revision before 06b4bbf296b3
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
def test_feedback_stages_migrate_both_ways_on_postgres(pg_engine, registry):
    with pg_engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}" CASCADE'))
    upgrade(pg_engine)
    _feedback_survives_a_downgrade_and_upgrade(pg_engine, registry)
