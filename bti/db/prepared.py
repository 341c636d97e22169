"""Hot-path statements executed on the DBAPI cursor of the session's connection.

Every transition sends the same handful of Core statements (the actor's row, the note, the
stafettlogg entry, the case's versioned ``UPDATE``, the audit head and row). Through
``Connection.execute`` each costs tens of microseconds of SQLAlchemy bookkeeping (cache lookup,
execution context, result wrapping) around a ~2 µs driver call. A ``Prepared`` statement is
compiled once per dialect and set of parameter names, and then executed on the driver's cursor of
the connection the session already holds, so it runs in the caller's transaction exactly as
``Connection.execute`` would:

* parameters go through the same bind processors SQLAlchemy uses (``UTCDateTime`` stores naive
  UTC on SQLite, aware on PostgreSQL; an aware-less datetime is refused the same way), and result
  columns through the same result processors (datetimes come back aware UTC, booleans as bool);
* driver errors are raised as SQLAlchemy's exceptions (``sqlalchemy.exc.IntegrityError`` …) with
  the parameters hidden, as ``bti.db.engine.make_engine`` configures for everything else;
* when anything listens to ``before_cursor_execute``/``after_cursor_execute`` (a statement
  trace, a test counting queries) when the transaction starts, its statements go through
  ``Connection.execute`` instead, so listeners still see every statement.

Only plain statements qualify: column defaults left out must be constants (filled in as
SQLAlchemy would), no expanding (``IN``) parameters; ``Prepared`` refuses anything else when it
compiles. Works with SQLite
(``qmark``) and psycopg (``pyformat``) and any other DBAPI paramstyle SQLAlchemy compiles for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection
from sqlalchemy import exc
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.orm import Session

_CONNECTION = "bti.prepared_connection"


def connection(session: Session) -> Connection:
    """``session.connection()`` (which joins or begins the session's transaction), remembered
    for the rest of that transaction: asking the session again costs more than most statements.
    A new transaction (after a commit or rollback) asks the session again."""
    return _connection(session)[0]


def _connection(session: Session) -> tuple[Connection, bool]:
    """The session's connection and whether statement listeners are attached to it (looked up
    once per transaction: a listener added while a transaction is open is honoured from the
    next one)."""
    transaction = session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if cached is not None and transaction is not None and cached[0] is transaction \
            and not cached[1].closed:
        return cached[1], cached[2]
    conn = session.connection()
    traced = bool(conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute)
    session.info[_CONNECTION] = (session.get_transaction(), conn, traced)
    return conn, traced


class _Plan:
    """One statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("sql", "names", "positional", "binds", "fixed", "result")

    def __init__(self, stmt, dialect, keys: tuple[str, ...]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
        # bind name → value: None where a key fills it, the literal otherwise
        params = compiled.construct_params(dict.fromkeys(keys))
        defaults = {}  # columns left out that have a constant Python-side default
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not default.is_scalar:
                raise ValueError(f"Prepared: pass a value for {column}; only constant defaults "
                                 "are filled in here")
            defaults[column.key] = default.arg
        bind_names = compiled.bind_names  # BindParameter → its name in the SQL
        if any(bp.expanding or bp.literal_execute for bp in bind_names):
            raise ValueError("Prepared: expanding or literal parameters are not supported")
        #: values written into the statement itself (``where(col == 5)``)
        self.fixed = {name: value for name, value in params.items() if name not in keys}
        self.fixed.update(defaults)
        self.sql = compiled.string
        self.positional = dialect.positional
        self.names = tuple(compiled.positiontup) if self.positional else tuple(params)
        # the processors SQLAlchemy itself applies (TypeDecorators included)
        self.binds = {name: proc for bp, name in bind_names.items()
                      if (proc := bp.type.dialect_impl(dialect).bind_processor(dialect))}
        columns = list(getattr(stmt, "exported_columns", ()) or ())
        self.result = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                       for c in columns]

    def parameters(self, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        binds = self.binds
        if self.fixed:
            values = {**self.fixed, **values}
        if self.positional:
            return tuple(binds[n](values[n]) if n in binds else values[n] for n in self.names)
        return {n: binds[n](values[n]) if n in binds else values[n] for n in self.names}


class Prepared:
    """A Core statement to run many times on the session's connection, without SQLAlchemy's
    per-execution overhead. ``execute`` returns ``(rowcount, rows)``; ``rows`` are tuples with
    SQLAlchemy's result processing applied (empty without RETURNING or a SELECT)."""

    def __init__(self, stmt) -> None:
        self.stmt = stmt
        #: dialect → {parameter names: plan}; a dialect (engine) that goes away takes its plans
        self._plans: WeakKeyDictionary[Any, dict[tuple[str, ...], _Plan]] = WeakKeyDictionary()

    def _plan(self, dialect, keys: tuple[str, ...]) -> _Plan:
        by_keys = self._plans.get(dialect)
        if by_keys is None:
            by_keys = self._plans[dialect] = {}
        plan = by_keys.get(keys)
        if plan is None:
            plan = by_keys[keys] = _Plan(self.stmt, dialect, keys)
        return plan

    def execute(self, session: Session, values: dict[str, Any]
                ) -> tuple[int, Sequence[Any]]:
        conn, traced = _connection(session)
        if traced:
            result = conn.execute(self.stmt, values)  # traced: the ordinary path
            return result.rowcount, [tuple(r) for r in result] if result.returns_rows else []
        dialect = conn.dialect
        plan = self._plan(dialect, tuple(sorted(values)))
        params = _bound(plan, values)
        cursor = _cursor(conn)
        try:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall() if cursor.description is not None else []
            rowcount = cursor.rowcount
        except dialect.loaded_dbapi.Error as err:
            raise _driver_error(conn, cursor, plan.sql, params, err) from err
        finally:
            _close(cursor)
        if rows and any(plan.result):
            procs = plan.result
            rows = [tuple(p(v) if p else v for p, v in zip(procs, row, strict=True))
                    for row in rows]
        return rowcount, rows

    def execute_many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """The statement once per row, in order; one driver call per run of rows with the same
        keys."""
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i].keys() != rows[start].keys():
                self._execute_many(session, rows[start:i])
                start = i

    def _execute_many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        conn, traced = _connection(session)
        if traced:
            conn.execute(self.stmt, rows)
            return
        dialect = conn.dialect
        plan = self._plan(dialect, tuple(sorted(rows[0])))
        params = [_bound(plan, r) for r in rows]
        cursor = _cursor(conn)
        try:
            # one plan: every row's parameters are of the same kind (a sequence, or a mapping)
            cursor.executemany(plan.sql, params)  # type: ignore[arg-type]
        except dialect.loaded_dbapi.Error as err:
            raise _driver_error(conn, cursor, plan.sql, params, err) from err
        finally:
            _close(cursor)


def _cursor(conn: Connection) -> DBAPICursor:
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:  # not while the connection is checked out, as the session's is
        raise exc.ResourceClosedError("the connection is closed")
    return dbapi.cursor()


def _driver_error(conn, cursor, sql: str, params: Any, err: Exception) -> exc.StatementError:
    """The driver's error as SQLAlchemy raises it (parameters hidden). A lost connection is
    invalidated first, as ``Connection.execute`` does, so the session's rollback does not talk to
    the dead connection and the pool replaces it."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(err, conn.connection.dbapi_connection, cursor)
    if lost:
        conn.invalidate(err)
    return exc.DBAPIError.instance(sql, params, err, dialect.loaded_dbapi.Error,
                                   hide_parameters=True, dialect=dialect,
                                   connection_invalidated=lost)


def _close(cursor) -> None:
    # closing a cursor of a dead connection may fail too; the first error is the one raised
    with contextlib.suppress(Exception):
        cursor.close()


def _bound(plan: _Plan, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
    """The driver's parameters; a value a type refuses (a naive datetime) raises
    ``StatementError`` as ``Connection.execute`` does."""
    try:
        return plan.parameters(values)
    except (TypeError, ValueError) as err:
        raise exc.StatementError(f"({type(err).__module__}.{type(err).__name__}) {err}",
                                 plan.sql, None, err, hide_parameters=True) from err
