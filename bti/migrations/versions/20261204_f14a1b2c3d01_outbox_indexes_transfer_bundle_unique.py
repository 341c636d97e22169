"""outbox indexes trimmed; a transfer bundle imported once

``notification_delivery`` loses two indexes no query uses, written on every notice:
``ix_notification_delivery_notification_id`` (the unique constraint on (notification_id,
channel) already leads with it) and ``ix_notification_delivery_user_id`` (the sender claims by
``ix_notification_delivery_due``; users are deactivated, never deleted). ``case_transfer`` gets a
unique index on (direction, bundle_sha256): the same bundle cannot be imported twice, also by
two imports at once.

Revision ID: f14a1b2c3d01
Revises: f18b5c6d7e05
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

from alembic import op


revision = 'f14a1b2c3d01'
down_revision = 'f18b5c6d7e05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_notification_delivery_notification_id', 'notification_delivery')
    op.drop_index('ix_notification_delivery_user_id', 'notification_delivery')
    op.create_index('ix_case_transfer_direction_bundle', 'case_transfer',
                    ['direction', 'bundle_sha256'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_case_transfer_direction_bundle', 'case_transfer')
    op.create_index('ix_notification_delivery_user_id', 'notification_delivery', ['user_id'])
    op.create_index('ix_notification_delivery_notification_id', 'notification_delivery',
                    ['notification_id'])
