"""languages: the language of each transcript segment, whether it is the English translation
track, and a speaker's own language

Revision ID: 0003
Revises: 0002
Created: 2026-12-06 19:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made before migrations had its missing tables created by today's models
    # (`db.migrate`): a segment table made that way has the columns already.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("transcriptsegment")}
    with op.batch_alter_table("transcriptsegment", schema=None) as batch_op:
        # Every segment before this revision was English as spoken.
        if "lang" not in have:
            batch_op.add_column(sa.Column("lang", sqlmodel.sql.sqltypes.AutoString(length=8),
                                          nullable=False, server_default="en"))
        if "translated" not in have:
            batch_op.add_column(sa.Column("translated", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    if "language" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("member")}:
        with op.batch_alter_table("member", schema=None) as batch_op:
            batch_op.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8),
                                          nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("transcriptsegment", schema=None) as batch_op:
        batch_op.drop_column("translated")
        batch_op.drop_column("lang")
