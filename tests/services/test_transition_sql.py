"""The SQL of a transition: which statements reach the driver, that SQL logging (``echo``) and
statement listeners see every one of them, and that the case's version check (the mapper's
``version_id_col``) turns a concurrent writer into a ``Conflict``. On SQLite and PostgreSQL.

Statements are counted at the driver itself, below SQLAlchemy: SQLite's trace callback (every
statement the library runs, ``BEGIN`` and ``COMMIT`` included) and, on PostgreSQL, a psycopg
cursor class that records every ``execute`` (psycopg begins and commits without a cursor)."""

from __future__ import annotations

import contextlib
import logging
import re

import pytest
from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from bti.db.engine import make_engine
from bti.domain.cases import Case
from bti.domain.cases import Note
from bti.domain.log import AuditEvent
from bti.domain.log import StafettloggEntry
from bti.services.accounts.users import load_actor
from bti.services.cases import lifecycle as cases
from bti.services.cases.stafettlogg import verify_case
from bti.services.context import Ctx
from bti.services.errors import Conflict
from tests.factories import CONCERN
from tests.factories import FIXED_NOW

#: A note on a case whose audit chain head this process knows (the steady state), as the
#: driver runs it. PostgreSQL locks the case row (``FOR UPDATE OF case_record``); its driver
#: begins and commits without a statement.
NOTE_STATEMENTS = [
    "SELECT user_account",  # the actor with their roles (bti.services.accounts.users)
    "SELECT case_record",  # the case with its active participants, one ORM query
    "INSERT INTO note",  # the effect's record, added to the session and flushed for its id
    "INSERT INTO stafettlogg_entry",  # Core, on the session's connection
    "UPDATE case_record",  # the unit of work: … WHERE id = ? AND version = ?
    "UPDATE audit_chain_head",  # at commit: compare-and-set of the known head …
    "INSERT INTO audit_event",  # … and the row
]


def _head(sql: str) -> str:
    """A statement's verb and first table: ``INSERT INTO note``, ``SELECT case_record`` …"""
    sql = " ".join(sql.replace('"', "").split())
    if m := re.match(r"(INSERT INTO|UPDATE|DELETE FROM) (\S+)", sql, re.I):
        return f"{m[1].upper()} {m[2]}"
    if m := re.match(r"SELECT .*? FROM (\S+)", sql, re.I | re.S):
        return f"SELECT {m[1]}"
    return sql.upper()


def _data(heads: list[str]) -> list[str]:
    return [h for h in heads if not h.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]


class DriverStatements:
    """Every statement the driver runs on the engine's connections while installed (installed
    on each connection as it is checked out of the pool, removed when it goes back)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def __enter__(self) -> DriverStatements:
        event.listen(self.engine, "checkout", self._install)
        event.listen(self.engine, "checkin", self._remove)
        return self

    def __exit__(self, *exc_info) -> None:
        event.remove(self.engine, "checkout", self._install)
        event.remove(self.engine, "checkin", self._remove)

    def _install(self, dbapi_connection, _record, _proxy) -> None:
        if self.engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(self.seen.append)
            return
        import psycopg

        seen = self.seen

        class Recording(psycopg.Cursor):
            def execute(self, query, params=None, **kw):
                seen.append(str(query))
                return super().execute(query, params, **kw)

            def executemany(self, query, params_seq, **kw):
                seen.append(str(query))
                return super().executemany(query, params_seq, **kw)

        dbapi_connection.cursor_factory = Recording

    def _remove(self, dbapi_connection, _record) -> None:
        if dbapi_connection is None:
            return
        if self.engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(None)
        else:
            import psycopg

            dbapi_connection.cursor_factory = psycopg.Cursor

    @property
    def heads(self) -> list[str]:
        return [_head(s) for s in self.seen]


def _note_case(world, session) -> tuple[int, int]:
    """A case with one note already (so the chain head is known and every lookup cached);
    committed, the session's connection back in the pool."""
    case = cases.open_case(world.ctx(world.teacher), unit_id=None, child_pseudonym="T. S.",
                           child_birth_year=2016, concern=CONCERN).case
    _note(world, session, case.id, "Fyrste notat")
    return case.id, world.teacher.id


def _note(world, session, case_id: int, text: str) -> None:
    """One request's worth: the actor loaded, the note fired, committed."""
    actor = load_actor(session, world.teacher.id)
    ctx = Ctx(session=session, actor=actor, workflows=world.registry, now=lambda: FIXED_NOW)
    cases.fire(ctx, case_id, "add_note", {"text": text})
    session.commit()


def test_a_note_sends_these_statements_at_the_driver(world, session, engine):
    case_id, _ = _note_case(world, session)
    with DriverStatements(engine) as driver:
        _note(world, session, case_id, "Andre notat")
    if engine.dialect.name == "sqlite":
        assert driver.heads == ["BEGIN IMMEDIATE", *NOTE_STATEMENTS, "COMMIT"]
    else:
        assert driver.heads == NOTE_STATEMENTS
        assert "FOR UPDATE OF case_record" in driver.seen[1]


@contextlib.contextmanager
def _sql_log(caplog, engine, how: str):
    """SQLAlchemy's statement log switched on as ``how`` says: ``echo`` on the engine, or its
    logger at INFO (logging configuration)."""
    if how == "echo":
        engine.echo = True
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
            yield
    finally:
        engine.echo = False


def _logged(caplog) -> list[str]:
    """The statements in SQLAlchemy's log (not its parameter and timing lines)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.engine")
            and r.levelno == logging.INFO and not r.getMessage().startswith("[")]


@pytest.mark.parametrize("how", ["echo", "logging"])
def test_sql_logging_shows_every_statement_of_a_transition(world, session, engine, caplog, how):
    case_id, _ = _note_case(world, session)
    caplog.clear()
    with DriverStatements(engine) as driver, _sql_log(caplog, engine, how):
        _note(world, session, case_id, "Andre notat")
    logged = [_head(s) for s in _logged(caplog)]
    assert _data(logged) == _data(driver.heads) == NOTE_STATEMENTS
    if engine.dialect.name == "sqlite":  # the transaction's own BEGIN is in the log too
        assert logged[:2] == ["BEGIN (IMPLICIT)", "BEGIN IMMEDIATE"]
    assert logged[-1] == "COMMIT"
    assert "Andre notat" not in caplog.text  # parameters stay out of the log


def test_statement_listeners_see_every_statement_of_a_transition(world, session, engine):
    case_id, _ = _note_case(world, session)
    traced: list[str] = []

    def before(_conn, _cursor, statement, *_args) -> None:
        traced.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        with DriverStatements(engine) as driver:
            _note(world, session, case_id, "Andre notat")
    finally:
        event.remove(engine, "before_cursor_execute", before)
    heads = [_head(s) for s in traced]
    assert _data(heads) == _data(driver.heads) == NOTE_STATEMENTS
    if engine.dialect.name == "sqlite":
        assert heads[0] == "BEGIN IMMEDIATE"


def test_a_writer_that_moved_the_version_on_is_a_conflict(world, session, engine):
    """The case is locked while a transition runs (``BEGIN IMMEDIATE`` on SQLite, ``FOR
    UPDATE`` on PostgreSQL), so only a writer that bypasses the lock can move its version on
    between the load and the write. Here one does, on the same connection, as soon as the
    stafettlogg row is written: the unit of work's ``UPDATE … WHERE version`` matches no row
    (``StaleDataError``), ``fire`` raises ``Conflict``, and the rollback leaves nothing behind."""
    case_id, _ = _note_case(world, session)
    before = _counts(session, case_id)

    def move_version(conn, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO stafettlogg_entry"):
            other = conn.connection.dbapi_connection.cursor()
            other.execute(f"UPDATE case_record SET version = version + 1 WHERE id = {case_id}")
            other.close()

    event.listen(engine, "after_cursor_execute", move_version)
    try:
        actor = load_actor(session, world.teacher.id)
        ctx = Ctx(session=session, actor=actor, workflows=world.registry,
                  now=lambda: FIXED_NOW)
        with pytest.raises(Conflict) as caught:
            cases.fire(ctx, case_id, "add_note", {"text": "Tapt notat"})
    finally:
        event.remove(engine, "after_cursor_execute", move_version)
    assert isinstance(caught.value.__cause__, StaleDataError)
    session.rollback()
    assert _counts(session, case_id) == before
    assert verify_case(session, session.get(Case, case_id)) is None


def _counts(session, case_id: int) -> tuple:
    def count(model, *where):
        return session.scalar(select(func.count()).select_from(model).where(*where))

    session.expire_all()
    case = session.get(Case, case_id)
    result = (case.version, case.log_seq, count(Note, Note.case_id == case_id),
              count(StafettloggEntry, StafettloggEntry.case_id == case_id), count(AuditEvent))
    session.commit()
    return result


def test_sqlite_begin_immediate_is_traced_logged_and_fails_as_sqlalchemy_fails(
        tmp_path, monkeypatch, caplog):
    """SQLite's ``BEGIN IMMEDIATE`` goes straight to the driver unless something watches, yet
    a statement trace and the SQL log still see it, and a locked database is still
    ``sqlalchemy.exc.OperationalError``."""
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
    logged = make_engine(f"sqlite:///{path}")
    with _sql_log(caplog, logged, "logging"), logged.begin():
        pass
    assert "BEGIN IMMEDIATE" in _logged(caplog)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    other = make_engine(f"sqlite:///{path}")
    with pytest.raises(exc.OperationalError, match="locked"), other.begin():
        pass
    holder.close()
    for e in (other, logged, eng):
        e.dispose()
