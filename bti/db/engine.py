"""Engine and session factory. No Flask, no global session.

SQLite: WAL, ``synchronous=FULL``, foreign keys on, a 30 s busy timeout, and every transaction
starts with ``BEGIN IMMEDIATE`` so that concurrent writers queue instead of failing with
"database is locked" (reliability.md §2.2, CONC-03). PostgreSQL: ``pool_pre_ping`` so a dropped
connection is replaced without a restart, pool sizes and a ``statement_timeout`` from the settings
(``BTI_DB_*``, bti/config.py).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_S = 30
#: SQLAlchemy's statement log (``echo=True`` or this logger at INFO).
_SQL_LOG = logging.getLogger("sqlalchemy.engine.Engine")


class DatabaseMissing(Exception):
    """``make_engine(..., must_exist=True)`` on a SQLite file that is not there."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no database at {path}")
        self.path = path


def make_engine(url: str, *, statement_timeout_ms: int = 0, must_exist: bool = False,
                **kwargs) -> Engine:
    """An engine for ``url``. On PostgreSQL, ``statement_timeout_ms`` (> 0) caps every
    statement; pool keywords (``pool_size``, ``max_overflow``, ``pool_timeout``,
    ``pool_recycle``) apply to PostgreSQL and are ignored for SQLite, which needs no pool.

    A SQLite file (and its folder) is created on first use, unless ``must_exist``: then a
    missing file raises ``DatabaseMissing`` and the file is opened read-write only (URI
    ``mode=rw``), so that a command which only uses the database never creates one."""
    # SQL parameters are personal data: keep them out of exception messages and logs (AUD-06)
    kwargs.setdefault("hide_parameters", True)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        for pool_option in ("pool_size", "max_overflow", "pool_timeout", "pool_recycle"):
            kwargs.pop(pool_option, None)
        memory = u.database in (None, "", ":memory:")
        if not memory and must_exist:
            u = _existing_sqlite_file(u)
        elif not memory and u.database:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            u,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            **({"poolclass": StaticPool} if memory else {}),
            **kwargs,
        )
        _configure_sqlite(engine, wal=not memory)
        return engine
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    engine = create_engine(u, pool_pre_ping=True, **kwargs)
    if statement_timeout_ms > 0 and u.get_backend_name() == "postgresql":
        _configure_postgres(engine, statement_timeout_ms=statement_timeout_ms)
    return engine


def _existing_sqlite_file(u: URL) -> URL:
    """``u`` opening its file read-write without creating it (a SQLite URI with ``mode=rw``)."""
    if u.query.get("uri"):  # already a SQLite URI: keep its file name and options
        return u if "mode" in u.query else u.update_query_dict({"mode": "rw"})
    assert u.database, u  # a file, not memory
    path = Path(u.database).resolve()
    if not path.is_file():
        raise DatabaseMissing(path)
    return u.set(database="file:" + quote(str(path), safe="/")).update_query_dict(
        {"mode": "rw", "uri": "true"})


def _configure_postgres(engine: Engine, *, statement_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con, _record):
        # a runaway query ends with an error (503) instead of holding a worker and its locks
        with dbapi_con.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, false)",
                        (str(int(statement_timeout_ms)),))
        dbapi_con.commit()


def _configure_sqlite(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con, _record):
        dbapi_con.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_con.cursor()
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute \
                or conn.engine.echo or _SQL_LOG.isEnabledFor(logging.INFO):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # where a statement trace or log sees it
            return
        # every transaction: straight to the driver, without SQLAlchemy's per-statement work
        try:
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:  # raised as SQLAlchemy raises it ("database is locked")
            raise exc.DBAPIError.instance("BEGIN IMMEDIATE", (), err, sqlite3.Error,
                                          hide_parameters=True, dialect=conn.dialect) from err


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def create_schema(engine: Engine) -> None:
    """Tables and append-only triggers from the models (tests and in-memory databases);
    files and PostgreSQL are migrated with Alembic (``bti init-db``)."""
    from bti.domain.models import Base

    Base.metadata.create_all(engine)


# --- PostgreSQL: the least-privileged runtime role ------------------------------------------------

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RoleError(Exception):
    """The runtime role cannot be set up as asked (no such role, or it would not be limited)."""


def runtime_grants(role: str, schema: str) -> list[str]:
    """The SQL that limits ``role`` in ``schema`` to what the app needs: read and write every
    table, but only read and append to the log tables (``stafettlogg_entry``, ``audit_event``,
    ``case_purge``: no UPDATE, DELETE or TRUNCATE); no DDL (it owns nothing, so it cannot drop or
    disable a trigger either). Earlier grants to the role in the schema are revoked first, so
    running it again (after every migration) gives exactly this."""
    from bti.domain.log import APPEND_ONLY_TABLES
    from bti.domain.models import Base

    if not _ROLE_NAME.fullmatch(role) or not _ROLE_NAME.fullmatch(schema):
        raise RoleError("a role or schema name is lower-case letters, digits and '_'")
    sql = [f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
           f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}",
           f"REVOKE ALL ON SCHEMA {schema} FROM {role}",
           f"GRANT USAGE ON SCHEMA {schema} TO {role}"]
    for name in sorted(Base.metadata.tables):
        rights = "SELECT, INSERT" if name in APPEND_ONLY_TABLES else \
            "SELECT, INSERT, UPDATE, DELETE"
        sql.append(f"GRANT {rights} ON {schema}.{name} TO {role}")
    sql.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")  # serial ids
    return sql


def grant_runtime(engine: Engine, role: str) -> list[str]:
    """Give ``role`` the runtime rights in the engine's current schema (``runtime_grants``), run
    by the tables' owner after the migrations; returns the statements run. Refuses a role that
    does not exist, is a superuser, or owns (or is a member of the owner of) the tables."""
    if engine.dialect.name != "postgresql":
        raise RoleError("only PostgreSQL has roles; on SQLite protect the database file itself")
    if not _ROLE_NAME.fullmatch(role):
        raise RoleError("a role name is lower-case letters, digits and '_'")
    with engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        if schema is None:
            raise RoleError("no current schema: the search_path names no schema that exists")
        found = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles "
                                  "WHERE rolname = :r"), {"r": role}).one_or_none()
        if found is None:
            raise RoleError(f"no role {role!r}: create it first (CREATE ROLE {role} LOGIN "
                            "PASSWORD '…')")
        if found.rolsuper or found.rolbypassrls:
            raise RoleError(f"{role!r} is a superuser: it would not be limited by any grant")
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE schemaname = :s "
                                  "AND tablename = 'case_record'"), {"s": schema}).scalar()
        if owner is None:
            raise RoleError(f"schema {schema!r} has no bti tables: run bti init-db first")
        if conn.execute(text("SELECT pg_has_role(:r, :o, 'MEMBER')"),
                        {"r": role, "o": owner}).scalar():
            raise RoleError(f"{role!r} is (a member of) {owner!r}, the owner of the tables: the "
                            "runtime role must be another role")
        sql = runtime_grants(role, schema)
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": f"{schema}.alembic_version"}
                        ).scalar() is not None:
            sql.append(f"GRANT SELECT ON {schema}.alembic_version TO {role}")
        for statement in sql:
            conn.exec_driver_sql(statement)
    return sql
