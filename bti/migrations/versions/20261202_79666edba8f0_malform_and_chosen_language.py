"""language: the municipality's målform; a user's language only when they chose one

``municipality.malform`` (``nb`` | ``nn``, default ``nb``) is the written form the municipality
uses; its staff see it when neither they nor their browser ask for a language
(``bti municipality set SLUG --malform nn``).

``user_account.locale`` becomes nullable: NULL means "not chosen", so the browser's
Accept-Language and then the målform apply. Until now every account was created with ``nb``,
whether or not the user picked it, so ``nb`` cannot be told apart from "never chose" and becomes
NULL; ``nn`` and ``en`` were chosen and are kept. (A bokmål user of a bokmål municipality sees
bokmål as before; a nynorsk municipality's staff now start in nynorsk.) The downgrade writes
``nb`` where no language was chosen.

No table is rebuilt on SQLite (a rebuild of ``user_account`` or ``municipality`` would fire the
ON DELETE CASCADE of every table that refers to them): the column is added with ALTER TABLE,
and ``locale`` is swapped for a nullable copy with ADD / DROP / RENAME COLUMN (SQLite 3.35+).

Revision ID: 79666edba8f0
Revises: 3d7a1c9e5b42
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "79666edba8f0"
down_revision = "3d7a1c9e5b42"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        op.execute("ALTER TABLE municipality ADD COLUMN malform VARCHAR(2) DEFAULT 'nb' "
                   "NOT NULL CONSTRAINT ck_municipality_malform CHECK (malform IN ('nb', 'nn'))")
        op.execute("ALTER TABLE user_account ADD COLUMN locale_chosen VARCHAR(5)")
        op.execute("UPDATE user_account SET locale_chosen = locale WHERE locale <> 'nb'")
        op.execute("ALTER TABLE user_account DROP COLUMN locale")
        op.execute("ALTER TABLE user_account RENAME COLUMN locale_chosen TO locale")
        return
    op.add_column("municipality", sa.Column("malform", sa.String(length=2), nullable=False,
                                            server_default="nb"))
    op.create_check_constraint(op.f("ck_municipality_malform"), "municipality",
                               "malform IN ('nb', 'nn')")
    op.alter_column("user_account", "locale", existing_type=sa.String(length=5), nullable=True)
    op.execute("UPDATE user_account SET locale = NULL WHERE locale = 'nb'")


def downgrade() -> None:
    if _sqlite():
        op.execute("ALTER TABLE user_account ADD COLUMN locale_required VARCHAR(5) "
                   "DEFAULT 'nb' NOT NULL")
        op.execute("UPDATE user_account SET locale_required = COALESCE(locale, 'nb')")
        op.execute("ALTER TABLE user_account DROP COLUMN locale")
        op.execute("ALTER TABLE user_account RENAME COLUMN locale_required TO locale")
        op.execute("ALTER TABLE municipality DROP COLUMN malform")
        return
    op.execute("UPDATE user_account SET locale = 'nb' WHERE locale IS NULL")
    op.alter_column("user_account", "locale", existing_type=sa.String(length=5), nullable=False)
    op.drop_constraint(op.f("ck_municipality_malform"), "municipality", type_="check")
    op.drop_column("municipality", "malform")
