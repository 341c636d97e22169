"""municipality: child welfare contact details

``municipality.barnevern_phone``, ``barnevern_email`` and ``barnevernvakt_phone``: where a
report of concern goes, shown on the urgent page and the report form. Nullable, added in place.

Revision ID: c0a5e7d3b918
Revises: 4781b22d94e6
Create Date: 2026-12-02 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c0a5e7d3b918'
down_revision = '4781b22d94e6'
branch_labels = None
depends_on = None

_COLUMNS = (('barnevern_phone', 40), ('barnevern_email', 200), ('barnevernvakt_phone', 40))


def upgrade() -> None:
    for name, length in _COLUMNS:
        op.add_column('municipality', sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    for name, _length in reversed(_COLUMNS):
        op.drop_column('municipality', name)
