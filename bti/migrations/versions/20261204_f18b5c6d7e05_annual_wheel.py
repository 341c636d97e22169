"""annual wheel: the municipality's yearly BTI routines (årshjul)

``annual_wheel_item``: one routine (a training, a mapping period, a yearly review, a network
meeting …) of a municipality, for the whole municipality or one unit, on a date or a range of
dates, once or every year, with who is responsible (a role or a service). Organisation data.

Revision ID: f18b5c6d7e05
Revises: f16a2b3c4d02
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'f18b5c6d7e05'
down_revision = 'f16a2b3c4d02'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'annual_wheel_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('municipality_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('title', sa.String(120), nullable=False),
        sa.Column('description', sa.Text(), nullable=False, server_default=''),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('yearly', sa.Boolean(), nullable=False),
        sa.Column('responsible', sa.String(200), nullable=False, server_default=''),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('training', 'mapping', 'review', 'network', 'other')",
                           name=op.f('ck_annual_wheel_item_kind')),
        sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on',
                           name=op.f('ck_annual_wheel_item_date_order')),
        sa.ForeignKeyConstraint(['municipality_id'], ['municipality.id'],
                                name=op.f('fk_annual_wheel_item_municipality_id_municipality')),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id'],
                                name=op.f('fk_annual_wheel_item_unit_id_unit')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_annual_wheel_item')),
    )
    op.create_index(op.f('ix_annual_wheel_item_municipality_id'), 'annual_wheel_item',
                    ['municipality_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_annual_wheel_item_municipality_id'), table_name='annual_wheel_item')
    op.drop_table('annual_wheel_item')
