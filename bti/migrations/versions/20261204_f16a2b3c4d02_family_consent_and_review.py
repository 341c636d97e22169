"""family consent and family reads in the access-log review

``consent`` gains how it reached the case (``channel``: NULL when staff recorded it, ``family``
when the guardian or the young person gave, refused or withdrew it on the family page) and the
family identities who gave (``given_by_identity_id``) and withdrew it
(``withdrawn_by_identity_id``). ``audit_review_item`` may be about a family identity
(``subject_identity_id``) instead of a staff member, so ``subject_user_id`` becomes nullable.

Revision ID: f16a2b3c4d02
Revises: e18a6b7c8d95
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'f16a2b3c4d02'
down_revision = 'e18a6b7c8d95'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('consent') as batch:
        batch.add_column(sa.Column('channel', sa.String(20), nullable=True))
        batch.add_column(sa.Column('given_by_identity_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('withdrawn_by_identity_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_consent_given_by_identity_id_external_identity',
                                 'external_identity', ['given_by_identity_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_foreign_key('fk_consent_withdrawn_by_identity_id_external_identity',
                                 'external_identity', ['withdrawn_by_identity_id'], ['id'],
                                 ondelete='SET NULL')
    with op.batch_alter_table('audit_review_item') as batch:
        batch.alter_column('subject_user_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('subject_identity_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_audit_review_item_subject_identity_id_external_identity',
                                 'external_identity', ['subject_identity_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_index('ix_audit_review_item_subject_identity_id', ['subject_identity_id'])


def downgrade() -> None:
    op.execute("DELETE FROM audit_review_item WHERE subject_user_id IS NULL")
    with op.batch_alter_table('audit_review_item') as batch:
        batch.drop_index('ix_audit_review_item_subject_identity_id')
        batch.drop_constraint('fk_audit_review_item_subject_identity_id_external_identity',
                              type_='foreignkey')
        batch.drop_column('subject_identity_id')
        batch.alter_column('subject_user_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('consent') as batch:
        batch.drop_constraint('fk_consent_withdrawn_by_identity_id_external_identity',
                              type_='foreignkey')
        batch.drop_constraint('fk_consent_given_by_identity_id_external_identity',
                              type_='foreignkey')
        batch.drop_column('withdrawn_by_identity_id')
        batch.drop_column('given_by_identity_id')
        batch.drop_column('channel')
