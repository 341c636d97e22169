"""Backups and restores of the database, online and consistent (``bti backup`` / ``bti restore``).

Never copy the file of a live SQLite database (a copy taken during a write, or without its
``-wal`` file, is torn): SQLite's online backup API copies a consistent snapshot while the app
keeps writing. PostgreSQL is dumped with ``pg_dump -Fc`` (one consistent snapshot, a
transaction of its own) and restored with ``pg_restore`` into an empty database.
The password of a PostgreSQL URL is handed to the client tools in ``PGPASSWORD``, never on
their command line (visible to every user of the host).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess  # nosec B404 - pg_dump/pg_restore with an argument list, no shell
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class BackupResult:
    path: Path
    kind: str  # "sqlite" or "pg_dump"
    size: int


def backend(url: str) -> str:
    return make_url(url).get_backend_name()


def sqlite_file(url: str) -> Path:
    u = make_url(url)
    if u.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(u.database)


def backup(url: str, target: Path) -> BackupResult:
    """Write a backup of the database at ``url`` to ``target`` (a new file)."""
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists; a backup never overwrites a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    kind = backend(url)
    if kind == "sqlite":
        _sqlite_backup(sqlite_file(url), target)
        return BackupResult(target, "sqlite", target.stat().st_size)
    if kind == "postgresql":
        _pg_dump(make_url(url), target)
        return BackupResult(target, "pg_dump", target.stat().st_size)
    raise BackupError(f"no backup for {kind} databases")


def restore(source: Path, url: str, *, force: bool = False) -> str:
    """Restore the backup ``source`` into the database at ``url``. The target must be empty
    (no tables), unless ``force`` for SQLite (the file is replaced: stop the app first)."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    kind = backend(url)
    if kind == "sqlite":
        return _sqlite_restore(source, sqlite_file(url), force=force)
    if kind == "postgresql":
        return _pg_restore(source, make_url(url))
    raise BackupError(f"no restore for {kind} databases")


# --- SQLite: the online backup API --------------------------------------------------------------


def _sqlite_backup(db: Path, target: Path) -> None:
    if not db.is_file():
        raise BackupError(f"no database file {db}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    # read-only: the backup never changes the live database
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            # a consistent snapshot even while the app writes (the copy restarts if a writer
            # changes a page underneath; all pages in one step keeps that short)
            src.backup(dst)
            _check_sqlite(dst, partial)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)


def _check_sqlite(con: sqlite3.Connection, path: Path) -> None:
    try:
        result = con.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise BackupError(f"{path} is not a SQLite database ({err})") from None
    if result != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {result}")


def _sqlite_restore(source: Path, db: Path, *, force: bool) -> str:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _check_sqlite(src, source)
        if not src.execute("SELECT 1 FROM sqlite_master WHERE name = 'case_record'").fetchone():
            raise BackupError(f"{source} is not a bti database (no case_record table)")
        if db.exists() and db.stat().st_size > 0:
            dst = sqlite3.connect(db)
            try:
                has_tables = dst.execute("SELECT count(*) FROM sqlite_master "
                                         "WHERE type = 'table'").fetchone()[0]
            finally:
                dst.close()
            if has_tables and not force:
                raise BackupError(f"{db} is not empty; stop the app and give --force to "
                                  "replace it")
        db.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(db, timeout=30)
        try:
            src.backup(dst)  # page by page through SQLite, -wal and locks handled
        finally:
            dst.close()
    finally:
        src.close()
    return f"restored {source} into {db}"


# --- PostgreSQL: pg_dump / pg_restore -----------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found; install the PostgreSQL client tools "
                          "(Debian: postgresql-client)")
    return path


def _libpq(u: URL) -> tuple[str, dict[str, str], str | None]:
    """A libpq connection string (without the password), the environment with PGPASSWORD,
    and the schema named by a ``-csearch_path=`` option, if any."""
    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts = {"host": u.host, "port": str(u.port) if u.port else None, "user": u.username,
             "dbname": u.database}
    schema = None
    for key, value in u.query.items():
        value = value if isinstance(value, str) else value[0]
        parts[key] = value
        if key == "options" and "search_path=" in value:
            schema = value.split("search_path=", 1)[1].split()[0].split(",")[0]
    conninfo = " ".join(f"{k}={quote(v)}" for k, v in parts.items() if v)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    return conninfo, env, schema


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    # an argument list, no shell; the tools come from shutil.which
    done = subprocess.run(args, env=env, capture_output=True, text=True,  # noqa: S603 # nosec
                          check=False)
    if done.returncode != 0:
        # pg_dump's messages name objects, not rows: safe to show
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[:2000]}")


def _pg_dump(u: URL, target: Path) -> None:
    conninfo, env, schema = _libpq(u)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    args = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
            f"--file={partial}", f"--dbname={conninfo}"]
    if schema:
        args.append(f"--schema={schema}")
    _run(args, env, "pg_dump")
    os.replace(partial, target)


def _pg_restore(source: Path, u: URL) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy import inspect

    conninfo, env, schema = _libpq(u)
    check = create_engine(u.set(drivername="postgresql+psycopg"))
    try:
        tables = inspect(check).get_table_names(schema=schema)
    finally:
        check.dispose()
    if tables:
        raise BackupError("the target database is not empty; restore into a new, empty "
                          "database (createdb) and point BTI_DATABASE_URL at it")
    _run([_tool("pg_restore"), "--exit-on-error", "--single-transaction", "--no-owner",
          "--no-privileges", f"--dbname={conninfo}", str(source)], env, "pg_restore")
    return f"restored {source} into database {u.database}"
