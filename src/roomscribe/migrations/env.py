"""Alembic's entry point: the connection comes from `db.migrate`, or from the settings when
`alembic` itself is run against `roomscribe.migrations`."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from roomscribe.db import import_tables, make_engine

import_tables()
config = context.config
target = SQLModel.metadata


def ours(name: str | None, kind: str, parent: Any) -> bool:
    """Only Roomscribe's tables: APScheduler keeps its job store in the same database."""
    return kind != "table" or name in target.tables


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target, render_as_batch=True,
                      compare_type=True, include_name=ours)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from roomscribe.config import get_settings

    engine = make_engine(get_settings())
    with engine.connect() as fresh:
        run(fresh)
    engine.dispose()
