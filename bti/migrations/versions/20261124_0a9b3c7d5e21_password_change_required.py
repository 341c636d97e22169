"""password_change_required: a user whose password an administrator made must choose their own

Revision ID: 0a9b3c7d5e21
Revises: f2c8d1e5b7a4
Create Date: 2026-11-22 20:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0a9b3c7d5e21"
down_revision = "f2c8d1e5b7a4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("password_change_required", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("password_change_required")
