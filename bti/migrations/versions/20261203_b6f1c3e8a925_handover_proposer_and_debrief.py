"""handover proposer and holder's choice to stay on, the debrief after a report

``handover.proposed_by_id`` who proposed it (the stafettholder or a leader: they may withdraw
it and are told the answer); ``handover.holder_stays`` the holder chose to stay on as a
participant after acceptance. ``barnevern_report.debrief_recorded_at``/``_by_id``: the nearest
leader recorded that the reporter was offered a debrief (only the fact, never its content).
All new and nullable or defaulted, added in place.

Revision ID: b6f1c3e8a925
Revises: 9d2e4f1a7b30
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'b6f1c3e8a925'
down_revision = '9d2e4f1a7b30'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handover') as batch:
        batch.add_column(sa.Column('proposed_by_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('holder_stays', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_foreign_key('fk_handover_proposed_by_id_user_account', 'user_account',
                                 ['proposed_by_id'], ['id'])
    with op.batch_alter_table('barnevern_report') as batch:
        batch.add_column(sa.Column('debrief_recorded_at', sa.DateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column('debrief_recorded_by_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_barnevern_report_debrief_recorded_by_id_user_account',
                                 'user_account', ['debrief_recorded_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('barnevern_report') as batch:
        batch.drop_constraint('fk_barnevern_report_debrief_recorded_by_id_user_account',
                              type_='foreignkey')
        batch.drop_column('debrief_recorded_by_id')
        batch.drop_column('debrief_recorded_at')
    with op.batch_alter_table('handover') as batch:
        batch.drop_constraint('fk_handover_proposed_by_id_user_account', type_='foreignkey')
        batch.drop_column('holder_stays')
        batch.drop_column('proposed_by_id')
