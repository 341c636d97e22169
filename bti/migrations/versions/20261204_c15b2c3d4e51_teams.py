"""teams: team arenas with members, meetings, agenda items and follow-ups

``team`` (the municipality's interdisciplinary teams, kept by its administrators),
``team_member``, ``team_meeting``, ``team_agenda_item`` (a case referred to the team, or a
question without a case) and ``team_follow_up`` (what the minutes agreed). New tables only.

Revision ID: c15b2c3d4e51
Revises: c15a1b2d3e40
Create Date: 2026-12-04 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c15b2c3d4e51'
down_revision = 'c15a1b2d3e40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'team',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('municipality_id', sa.Integer(), sa.ForeignKey('municipality.id'),
                  nullable=False),
        sa.Column('unit_id', sa.Integer(), sa.ForeignKey('unit.id'), nullable=True),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('kind', sa.String(60), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('municipality_id', 'name', name='uq_team_name'),
    )
    op.create_index('ix_team_municipality_id', 'team', ['municipality_id'])
    op.create_table(
        'team_member',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('team.id'), nullable=False),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('user_account.id'), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_team_member_team_id', 'team_member', ['team_id'])
    op.create_index('ix_team_member_user', 'team_member', ['user_id', 'team_id'])
    op.create_table(
        'team_meeting',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('team.id'), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('place', sa.String(200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_team_meeting_team_id', 'team_meeting', ['team_id'])
    op.create_table(
        'team_agenda_item',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('team_id', sa.Integer(), sa.ForeignKey('team.id'), nullable=False),
        sa.Column('meeting_id', sa.Integer(), sa.ForeignKey('team_meeting.id'), nullable=True),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('case_id', sa.Integer(), sa.ForeignKey('case_record.id'), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('child_age', sa.Integer(), nullable=True),
        sa.Column('asked_by_id', sa.Integer(), sa.ForeignKey('user_account.id'),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decision', sa.Text(), nullable=True),
        sa.Column('minuted_by_id', sa.Integer(), sa.ForeignKey('user_account.id'),
                  nullable=True),
        sa.Column('minuted_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('case', 'question')", name='kind'),
        sa.CheckConstraint("(kind = 'case') = (case_id IS NOT NULL)", name='case_kind'),
    )
    op.create_index('ix_team_agenda_item_team_id', 'team_agenda_item', ['team_id'])
    op.create_index('ix_team_agenda_item_meeting_id', 'team_agenda_item', ['meeting_id'])
    op.create_index('ix_team_agenda_item_case_id', 'team_agenda_item', ['case_id'])
    op.create_table(
        'team_follow_up',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('item_id', sa.Integer(), sa.ForeignKey('team_agenda_item.id'),
                  nullable=False),
        sa.Column('what', sa.Text(), nullable=False),
        sa.Column('responsible_id', sa.Integer(), sa.ForeignKey('user_account.id'),
                  nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_team_follow_up_item_id', 'team_follow_up', ['item_id'])


def downgrade() -> None:
    op.drop_index('ix_team_follow_up_item_id', 'team_follow_up')
    op.drop_table('team_follow_up')
    for name in ('case_id', 'meeting_id', 'team_id'):
        op.drop_index(f'ix_team_agenda_item_{name}', 'team_agenda_item')
    op.drop_table('team_agenda_item')
    op.drop_index('ix_team_meeting_team_id', 'team_meeting')
    op.drop_table('team_meeting')
    op.drop_index('ix_team_member_user', 'team_member')
    op.drop_index('ix_team_member_team_id', 'team_member')
    op.drop_table('team_member')
    op.drop_index('ix_team_municipality_id', 'team')
    op.drop_table('team')
