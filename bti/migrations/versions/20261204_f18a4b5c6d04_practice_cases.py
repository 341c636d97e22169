"""practice mode: the practice flag of a case and who has walked a practice case

``case_record.practice`` marks a practice case (øvingssak, a fictional case a new employee walks
through the workflow in a sandbox); every existing case is a real one. ``case_record.
practice_discarded_at`` is when its owner deleted it (the purge run removes its rows). ``user_account.
practice_completed_at`` is when the user first brought a practice case to a closing state.

Revision ID: f18a4b5c6d04
Revises: f16b3c4d5e03
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'f18a4b5c6d04'
down_revision = 'f16b3c4d5e03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no table rebuild): case_record keeps its triggers on SQLite
    op.add_column('case_record', sa.Column('practice', sa.Boolean(), nullable=False,
                                           server_default=sa.false()))
    op.add_column('case_record', sa.Column('practice_discarded_at', sa.DateTime(timezone=True),
                                           nullable=True))
    op.add_column('user_account', sa.Column('practice_completed_at', sa.DateTime(timezone=True),
                                            nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+): no table rebuild, the older downgrades find the table
    # as they left it
    op.drop_column('user_account', 'practice_completed_at')
    op.drop_column('case_record', 'practice_discarded_at')
    op.drop_column('case_record', 'practice')
