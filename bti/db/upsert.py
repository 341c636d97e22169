"""``INSERT … ON CONFLICT DO NOTHING`` in the dialect of the connection (PostgreSQL or SQLite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.dml import Insert


def insert_ignoring_conflicts(conn: Connection, target: Any, *, index_elements: list[str]
                              ) -> Insert:
    """An insert into ``target`` (a mapped class or a table) that skips a row whose
    ``index_elements`` are already there."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(target).on_conflict_do_nothing(index_elements=index_elements)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(target).on_conflict_do_nothing(index_elements=index_elements)
