"""The database engine and sessions. SQLite in the data folder by default; any SQLAlchemy URL
through `ROOMSCRIBE_DATABASE_URL`.

Tables register themselves on `SQLModel.metadata` by being imported; `create_all` imports every
domain's `tables` module so the schema is whole before it is created.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session, SQLModel, create_engine

from roomscribe.config import Settings

#: Modules that define tables; each domain adds its own here.
TABLE_MODULES: tuple[str, ...] = (
    "roomscribe.accounts.tables",
    "roomscribe.rooms.tables",
    "roomscribe.audit.tables",
    "roomscribe.retention.tables",
    "roomscribe.reports.tables",
    "roomscribe.recordings.tables",
    "roomscribe.transcripts.tables",
)


def make_engine(settings: Settings) -> Engine:
    url = settings.db_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            # WAL lets readers (search, pages) run while the live path writes captions;
            # synchronous=NORMAL is still crash-safe in WAL mode.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten with zeros, not left in free pages: a purged
            # transcript must not be readable in the database file afterwards.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_all(engine: Engine) -> None:
    for module in TABLE_MODULES:
        importlib.import_module(module)
    SQLModel.metadata.create_all(engine)


def forget_deleted(engine: Engine) -> None:
    """Make what was just deleted unreadable on disk as well (after a retention purge).

    With `secure_delete` the database file keeps no copy of a deleted row, but in WAL mode the
    write-ahead log still holds older copies of its pages until a checkpoint truncates it.
    Other databases manage their own storage; nothing to do there.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
