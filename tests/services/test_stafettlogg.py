"""The stafettlogg is append-only in the database itself, and its chain catches tampering."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bti.db.engine import make_session_factory
from bti.domain.cases import Case
from bti.domain.cases import Note
from bti.domain.log import StafettloggEntry
from bti.domain.log import drop_append_only_ddl
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from tests.conftest import World
from tests.dbs import owner_engine
from tests.factories import CONCERN


def _case_with_log(world: World, notes: int = 5) -> int:
    case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="T.",
                           child_birth_year=2016, concern=CONCERN).case
    for i in range(notes):
        cases.fire(world.ctx(world.teacher), case.id, "add_note", {"text": f"Notat {i}"})
    world.session.commit()
    return case.id


@pytest.mark.parametrize("sql", [
    "UPDATE stafettlogg_entry SET data = '{}'",
    "DELETE FROM stafettlogg_entry",
    "UPDATE audit_event SET action = 'x'",
    "DELETE FROM audit_event",
])
def test_database_refuses_update_and_delete_on_sqlite(world, session, sql):
    _case_with_log(world)
    # SQLite: the triggers; PostgreSQL (the runtime role of tests/dbs.py): no such right at all
    refused = "permission denied" if session.get_bind().dialect.name == "postgresql" \
        else "append-only"
    with pytest.raises(DBAPIError, match=refused):
        session.execute(text(sql))
    session.rollback()


@pytest.mark.postgres
@pytest.mark.parametrize("sql", [
    "UPDATE stafettlogg_entry SET data = '{}'",
    "DELETE FROM stafettlogg_entry",
    "TRUNCATE audit_event",
])
def test_database_refuses_update_and_delete_on_postgres(pg_owner_engine, registry, sql):
    with make_session_factory(pg_owner_engine)() as session:  # the triggers hold for the owner
        world = World(session, registry, "bti-standard")
        _case_with_log(world)
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(sql))
        session.rollback()


def _drop_triggers(conn):
    dialect = conn.dialect.name
    for sql in drop_append_only_ddl(dialect, "stafettlogg_entry"):
        conn.execute(text(sql))


TAMPER = {
    "edit": ["UPDATE stafettlogg_entry SET data = '{\"text\":\"forged\"}' "
             "WHERE case_id = :c AND seq = 3"],
    "delete_middle": ["DELETE FROM stafettlogg_entry WHERE case_id = :c AND seq = 3"],
    "insert_forged": ["UPDATE stafettlogg_entry SET seq = seq + 100 WHERE case_id = :c AND seq > 3",
                      "INSERT INTO stafettlogg_entry (case_id, seq, at, actor_id, kind, trigger, "
                      "from_state, to_state, data, prev_hash, hash) SELECT case_id, 4, at, "
                      "actor_id, 'note', 'add_note', to_state, to_state, '{}', hash, hash "
                      "FROM stafettlogg_entry WHERE case_id = :c AND seq = 3",
                      "UPDATE stafettlogg_entry SET seq = seq - 99 "
                      "WHERE case_id = :c AND seq > 100"],
    "reorder": ["UPDATE stafettlogg_entry SET seq = -1 WHERE case_id = :c AND seq = 3",
                "UPDATE stafettlogg_entry SET seq = 3 WHERE case_id = :c AND seq = 4",
                "UPDATE stafettlogg_entry SET seq = 4 WHERE case_id = :c AND seq = -1"],
    "truncate_tail": ["DELETE FROM stafettlogg_entry WHERE case_id = :c AND seq > 4"],
}


@pytest.mark.parametrize("scenario", sorted(TAMPER))
def test_chain_detects_tampering(world, session, scenario):
    case_id = _case_with_log(world)
    assert verify_case(session, session.get(Case, case_id)) is None
    session.commit()  # end the read: in-memory SQLite has one connection for everyone
    with owner_engine(session.get_bind()) as owner, owner.begin() as conn:  # DDL: the owner
        _drop_triggers(conn)
        for sql in TAMPER[scenario]:
            conn.execute(text(sql), {"c": case_id})
    session.expire_all()
    problem = verify_case(session, session.get(Case, case_id))
    assert problem is not None, scenario
    assert problem.case_id == case_id


def test_the_entry_fire_returns_is_the_row_written(world, session):
    """``fire`` hands back a transient copy of the entry it wrote: the same columns as the row
    read back from the database, and a hash that verifies."""
    case_id = _case_with_log(world, notes=1)
    result = cases.fire(world.ctx(world.teacher), case_id, "add_note", {"text": "Lysglimt"})
    session.commit()
    returned = result.entry
    session.expunge_all()
    stored = session.get(StafettloggEntry, returned.id)
    columns = [c.key for c in StafettloggEntry.__table__.columns]
    assert {k: getattr(returned, k) for k in columns} == {k: getattr(stored, k) for k in columns}
    assert returned.seq == 3
    assert returned.compute_hash() == returned.hash == stored.hash
    assert session.get(Note, returned.object_id).text == "Lysglimt"
