"""external identity: people signed in through an OpenID provider

``external_identity`` recognises a person an OpenID provider vouched for: the provider (issuer)
and an HMAC of its subject identifier (never the identifier itself), and the staff account it is
linked to, if any. New table only.

Revision ID: 5b8c1e7a3f42
Revises: b6f1c3e8a925
Create Date: 2026-12-03 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '5b8c1e7a3f42'
down_revision = 'b6f1c3e8a925'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'external_identity',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('municipality_id', sa.Integer(), sa.ForeignKey('municipality.id'),
                  nullable=False),
        sa.Column('provider', sa.String(300), nullable=False),
        sa.Column('subject_hmac', sa.String(64), nullable=False),
        sa.Column('user_id', sa.Integer(),
                  sa.ForeignKey('user_account.id', ondelete='CASCADE'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('provider', 'subject_hmac'),
    )
    op.create_index('ix_external_identity_municipality_id', 'external_identity',
                    ['municipality_id'])
    op.create_index('ix_external_identity_user_id', 'external_identity', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_external_identity_user_id', 'external_identity')
    op.drop_index('ix_external_identity_municipality_id', 'external_identity')
    op.drop_table('external_identity')
