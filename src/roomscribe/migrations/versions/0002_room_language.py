"""room language: what a room's speakers speak, or "detect"

Revision ID: 0002
Revises: 0001
Created: 2026-12-06 16:41:30.980361
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made before migrations had its missing tables created by today's models
    # (`db.migrate`): a room table made that way has the column already.
    if "language" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("room")}:
        return
    with op.batch_alter_table("room", schema=None) as batch_op:
        # Every room before this revision was English (the only language captioned then).
        batch_op.add_column(sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8),
                                      nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("room", schema=None) as batch_op:
        batch_op.drop_column("language")
