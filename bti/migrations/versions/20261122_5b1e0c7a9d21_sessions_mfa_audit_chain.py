"""sessions, mfa, emergency access, notifications, audit chain

Revision ID: 5b1e0c7a9d21
Revises: 24c5d9209a83
Create Date: 2026-11-22 16:52:36.007479
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from datetime import datetime

import sqlalchemy as sa
from alembic import op


revision = '5b1e0c7a9d21'
down_revision = '24c5d9209a83'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
# audit_event is append-only; its triggers are dropped while the table is reshaped and put back
# afterwards (SQLite's batch mode rebuilds the table, which would drop them anyway).
_SQLITE_TRIGGERS = [
    f"CREATE TRIGGER audit_event_no_{op_} BEFORE {op_.upper()} ON audit_event "
    f"BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
    for op_ in ("update", "delete")
]
_PG_TRIGGER = ("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON "
               "audit_event FOR EACH STATEMENT EXECUTE FUNCTION bti_append_only()")
_HASHED = ("chain", "seq", "at", "municipality_id", "actor_id", "actor_roles", "unit_id",
           "case_id", "action", "object_type", "object_id", "basis", "outcome", "details")


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")


def _create_audit_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for sql in _SQLITE_TRIGGERS:
            op.execute(sql)
    else:
        op.execute(_PG_TRIGGER)


def _chain_existing_rows() -> None:
    """Give the rows written before this revision their place in a chain (per municipality)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, at, municipality_id, actor_id, actor_roles, unit_id, case_id, action, "
        "object_type, object_id, basis, outcome, details FROM audit_event ORDER BY id")).mappings()
    heads: dict[int, tuple[int, str]] = {}
    for row in rows.all():
        chain = row["municipality_id"] or 0
        seq, prev = heads.get(chain, (0, GENESIS))
        values = dict(row, chain=chain, seq=seq + 1)
        at = values["at"]
        if isinstance(at, str):  # SQLite hands back text
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        content = {k: values[k] for k in _HASHED}
        content["at"] = at.astimezone(UTC).isoformat(timespec="microseconds")
        h = hashlib.sha256((prev + json.dumps(content, sort_keys=True, separators=(",", ":"),
                                               ensure_ascii=False)).encode()).hexdigest()
        bind.execute(sa.text("UPDATE audit_event SET chain = :c, seq = :s, prev_hash = :p, "
                             "hash = :h WHERE id = :id"),
                     {"c": chain, "s": seq + 1, "p": prev, "h": h, "id": row["id"]})
        heads[chain] = (seq + 1, h)
    for chain, (seq, h) in heads.items():
        bind.execute(sa.text("INSERT INTO audit_chain_head (chain, seq, hash) VALUES (:c, :s, :h)"),
                     {"c": chain, "s": seq, "h": h})


def upgrade() -> None:
    op.create_table('audit_chain_head',
    sa.Column('chain', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_chain_head'))
    )
    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('mfa_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=30), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_session_token_hash'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_session_user_id'), ['user_id'], unique=False)

    op.create_table('emergency_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_emergency_access_case_id_case_record')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_emergency_access_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_access'))
    )
    with op.batch_alter_table('emergency_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_access_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emergency_access_user_id'), ['user_id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('dedupe_key', sa.String(length=120), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case_record.id'], name=op.f('fk_notification_case_id_case_record')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_notification_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_notification_dedupe_key'))
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)

    _drop_audit_triggers()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
        batch_op.drop_constraint(batch_op.f('fk_audit_event_case_id_case_record'),
                                 type_='foreignkey')
    _chain_existing_rows()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        for name in ("chain", "seq"):
            batch_op.alter_column(name, existing_type=sa.Integer(), nullable=False)
        for name in ("prev_hash", "hash"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_chain'), ['chain', 'seq'])
    _create_audit_triggers()

    with op.batch_alter_table('municipality', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_required', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))
        batch_op.add_column(sa.Column('case_retention_days', sa.Integer(), nullable=False,
                                      server_default="3650"))

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_secret')
        batch_op.drop_column('password_changed_at')

    with op.batch_alter_table('municipality', schema=None) as batch_op:
        batch_op.drop_column('case_retention_days')
        batch_op.drop_column('mfa_required')

    _drop_audit_triggers()
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_audit_event_case_id_case_record'), 'case_record', ['case_id'], ['id'])
        batch_op.drop_constraint(batch_op.f('uq_audit_event_chain'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
        batch_op.drop_column('chain')
    _create_audit_triggers()

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))
        batch_op.drop_index(batch_op.f('ix_notification_case_id'))

    op.drop_table('notification')
    with op.batch_alter_table('emergency_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_access_user_id'))
        batch_op.drop_index(batch_op.f('ix_emergency_access_case_id'))

    op.drop_table('emergency_access')
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_session_user_id'))

    op.drop_table('user_session')
    op.drop_table('audit_chain_head')
