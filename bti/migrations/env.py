"""Alembic environment. The database comes from the caller (``bti init-db`` passes its engine
in ``config.attributes["engine"]``) or from ``BTI_DATABASE_URL``."""

from __future__ import annotations

from alembic import context

from bti.config import Settings
from bti.db.engine import make_engine
from bti.domain.models import Base

config = context.config
target_metadata = Base.metadata


def _sqlite_foreign_keys(connection, *, on: bool) -> None:
    """SQLite alters a table by rebuilding it (batch mode: copy, drop, rename); with foreign
    keys on, the drop would cascade into every referencing table (roles, sessions, ...). The
    pragma is ignored inside a transaction, so it is set on the driver connection, between
    transactions (SQLite's documented procedure for table rebuilds)."""
    if connection.in_transaction():
        connection.commit()
    connection.connection.dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    owns_engine = engine is None
    if engine is None:
        engine = make_engine(Settings.database_url_from_env())
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                _sqlite_foreign_keys(connection, on=False)
            try:
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                with context.begin_transaction():
                    context.run_migrations()
                    if sqlite:  # the rebuilt tables still point where they should
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
            finally:
                if sqlite:
                    _sqlite_foreign_keys(connection, on=True)
    finally:
        if owns_engine:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations()
