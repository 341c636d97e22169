"""audit review (AUD-07): review items raised from the access log, and the job's read marks

Revision ID: e4b7c2d9a1f3
Revises: 8c3f2a6d4e10
Create Date: 2026-11-22 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e4b7c2d9a1f3"
down_revision = "8c3f2a6d4e10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("subject_user_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=40), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("conclusion", sa.String(length=40), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipality.id"]),
        sa.ForeignKeyConstraint(["reviewed_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["subject_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("municipality_id", "subject_user_id", "pattern", "window_start"),
    )
    op.create_index("ix_audit_review_item_open", "audit_review_item",
                    ["municipality_id", "status"])
    op.create_index(op.f("ix_audit_review_item_subject_user_id"), "audit_review_item",
                    ["subject_user_id"])
    op.create_table(
        "audit_review_mark",
        sa.Column("chain", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )


def downgrade() -> None:
    op.drop_table("audit_review_mark")
    op.drop_index(op.f("ix_audit_review_item_subject_user_id"), table_name="audit_review_item")
    op.drop_index("ix_audit_review_item_open", table_name="audit_review_item")
    op.drop_table("audit_review_item")
