"""Running Alembic from code: ``bti init-db`` and the migration test use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def head_revisions() -> set[str]:
    """The newest revision(s) of the migrations shipped with this code."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_problem(engine: Engine) -> str | None:
    """Why this code cannot use the database's schema (a sentence saying what to do), or None.

    Read from Alembic's version table: none (and no tables) means not migrated; another
    revision than the head means migrate it (or, for a revision these migrations do not know,
    a newer version of bti migrated it). A schema made by ``bti.db.engine.create_schema`` (tests,
    in-memory databases) has every table but no version table; it is accepted. Reads only:
    nothing is created. Connection errors are the caller's (``sqlalchemy.exc.DBAPIError``)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from bti.domain.base import Base

    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
        tables = set() if current else set(inspect(conn).get_table_names())
        conn.rollback()
    script = ScriptDirectory.from_config(alembic_config())
    expected = set(script.get_heads())
    if current == expected:
        return None
    if current:
        known = {rev.revision for rev in script.walk_revisions()}
        at = ", ".join(sorted(current))
        if current - known:
            return (f"its schema is at revision {at}, which this version of bti does not know "
                    "(a newer version migrated it): run that version, or restore a backup")
        return (f"its schema is at revision {at}, this version of bti needs "
                f"{', '.join(sorted(expected))}: run `bti init-db` to migrate it")
    missing = set(Base.metadata.tables) - tables
    if not missing:
        return None
    if missing == set(Base.metadata.tables):
        return "it is not migrated (it has no bti tables): run `bti init-db`"
    return (f"it has no Alembic version and lacks the tables {', '.join(sorted(missing))}: "
            "it is not a bti database made by `bti init-db`")
