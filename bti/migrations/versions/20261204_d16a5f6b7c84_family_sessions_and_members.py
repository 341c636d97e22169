"""family sessions and family members: guardians and young people take part

``family_session`` is a family member's signed-in session (an identity of the family provider,
never a staff account); ``family_member`` is an invitation to a case (its code's hash, role and
expiry) and, once redeemed, that identity's access to the case, with when and why it ended.
New tables only.

Revision ID: d16a5f6b7c84
Revises: c15c3d4e5f62
Create Date: 2026-12-04 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'd16a5f6b7c84'
down_revision = 'c15c3d4e5f62'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'family_session',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('identity_id', sa.Integer(),
                  sa.ForeignKey('external_identity.id', ondelete='CASCADE'), nullable=False),
        sa.Column('municipality_id', sa.Integer(), sa.ForeignKey('municipality.id'),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(30), nullable=True),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_family_session_identity_id', 'family_session', ['identity_id'])
    op.create_index('ix_family_session_municipality_id', 'family_session', ['municipality_id'])
    op.create_table(
        'family_member',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_record.id'), nullable=False),
        sa.Column('role', sa.String(20), nullable=False),
        sa.Column('code_hash', sa.String(64), nullable=False),
        sa.Column('invited_by_id', sa.Integer(), sa.ForeignKey('user_account.id'),
                  nullable=False),
        sa.Column('invited_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('identity_id', sa.Integer(),
                  sa.ForeignKey('external_identity.id', ondelete='SET NULL'), nullable=True),
        sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_by_id', sa.Integer(), sa.ForeignKey('user_account.id'), nullable=True),
        sa.Column('end_reason', sa.String(30), nullable=True),
        sa.Column('end_note', sa.Text(), nullable=True),
        sa.UniqueConstraint('code_hash'),
        sa.CheckConstraint("role IN ('guardian', 'youth')", name=op.f('ck_family_member_role')),
    )
    op.create_index('ix_family_member_case_id', 'family_member', ['case_id'])
    op.create_index('ix_family_member_identity_id', 'family_member', ['identity_id'])


def downgrade() -> None:
    op.drop_index('ix_family_member_identity_id', 'family_member')
    op.drop_index('ix_family_member_case_id', 'family_member')
    op.drop_table('family_member')
    op.drop_index('ix_family_session_municipality_id', 'family_session')
    op.drop_index('ix_family_session_identity_id', 'family_session')
    op.drop_table('family_session')
