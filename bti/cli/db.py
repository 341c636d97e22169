"""Database commands: init-db, backup, restore and the db group (grant-runtime)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bti.cli.common import load_registry
from bti.cli.common import open_engine
from bti.config import Settings
from bti.db.engine import make_session_factory


@click.command("init-db", help="Migrate the database (BTI_DATABASE_URL) to the newest schema.")
def init_db() -> None:
    from bti.migrate import upgrade

    registry = load_registry()  # first: a wrong folder stops before a database is made
    engine = open_engine(create=True)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        current = registry.sync(session)
    click.echo(f"database migrated; workflows stored: {', '.join(sorted(current))}")


@click.command("backup", help="Write a consistent backup of the live database (BTI_DATABASE_URL) "
               "to PATH, a new file: SQLite through its online backup API (never a copy of the "
               "file), PostgreSQL with pg_dump -Fc. The app may keep running.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
def backup_cmd(path: Path) -> None:
    from bti import backup

    try:
        result = backup.backup(Settings.database_url_from_env(), path)
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {result.kind} backup {result.path} ({result.size:,} bytes)")


@click.command("restore", help="Restore a backup written by `bti backup` into BTI_DATABASE_URL, "
               "which must be empty (PostgreSQL: a new database made with createdb; SQLite: a new "
               "file, or --force to replace one with the app stopped). Then run "
               "`bti init-db` and `bti audit verify`.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--force", is_flag=True, help="SQLite: replace a database file that has tables.")
def restore_cmd(path: Path, force: bool) -> None:
    from bti import backup

    try:
        click.echo(backup.restore(path, Settings.database_url_from_env(), force=force))
    except backup.BackupError as err:
        raise click.ClickException(str(err)) from None
    click.echo("now run: bti init-db (migrates an older backup) and bti audit verify")


@click.group("db", help="Database roles (PostgreSQL).")
def db_group() -> None:
    pass


@db_group.command("grant-runtime", help="Limit ROLE to what the running app needs in the schema "
                  "of BTI_DATABASE_URL: read and write the tables, but only read and append to "
                  "the log tables (stafettlogg_entry, audit_event, case_purge); no DDL. Run it "
                  "as the owner of the tables after every `bti init-db`; the app then connects "
                  "as ROLE (docs/deployment.md).")
@click.argument("role")
def db_grant_runtime(role: str) -> None:
    from bti.db.engine import RoleError
    from bti.db.engine import grant_runtime

    try:
        statements = grant_runtime(open_engine(), role)
    except RoleError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    for statement in statements:
        click.echo(statement + ";")
    click.echo(f"-- {role} may now read and write the app's tables and only append to the logs")
