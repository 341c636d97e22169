"""notification outbox, preferences, calendar feeds, user e-mail

``notification_delivery`` holds each e-mail of a notification until ``bti notify send`` has
sent it (or given up); ``notification_preference`` a user's choice per event kind;
``calendar_feed`` the hashed token of a user's private ICS feed; ``user_account.email`` where
e-mail goes. All new or nullable, added in place.

Revision ID: 9d2e4f1a7b30
Revises: c0a5e7d3b918
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '9d2e4f1a7b30'
down_revision = 'c0a5e7d3b918'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('user_account', sa.Column('email', sa.String(254), nullable=True))
    op.create_table(
        'notification_delivery',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('notification_id', sa.Integer(), sa.ForeignKey('notification.id'),
                  nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user_account.id'), nullable=False),
        sa.Column('channel', sa.String(10), nullable=False),
        sa.Column('mode', sa.String(10), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('claimed_by', sa.String(64), nullable=True),
        sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(200), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('notification_id', 'channel'),
        sa.CheckConstraint("mode in ('now', 'digest')", name='notification_delivery_mode'),
        sa.CheckConstraint("status in ('pending', 'sent', 'failed')",
                           name='notification_delivery_status'),
    )
    op.create_index('ix_notification_delivery_notification_id', 'notification_delivery',
                    ['notification_id'])
    op.create_index('ix_notification_delivery_user_id', 'notification_delivery', ['user_id'])
    op.create_index('ix_notification_delivery_due', 'notification_delivery',
                    ['status', 'next_attempt_at'])
    op.create_table(
        'notification_preference',
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user_account.id'), primary_key=True),
        sa.Column('event', sa.String(40), primary_key=True),
        sa.Column('mode', sa.String(10), nullable=False),
        sa.CheckConstraint("mode in ('now', 'digest', 'app')",
                           name='notification_preference_mode'),
    )
    op.create_table(
        'calendar_feed',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user_account.id'), nullable=False),
        sa.Column('token_sha256', sa.String(64), nullable=False, unique=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_calendar_feed_user_id', 'calendar_feed', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_calendar_feed_user_id', 'calendar_feed')
    op.drop_table('calendar_feed')
    op.drop_table('notification_preference')
    for name in ('ix_notification_delivery_due', 'ix_notification_delivery_user_id',
                 'ix_notification_delivery_notification_id'):
        op.drop_index(name, 'notification_delivery')
    op.drop_table('notification_delivery')
    op.drop_column('user_account', 'email')
