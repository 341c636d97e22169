"""Alembic environment. The database comes from the caller (``bti init-db`` passes its engine
in ``config.attributes["engine"]``) or from ``BTI_DATABASE_URL``."""

from __future__ import annotations

from alembic import context

from bti.config import Settings
from bti.db import make_engine
from bti.domain.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    owns_engine = engine is None
    if engine is None:
        engine = make_engine(Settings.database_url_from_env())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owns_engine:
            engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations()
