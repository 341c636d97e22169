"""individual plan (IP), its coordinator and the ansvarsgruppe

``individual_plan``: the case became an IP case when a handover to an individual plan was
accepted, with its one coordinator (a table of its own: ``case_record`` is left as it is).
``handover.purpose``
(``stafett`` | ``ip``) and ``handover.to_unit_id`` (the coordinating unit an IP handover may
name instead of a person, so ``to_user_id`` becomes nullable until someone accepts). New tables
``ansvarsgruppe_member`` (staff as users; guardians and the child by name) and
``ansvarsgruppe_meeting`` (date, place, minutes, the stafettlogg entry's seq).

Revision ID: c15c3d4e5f62
Revises: c15d4e5f6a73
Create Date: 2026-12-04 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c15c3d4e5f62'
down_revision = 'c15d4e5f6a73'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handover') as batch:
        batch.alter_column('to_user_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('to_unit_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('purpose', sa.String(length=20), nullable=False,
                                   server_default='stafett'))
        batch.create_foreign_key('fk_handover_to_unit_id_unit', 'unit', ['to_unit_id'], ['id'])
    op.create_table(
        'individual_plan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('handover_id', sa.Integer(), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('coordinator_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case_record.id'],
                                name=op.f('fk_individual_plan_case_id_case_record')),
        sa.ForeignKeyConstraint(['handover_id'], ['handover.id'],
                                name=op.f('fk_individual_plan_handover_id_handover')),
        sa.ForeignKeyConstraint(['coordinator_id'], ['user_account.id'],
                                name=op.f('fk_individual_plan_coordinator_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_individual_plan')),
        sa.UniqueConstraint('case_id', name=op.f('uq_individual_plan_case_id')),
    )
    with op.batch_alter_table('individual_plan') as batch:
        batch.create_index(batch.f('ix_individual_plan_coordinator_id'), ['coordinator_id'],
                           unique=False)
    op.create_table(
        'ansvarsgruppe_member',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=120), nullable=True),
        sa.Column('role_text', sa.String(length=120), nullable=True),
        sa.Column('added_by_id', sa.Integer(), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('staff', 'guardian', 'child')",
                           name=op.f('ck_ansvarsgruppe_member_kind')),
        sa.CheckConstraint("(kind = 'staff') = (user_id IS NOT NULL)",
                           name=op.f('ck_ansvarsgruppe_member_staff_is_user')),
        sa.ForeignKeyConstraint(['added_by_id'], ['user_account.id'],
                                name=op.f('fk_ansvarsgruppe_member_added_by_id_user_account')),
        sa.ForeignKeyConstraint(['case_id'], ['case_record.id'],
                                name=op.f('fk_ansvarsgruppe_member_case_id_case_record')),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id'],
                                name=op.f('fk_ansvarsgruppe_member_user_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ansvarsgruppe_member')),
    )
    with op.batch_alter_table('ansvarsgruppe_member') as batch:
        batch.create_index(batch.f('ix_ansvarsgruppe_member_case_id'), ['case_id'], unique=False)
        batch.create_index(batch.f('ix_ansvarsgruppe_member_user_id'), ['user_id'], unique=False)
    op.create_table(
        'ansvarsgruppe_meeting',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('place', sa.String(length=200), nullable=False),
        sa.Column('minutes', sa.Text(), nullable=False),
        sa.Column('log_seq', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['case_record.id'],
                                name=op.f('fk_ansvarsgruppe_meeting_case_id_case_record')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_ansvarsgruppe_meeting_created_by_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ansvarsgruppe_meeting')),
    )
    with op.batch_alter_table('ansvarsgruppe_meeting') as batch:
        batch.create_index(batch.f('ix_ansvarsgruppe_meeting_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ansvarsgruppe_meeting') as batch:
        batch.drop_index(batch.f('ix_ansvarsgruppe_meeting_case_id'))
    op.drop_table('ansvarsgruppe_meeting')
    with op.batch_alter_table('ansvarsgruppe_member') as batch:
        batch.drop_index(batch.f('ix_ansvarsgruppe_member_user_id'))
        batch.drop_index(batch.f('ix_ansvarsgruppe_member_case_id'))
    op.drop_table('ansvarsgruppe_member')
    with op.batch_alter_table('individual_plan') as batch:
        batch.drop_index(batch.f('ix_individual_plan_coordinator_id'))
    op.drop_table('individual_plan')
    # a handover to a coordinating unit nobody accepted has no person: it cannot stay
    op.execute("DELETE FROM handover WHERE to_user_id IS NULL")
    with op.batch_alter_table('handover') as batch:
        batch.drop_constraint('fk_handover_to_unit_id_unit', type_='foreignkey')
        batch.drop_column('purpose')
        batch.drop_column('to_unit_id')
        batch.alter_column('to_user_id', existing_type=sa.Integer(), nullable=False)
