"""log seals (mac) and append-only tombstones

``stafettlogg_entry.mac`` and ``audit_event.mac`` hold each row's seal, an HMAC-SHA256 of its
chain hash under a key outside the database (``BTI_LOG_KEYS``, ``bti.domain.log.LogKeys``).
When ``BTI_LOG_KEYS`` is set while this migration runs, the rows written before it are sealed
with the first key (the append-only triggers are lifted for that UPDATE only); without it they
stay unsealed and ``bti audit verify`` reports them once keys are set, so set the keys first
(docs/deployment.md).

``case_purge`` becomes append-only (UPDATE and DELETE refused, TRUNCATE too on PostgreSQL): its
rows are what lets the stafettlogg's delete trigger through, so no one may remove one after use.

Revision ID: 7f3c2b9e1d64
Revises: 79666edba8f0
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import hmac
import os

import sqlalchemy as sa
from alembic import op


revision = '7f3c2b9e1d64'
down_revision = '79666edba8f0'
branch_labels = None
depends_on = None

# Written out here (not imported from bti.domain.log) so that this migration stays as shipped.
_MAC_LENGTH = 81
_PURPOSE = {"stafettlogg_entry": b"bti stafettlogg v1\n", "audit_event": b"bti audit v1\n"}
_T = "case_purge"
_SQLITE_TOMBSTONE = [
    f"CREATE TRIGGER {_T}_no_update BEFORE UPDATE ON {_T} "
    f"BEGIN SELECT RAISE(ABORT, '{_T} is append-only'); END",
    f"CREATE TRIGGER {_T}_no_delete BEFORE DELETE ON {_T} "
    f"BEGIN SELECT RAISE(ABORT, '{_T} is append-only'); END",
]
_PG_TOMBSTONE = [
    "CREATE OR REPLACE FUNCTION bti_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME "
    "USING ERRCODE = 'insufficient_privilege'; END $$",
    f"CREATE TRIGGER {_T}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {_T} "
    "FOR EACH STATEMENT EXECUTE FUNCTION bti_append_only()",
]
# the UPDATE guards lifted while the old rows are sealed (as created by the earlier revisions)
_SQLITE_NO_UPDATE = {
    t: f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
       f"BEGIN SELECT RAISE(ABORT, '{t} is append-only'); END"
    for t in _PURPOSE
}


def _keys() -> tuple[str, bytes] | None:
    """The first key of BTI_LOG_KEYS (id, secret), or None."""
    raw = os.environ.get("BTI_LOG_KEYS", "").strip()
    for part in raw.split(","):
        key_id, sep, secret = part.strip().partition(":")
        if sep and key_id and len(secret) >= 32:
            return key_id, secret.encode("utf-8")
        if part.strip():
            raise RuntimeError("BTI_LOG_KEYS: the first key is not id:secret (32+ characters)")
    return None


def _seal_existing(table: str, key: tuple[str, bytes]) -> None:
    bind = op.get_bind()
    key_id, secret = key
    rows = bind.execute(sa.text(f"SELECT id, hash FROM {table} WHERE mac IS NULL "  # nosec B608 - constant table names
                                "ORDER BY id")).all()
    if not rows:
        return
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
    else:
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    purpose = _PURPOSE[table]
    update = sa.text(f"UPDATE {table} SET mac = :mac WHERE id = :id")  # nosec B608 - constant
    for start in range(0, len(rows), 5000):
        bind.execute(update, [
            {"id": r.id, "mac": f"{key_id}:" + hmac.digest(secret, purpose + r.hash.encode(),
                                                           "sha256").hex()}
            for r in rows[start:start + 5000]])
    if sqlite:
        op.execute(_SQLITE_NO_UPDATE[table])
    else:
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def upgrade() -> None:
    for table in _PURPOSE:
        op.add_column(table, sa.Column('mac', sa.String(length=_MAC_LENGTH), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for sql in (_SQLITE_TOMBSTONE if sqlite else _PG_TOMBSTONE):
        op.execute(sql)
    key = _keys()
    if key is not None:
        for table in _PURPOSE:
            _seal_existing(table, key)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {_T}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {_T}_no_delete")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_T}_append_only ON {_T}")
    for table in _PURPOSE:
        op.drop_column(table, 'mac')
