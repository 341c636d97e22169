"""case moves: a case's periods in each unit, and transfers between municipalities

``case_unit_period``: one row per stretch of a case's life in one unit, written when a case
moves to another unit of its municipality (the leader views and the analytics count the case in
the unit it was in on each day). ``case_transfer``: a case sent to or received from another
municipality as a signed transfer bundle; on the sending side it is the tombstone that outlives
the content (``case_id`` not a foreign key). New tables only.

Revision ID: c15d4e5f6a73
Revises: c15b2c3d4e51
Create Date: 2026-12-04 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c15d4e5f6a73'
down_revision = 'c15b2c3d4e51'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'case_unit_period',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_record.id'), nullable=False),
        sa.Column('unit_id', sa.Integer(), sa.ForeignKey('unit.id'), nullable=False),
        sa.Column('from_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('to_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('from_seq', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('moved_by_id', sa.Integer(), sa.ForeignKey('user_account.id'), nullable=True),
        sa.Column('consent_id', sa.Integer(), sa.ForeignKey('consent.id'), nullable=True),
    )
    op.create_index('ix_case_unit_period_case_from', 'case_unit_period', ['case_id', 'from_at'])
    op.create_index('ix_case_unit_period_unit_id', 'case_unit_period', ['unit_id'])
    op.create_table(
        'case_transfer',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('municipality_id', sa.Integer(), sa.ForeignKey('municipality.id'),
                  nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('direction', sa.String(3), nullable=False),
        sa.Column('counterpart_installation', sa.String(100), nullable=False),
        sa.Column('counterpart_municipality', sa.String(60), nullable=False),
        sa.Column('source_case_id', sa.Integer(), nullable=False),
        sa.Column('entry_count', sa.Integer(), nullable=False),
        sa.Column('head_hash', sa.String(64), nullable=False),
        sa.Column('bundle_sha256', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('direction', 'case_id'),
        sa.CheckConstraint("direction IN ('out', 'in')", name='direction'),
    )
    op.create_index('ix_case_transfer_municipality_id', 'case_transfer', ['municipality_id'])
    op.create_index('ix_case_transfer_case_id', 'case_transfer', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_case_transfer_case_id', table_name='case_transfer')
    op.drop_index('ix_case_transfer_municipality_id', table_name='case_transfer')
    op.drop_table('case_transfer')
    op.drop_index('ix_case_unit_period_unit_id', table_name='case_unit_period')
    op.drop_index('ix_case_unit_period_case_from', table_name='case_unit_period')
    op.drop_table('case_unit_period')
