"""case for an expected child: the due month

``case_record.child_due_month`` (1–12) is set when a case is opened for an expected child
(pregnancy follow-up); ``child_birth_year`` then holds the due year. Added in place (no table
rebuild), with its CHECK constraint.

Revision ID: 4781b22d94e6
Revises: 06b4bbf296b3
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '4781b22d94e6'
down_revision = '06b4bbf296b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE case_record ADD COLUMN child_due_month INTEGER CONSTRAINT '
                   'ck_case_record_due_month CHECK (child_due_month BETWEEN 1 AND 12)')
    else:
        op.add_column('case_record', sa.Column('child_due_month', sa.Integer(), nullable=True))
        op.create_check_constraint(op.f('ck_case_record_due_month'), 'case_record',
                                   'child_due_month BETWEEN 1 AND 12')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_case_record_due_month'), 'case_record', type_='check')
    op.drop_column('case_record', 'child_due_month')
