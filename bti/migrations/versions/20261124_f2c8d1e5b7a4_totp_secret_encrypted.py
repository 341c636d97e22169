"""TOTP seeds encrypted at rest: room for the Fernet token in user_account.totp_secret

Existing plaintext seeds stay readable (no prefix) and are encrypted at their next use, or all at
once by ``bti security rewrap-secrets``.

Revision ID: f2c8d1e5b7a4
Revises: e4b7c2d9a1f3
Create Date: 2026-11-22 19:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f2c8d1e5b7a4"
down_revision = "e4b7c2d9a1f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(length=64),
                           type_=sa.String(length=255), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column("totp_secret", existing_type=sa.String(length=255),
                           type_=sa.String(length=64), existing_nullable=True)
