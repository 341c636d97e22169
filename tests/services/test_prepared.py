"""``Prepared``: statements on the driver's cursor write and read exactly what SQLAlchemy's
``Connection.execute`` writes and reads, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from sqlalchemy import bindparam
from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy import select
from sqlalchemy import update

from bti.db.engine import create_schema
from bti.db.engine import make_engine
from bti.db.engine import make_session_factory
from bti.db.prepared import Prepared
from bti.db.prepared import connection
from bti.domain.log import AuditChainHead
from bti.domain.log import AuditEvent
from bti.domain.log import canonical_json
from bti.domain.log import chain_hash
from bti.domain.org import Municipality
from bti.domain.org import User
from tests.factories import make_municipality
from tests.factories import make_unit
from tests.factories import make_user

_AUDIT = AuditEvent.__table__
_INSERT = Prepared(_AUDIT.insert().returning(_AUDIT.c.id))
_SELECT = Prepared(select(AuditEvent.__table__).where(_AUDIT.c.id == bindparam("id")))
_ACTIVE = Prepared(select(User.__table__.c.active, User.__table__.c.created_at)
                   .where(User.__table__.c.id == bindparam("id")))
_MOVE = Prepared(update(AuditChainHead).where(AuditChainHead.chain == bindparam("b_chain"),
                                              AuditChainHead.seq == bindparam("b_seq"))
                 .values(seq=bindparam("b_new")))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'prepared.sqlite3'}")
        create_schema(eng)
        yield eng
        eng.dispose()
    else:
        yield request.getfixturevalue("pg_engine")


def _row(seq: int, at: datetime, municipality_id: int, prev: str) -> dict:
    row = dict(chain=municipality_id, seq=seq, at=at, municipality_id=municipality_id,
               actor_id=None, actor_roles="employee", unit_id=None, case_id=7,
               action="case.viewed", object_type="case", object_id=7, basis="reporter",
               outcome="allowed", details=canonical_json({"trigger": "add_note"}),
               prev_hash=prev)
    row["hash"] = chain_hash(prev, AuditEvent.content_of(row))
    return row


def _municipality(sf) -> int:
    with sf.begin() as s:
        return make_municipality(s).id


def test_rows_written_both_ways_read_back_identical_and_verify(db_engine):
    sf = make_session_factory(db_engine)
    mid = _municipality(sf)
    # an aware time in another zone, with microseconds: stored as UTC either way
    at = datetime(2025, 3, 30, 2, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    core = _row(1, at, mid, "0" * 64)
    fast = _row(2, at, mid, core["hash"])
    with sf.begin() as s:
        core_id = s.connection().execute(_AUDIT.insert().returning(_AUDIT.c.id),
                                         core).scalar_one()
        rowcount, [(fast_id,)] = _INSERT.execute(s, fast)
        assert rowcount == 1
        assert fast_id == core_id + 1
    with sf() as s:
        orm = {r.seq: r for r in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))}
        assert orm[1].at == orm[2].at == at.astimezone(UTC)
        assert orm[2].at.tzinfo is not None
        assert orm[2].at.utcoffset() == timedelta(0)
        assert [AuditEvent.content_of(orm[n]) | {"seq": 0} for n in (1, 2)] == \
            [AuditEvent.content_of(orm[1]) | {"seq": 0}] * 2
        prev = "0" * 64
        for n in (1, 2):  # the chain verifies over both rows
            assert orm[n].prev_hash == prev
            assert chain_hash(prev, AuditEvent.content_of(orm[n])) == orm[n].hash
            prev = orm[n].hash
        # reading with Prepared gives what Connection.execute gives, processed the same way
        for row_id in (core_id, fast_id):
            _, rows = _SELECT.execute(s, {"id": row_id})
            expected = s.connection().execute(
                select(_AUDIT).where(_AUDIT.c.id == row_id)).all()
            assert rows == [tuple(r) for r in expected]
            assert rows[0][_AUDIT.c.keys().index("at")] == at


def test_booleans_and_datetimes_come_back_as_sqlalchemy_returns_them(db_engine):
    sf = make_session_factory(db_engine)
    with sf.begin() as s:
        m = s.get(Municipality, _municipality(sf))
        user = make_user(s, m, make_unit(s, m), ("employee",), username="prepared")
        s.flush()
        user_id = user.id
    with sf() as s:
        _, [(active, created_at)] = _ACTIVE.execute(s, {"id": user_id})
        assert active is True
        assert created_at.tzinfo is not None
        assert (active, created_at) == tuple(s.connection().execute(
            select(User.active, User.created_at).where(User.id == user_id)).one())


def test_rowcount_constant_defaults_and_executemany(db_engine):
    sf = make_session_factory(db_engine)
    mid = _municipality(sf)
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    rows = [_row(1, at, mid, "0" * 64)]
    rows.append(_row(2, at, mid, rows[0]["hash"]))
    for r in rows:
        del r["outcome"]  # a constant column default, filled in as SQLAlchemy would
    with sf.begin() as s:
        Prepared(_AUDIT.insert()).execute_many(s, rows)
        s.add(AuditChainHead(chain=mid, seq=2, hash=rows[1]["hash"]))
        s.flush()
        assert _MOVE.execute(s, {"b_chain": mid, "b_seq": 1, "b_new": 3})[0] == 0  # stale
        assert _MOVE.execute(s, {"b_chain": mid, "b_seq": 2, "b_new": 3})[0] == 1
    with sf() as s:
        assert [e.outcome for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == \
            ["allowed", "allowed"]


def test_errors_are_sqlalchemys_with_parameters_hidden(db_engine):
    sf = make_session_factory(db_engine)
    mid = _municipality(sf)
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    row = _row(1, at, mid, "0" * 64)
    row["details"] = '{"secret":"Kari Nordmann"}'
    with sf() as s:
        _INSERT.execute(s, row)
        with pytest.raises(exc.IntegrityError) as caught:  # (chain, seq) is unique
            _INSERT.execute(s, row)
        assert "Kari" not in str(caught.value)
        s.rollback()
        with pytest.raises(exc.StatementError, match="naive datetime"):
            _INSERT.execute(s, {**row, "at": datetime(2025, 1, 2)})  # noqa: DTZ001
        s.rollback()


def test_listeners_still_see_every_statement(db_engine):
    sf = make_session_factory(db_engine)
    mid = _municipality(sf)
    seen: list[str] = []

    def before(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db_engine, "before_cursor_execute", before)
    try:
        with sf.begin() as s:
            _, [(row_id,)] = _INSERT.execute(s, _row(1, datetime.now(UTC), mid, "0" * 64))
            assert _SELECT.execute(s, {"id": row_id})[1][0][0] == row_id
    finally:
        event.remove(db_engine, "before_cursor_execute", before)
    assert [s.split()[0] for s in seen if not s.startswith("BEGIN")] == ["INSERT", "SELECT"]


def test_statements_needing_sqlalchemy_are_refused():
    eng = make_engine("sqlite://")
    create_schema(eng)
    with make_session_factory(eng)() as s, pytest.raises(ValueError, match="expanding"):
        Prepared(select(_AUDIT.c.id).where(_AUDIT.c.id.in_(bindparam("ids", expanding=True)))
                 ).execute(s, {"ids": [1]})
    eng.dispose()


def test_each_transaction_uses_its_own_connection(db_engine):
    """The connection is remembered for one transaction only: after a commit or a rollback the
    next statement runs in the session's new transaction."""
    sf = make_session_factory(db_engine)
    mid = _municipality(sf)
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with sf() as s:
        _INSERT.execute(s, _row(1, at, mid, "0" * 64))
        s.rollback()
        _INSERT.execute(s, _row(1, at, mid, "0" * 64))  # the rolled-back row is gone
        s.commit()
        _, [(row_id,)] = _INSERT.execute(s, _row(2, at, mid, "1" * 64))
        assert s.connection() is connection(s)
        s.commit()
    with sf() as s:
        assert [e.seq for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == [1, 2]
        assert s.get(AuditEvent, row_id).seq == 2


def test_sqlite_begin_immediate_is_traced_and_fails_as_sqlalchemy_fails(tmp_path, monkeypatch):
    """SQLite's ``BEGIN IMMEDIATE`` goes straight to the driver, yet a statement trace still
    sees it and a locked database is still ``sqlalchemy.exc.OperationalError``."""
    import sqlite3

    import bti.db.engine

    monkeypatch.setattr(bti.db.engine, "SQLITE_BUSY_TIMEOUT_S", 0)
    path = tmp_path / "locked.sqlite3"
    eng = make_engine(f"sqlite:///{path}")
    seen: list[str] = []
    event.listen(eng, "before_cursor_execute", lambda _c, _cur, sql, *_a: seen.append(sql))
    with eng.begin():
        pass
    assert seen == ["BEGIN IMMEDIATE"]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    other = make_engine(f"sqlite:///{path}")
    with pytest.raises(exc.OperationalError, match="locked"), other.begin():
        pass
    holder.close()
    other.dispose()
    eng.dispose()
