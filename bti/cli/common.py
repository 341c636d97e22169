"""What every command shares: the database engine (checked to exist and be migrated), the
workflows folder and its registry, each stopping with a clear message when wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from bti.config import Settings
from bti.db.engine import make_engine
from bti.engine import DefinitionError


def open_engine(*, create: bool = False):
    """The engine for BTI_DATABASE_URL. Every command but ``init-db`` (``create``) needs a
    database that exists and is migrated: otherwise it stops with what is wrong and exit 1,
    without creating anything (a SQLite file is opened read-write only, never created)."""
    from sqlalchemy import exc

    from bti.db.engine import DatabaseMissing
    from bti.migrate import schema_problem

    url = Settings.database_url_from_env()
    try:
        engine = make_engine(url, must_exist=not create)
    except DatabaseMissing as err:
        raise click.ClickException(f"no database at {err.path} ({_url_origin(url)}). Create it "
                                   "with `bti init-db`, or set BTI_DATABASE_URL to the "
                                   "database") from None
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # connections closed when the command ends, not left to the collector
        ctx.call_on_close(engine.dispose)
    where = _database_name(engine)
    try:
        if create:
            engine.connect().close()
            return engine
        problem = schema_problem(engine)
    except exc.DBAPIError as err:
        reason = str(err.orig).strip() or type(err.orig).__name__
        raise click.ClickException(f"cannot open the database {where}: {reason}") from None
    if problem:
        raise click.ClickException(f"the database {where}: {problem}")
    return engine


def _url_origin(url: str) -> str:
    """Where a SQLite URL came from, for the message about its missing file."""
    import os

    if not os.environ.get("BTI_DATABASE_URL"):
        origin = f"BTI_DATABASE_URL is not set; the default is {url}"
    else:
        origin = f"BTI_DATABASE_URL is {_database_url_shown(url)}"
    if not Path(make_url(url).database or "").is_absolute():
        origin += f", a path relative to the current folder {Path.cwd()}"
    return origin


def _database_url_shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _database_name(engine) -> str:
    """The database as a user knows it: a SQLite file's path, else the URL without password."""
    if engine.dialect.name == "sqlite":
        name = engine.url.database or ":memory:"
        if name.startswith("file:"):
            from urllib.parse import unquote

            name = unquote(name[len("file:"):])
        return f"at {name}"
    return engine.url.render_as_string(hide_password=True)


def workflows_dir() -> Path:
    import os

    path = Path(os.environ.get("BTI_WORKFLOWS_DIR", "workflows"))
    if not path.is_dir():
        origin = (f"BTI_WORKFLOWS_DIR is {path}" if os.environ.get("BTI_WORKFLOWS_DIR")
                  else "BTI_WORKFLOWS_DIR is not set; the default is ./workflows")
        raise click.ClickException(
            f"no workflows folder at {path.resolve()} ({origin}). Run bti in the folder that "
            "holds workflows/ (the repository root), or set BTI_WORKFLOWS_DIR to the folder of "
            "the workflow files")
    return path


def load_registry():
    from bti.services.workflows.registry import WorkflowRegistry

    try:
        return WorkflowRegistry(workflows_dir())
    except DefinitionError as err:
        click.echo("\n".join(err.problems), err=True)
        sys.exit(1)
