"""organisation kept by its administrators: active flags, a unit's service, inter-municipal services

``municipality.active`` and ``unit.active`` (deactivated, never deleted when referenced),
``unit.service`` (the service area, tjenesteområde) and ``unit_municipality``: the other
municipalities an inter-municipal service serves besides its host.

Revision ID: c15a1b2d3e40
Revises: 5b8c1e7a3f42
Create Date: 2026-12-04 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c15a1b2d3e40'
down_revision = '5b8c1e7a3f42'
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    # plain ADD COLUMN on both (SQLite too: no table rebuild, the column-level checks stay)
    op.add_column('municipality', sa.Column('active', sa.Boolean(), nullable=False,
                                            server_default=sa.true()))
    op.add_column('unit', sa.Column('service', sa.String(200), nullable=True))
    op.add_column('unit', sa.Column('active', sa.Boolean(), nullable=False,
                                    server_default=sa.true()))
    op.create_table(
        'unit_municipality',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('unit_id', sa.Integer(), sa.ForeignKey('unit.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('municipality_id', sa.Integer(), sa.ForeignKey('municipality.id'),
                  nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('unit_id', 'municipality_id'),
    )
    op.create_index('ix_unit_municipality_unit_id', 'unit_municipality', ['unit_id'])
    op.create_index('ix_unit_municipality_municipality_id', 'unit_municipality',
                    ['municipality_id'])


def downgrade() -> None:
    op.drop_index('ix_unit_municipality_municipality_id', 'unit_municipality')
    op.drop_index('ix_unit_municipality_unit_id', 'unit_municipality')
    op.drop_table('unit_municipality')
    if _sqlite():  # SQLite's own DROP COLUMN (3.35+): no table rebuild
        op.execute("ALTER TABLE unit DROP COLUMN active")
        op.execute("ALTER TABLE unit DROP COLUMN service")
        op.execute("ALTER TABLE municipality DROP COLUMN active")
        return
    op.drop_column('unit', 'active')
    op.drop_column('unit', 'service')
    op.drop_column('municipality', 'active')
