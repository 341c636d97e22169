"""catalogue: service, provider, delivery and the yearly review of each measure

``measure_catalogue`` gains the municipal service that offers a measure (``unit_id``), who runs
it (``provider``), whether it is the municipality's own, inter-municipal or bought
(``delivery``), and the yearly review (``review_due_on``, ``reviewed_on``). Existing items are
the municipality's own and have no review date until a keeper sets one.

Revision ID: e18a6b7c8d95
Revises: d16a5f6b7c84
Create Date: 2026-12-04 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'e18a6b7c8d95'
down_revision = 'd16a5f6b7c84'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('measure_catalogue') as batch:
        batch.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('provider', sa.String(200), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('delivery', sa.String(20), nullable=False,
                                   server_default='own'))
        batch.add_column(sa.Column('review_due_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('reviewed_on', sa.Date(), nullable=True))
        batch.create_foreign_key('fk_measure_catalogue_unit_id_unit', 'unit', ['unit_id'],
                                 ['id'])
        batch.create_check_constraint(op.f('ck_measure_catalogue_delivery'),
                                      "delivery IN ('own', 'inter_municipal', 'bought')")


def downgrade() -> None:
    with op.batch_alter_table('measure_catalogue') as batch:
        batch.drop_constraint(op.f('ck_measure_catalogue_delivery'), type_='check')
        batch.drop_constraint('fk_measure_catalogue_unit_id_unit', type_='foreignkey')
        batch.drop_column('reviewed_on')
        batch.drop_column('review_due_on')
        batch.drop_column('delivery')
        batch.drop_column('provider')
        batch.drop_column('unit_id')
