"""barnevern feedback: every stage per report, not one feedback

``barnevern_feedback`` holds each stage of barnevernet's feedback on a report (receipt
confirmed, investigation opened, closed without investigation, investigation closed) and the
reporter's record that none came by the deadline, each with its date. ``barnevern_report`` keeps
``feedback_received_on`` (the first answer, met or missed against ``feedback_expected_by``) and
gains ``concluded_on`` (the concluding feedback; until then the report awaits feedback). The one
``feedback_kind`` a report had becomes its first ``barnevern_feedback`` row, recorded by the
author of the report's newest stafettlogg entry (else its sender), and the column goes.

Revision ID: 06b4bbf296b3
Revises: 7f3c2b9e1d64
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '06b4bbf296b3'
down_revision = '7f3c2b9e1d64'
branch_labels = None
depends_on = None

_STAGES = ("'receipt_confirmed', 'investigation_opened', 'no_investigation', "
           "'investigation_closed', 'none_received'")
# Written out in full (no string formatting): the stages barnevernet gives, and the newest
# stafettlogg entry about the report (who recorded its feedback, and when).
_COPY_FEEDBACK = """
INSERT INTO barnevern_feedback (report_id, case_id, stage, received_on, recorded_by_id, created_at)
SELECT r.id, r.case_id,
       CASE WHEN r.feedback_kind IN ('receipt_confirmed', 'investigation_opened',
                                     'no_investigation', 'investigation_closed')
            THEN r.feedback_kind ELSE 'receipt_confirmed' END,
       r.feedback_received_on,
       COALESCE((SELECT e.actor_id FROM stafettlogg_entry e
                 WHERE e.object_type = 'barnevern_report' AND e.object_id = r.id
                 ORDER BY e.seq DESC LIMIT 1), r.sent_by_id),
       COALESCE((SELECT e.at FROM stafettlogg_entry e
                 WHERE e.object_type = 'barnevern_report' AND e.object_id = r.id
                 ORDER BY e.seq DESC LIMIT 1), r.created_at)
FROM barnevern_report r
WHERE r.kind = 'report' AND r.feedback_received_on IS NOT NULL
"""
_CONCLUDED = """
UPDATE barnevern_report SET concluded_on = feedback_received_on
WHERE kind = 'report' AND feedback_kind IN ('no_investigation', 'investigation_closed')
"""
# one feedback per report again: the newest stage barnevernet gave
_ONE_FEEDBACK = """
UPDATE barnevern_report SET feedback_kind = (
    SELECT f.stage FROM barnevern_feedback f
    WHERE f.report_id = barnevern_report.id
      AND f.stage IN ('receipt_confirmed', 'investigation_opened', 'no_investigation',
                      'investigation_closed')
    ORDER BY f.received_on DESC, f.id DESC LIMIT 1)
"""


def upgrade() -> None:
    op.create_table(
        'barnevern_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('stage', sa.String(length=30), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.Column('recorded_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f'stage IN ({_STAGES})', name=op.f('ck_barnevern_feedback_stage')),
        sa.ForeignKeyConstraint(['case_id'], ['case_record.id'],
                                name=op.f('fk_barnevern_feedback_case_id_case_record')),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['user_account.id'],
                                name=op.f('fk_barnevern_feedback_recorded_by_id_user_account')),
        sa.ForeignKeyConstraint(['report_id'], ['barnevern_report.id'],
                                name=op.f('fk_barnevern_feedback_report_id_barnevern_report')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_barnevern_feedback')),
        sa.UniqueConstraint('report_id', 'stage', name=op.f('uq_barnevern_feedback_report_id')),
    )
    op.create_index(op.f('ix_barnevern_feedback_case_id'), 'barnevern_feedback', ['case_id'],
                    unique=False)
    op.create_index(op.f('ix_barnevern_feedback_report_id'), 'barnevern_feedback',
                    ['report_id'], unique=False)
    op.add_column('barnevern_report', sa.Column('concluded_on', sa.Date(), nullable=True))
    op.execute(_COPY_FEEDBACK)
    op.execute(_CONCLUDED)
    op.drop_column('barnevern_report', 'feedback_kind')  # SQLite 3.35+ drops it in place


def downgrade() -> None:
    op.add_column('barnevern_report',
                  sa.Column('feedback_kind', sa.String(length=40), nullable=True))
    op.execute(_ONE_FEEDBACK)
    op.drop_column('barnevern_report', 'concluded_on')
    op.drop_index(op.f('ix_barnevern_feedback_report_id'), table_name='barnevern_feedback')
    op.drop_index(op.f('ix_barnevern_feedback_case_id'), table_name='barnevern_feedback')
    op.drop_table('barnevern_feedback')
