"""family messages and concerns: the family's voice in a case

``family_message`` is a comment or question a family member wrote to a case (a task for the
stafettholder until marked answered); ``family_concern`` is a concern a guardian raised about
their own child with a unit, for its leader. New tables only.

Revision ID: f16b3c4d5e03
Revises: f14a1b2c3d01
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'f16b3c4d5e03'
down_revision = 'f14a1b2c3d01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'family_message',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_record.id'), nullable=False),
        sa.Column('member_id', sa.Integer(), sa.ForeignKey('family_member.id'), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_by_id', sa.Integer(), sa.ForeignKey('user_account.id'),
                  nullable=True),
    )
    op.create_index('ix_family_message_case_id', 'family_message', ['case_id'])
    op.create_index('ix_family_message_member_id', 'family_message', ['member_id'])
    op.create_table(
        'family_concern',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('municipality_id', sa.Integer(), sa.ForeignKey('municipality.id'),
                  nullable=False),
        sa.Column('unit_id', sa.Integer(), sa.ForeignKey('unit.id'), nullable=False),
        sa.Column('identity_id', sa.Integer(),
                  sa.ForeignKey('external_identity.id', ondelete='SET NULL'), nullable=True),
        sa.Column('child_name', sa.String(60), nullable=False),
        sa.Column('child_birth_year', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('contact', sa.String(120), nullable=True),
        sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('handled_by_id', sa.Integer(), sa.ForeignKey('user_account.id'),
                  nullable=True),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_record.id'), nullable=True),
    )
    op.create_index('ix_family_concern_municipality_id', 'family_concern', ['municipality_id'])
    op.create_index('ix_family_concern_unit_id', 'family_concern', ['unit_id'])
    op.create_index('ix_family_concern_identity_id', 'family_concern', ['identity_id'])
    op.create_index('ix_family_concern_case_id', 'family_concern', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_family_concern_case_id', 'family_concern')
    op.drop_index('ix_family_concern_identity_id', 'family_concern')
    op.drop_index('ix_family_concern_unit_id', 'family_concern')
    op.drop_index('ix_family_concern_municipality_id', 'family_concern')
    op.drop_table('family_concern')
    op.drop_index('ix_family_message_member_id', 'family_message')
    op.drop_index('ix_family_message_case_id', 'family_message')
    op.drop_table('family_message')
