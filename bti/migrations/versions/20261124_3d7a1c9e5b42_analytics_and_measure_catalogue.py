"""analytics: the measure catalogue (tiltaksoversikt), write-time aggregates, dashboard indexes

``measure_catalogue`` is the municipality's list of measures; ``measure.catalogue_id`` links a
started measure to it. ``analytics_counter`` holds the counts the leaders' dashboards read,
kept at write time (``bti.services.analytics.aggregates``); after this migration run
``bti analytics recompute`` once to fill it from the existing cases.

Revision ID: 3d7a1c9e5b42
Revises: 3e7b1d9a5c42
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '3d7a1c9e5b42'
down_revision = '3e7b1d9a5c42'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'measure_catalogue',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('municipality_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('age_from', sa.Integer(), nullable=False),
        sa.Column('age_to', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('age_from BETWEEN 0 AND 24 AND age_to BETWEEN 0 AND 24 '
                           'AND age_from <= age_to', name=op.f('ck_measure_catalogue_age_range')),
        sa.CheckConstraint("kind IN ('universal', 'selective', 'indicated')",
                           name=op.f('ck_measure_catalogue_kind')),
        sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'],
                                name=op.f('fk_measure_catalogue_municipality_id_municipality')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_measure_catalogue')),
        sa.UniqueConstraint('municipality_id', 'name',
                            name=op.f('uq_measure_catalogue_municipality_id')),
    )
    op.create_index(op.f('ix_measure_catalogue_municipality_id'), 'measure_catalogue',
                    ['municipality_id'], unique=False)
    op.create_table(
        'analytics_counter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('municipality_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('metric', sa.String(length=30), nullable=False),
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'],
                                name=op.f('fk_analytics_counter_municipality_id_municipality')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_analytics_counter')),
        sa.UniqueConstraint('municipality_id', 'metric', 'month', 'unit_id', 'key', 'days',
                            name='uq_analytics_counter_cell'),
    )
    # no table is rebuilt: ADD COLUMN … REFERENCES keeps the stafettlogg's triggers untouched
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE measure ADD COLUMN catalogue_id INTEGER CONSTRAINT '
                   'fk_measure_catalogue_id_measure_catalogue REFERENCES measure_catalogue (id)')
    else:
        op.add_column('measure', sa.Column('catalogue_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_measure_catalogue_id_measure_catalogue'), 'measure',
                              'measure_catalogue', ['catalogue_id'], ['id'])
    op.create_index(op.f('ix_measure_catalogue_id'), 'measure', ['catalogue_id'], unique=False)
    op.create_index('ix_case_record_open_state', 'case_record',
                    ['municipality_id', 'closed_at', 'workflow_definition_id', 'state',
                     'level_entered_at', 'unit_id'], unique=False)
    op.create_index('ix_case_record_open_activity', 'case_record',
                    ['municipality_id', 'closed_at', 'last_activity_at', 'unit_id'], unique=False)
    op.create_index('ix_measure_active_due', 'measure', ['status', 'evaluate_by', 'case_id'],
                    unique=False)
    op.create_index('ix_handover_status_case', 'handover', ['status', 'case_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_handover_status_case', table_name='handover')
    op.drop_index('ix_measure_active_due', table_name='measure')
    op.drop_index('ix_case_record_open_activity', table_name='case_record')
    op.drop_index('ix_case_record_open_state', table_name='case_record')
    op.drop_index(op.f('ix_measure_catalogue_id'), table_name='measure')
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_column('measure', 'catalogue_id')  # SQLite 3.35+: drops it with its REFERENCES
    else:
        op.drop_constraint(op.f('fk_measure_catalogue_id_measure_catalogue'), 'measure',
                           type_='foreignkey')
        op.drop_column('measure', 'catalogue_id')
    op.drop_table('analytics_counter')
    op.drop_index(op.f('ix_measure_catalogue_municipality_id'), table_name='measure_catalogue')
    op.drop_table('measure_catalogue')
