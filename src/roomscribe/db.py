"""The database engine and sessions. SQLite in the data folder by default; any SQLAlchemy URL
through `ROOMSCRIBE_DATABASE_URL`.

Tables register themselves on `SQLModel.metadata` by being imported; `import_tables` imports
every domain's `tables` module so the schema is whole. The schema itself is made and changed by
the Alembic migrations in `roomscribe.migrations`, through `migrate`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect
from sqlmodel import Session, SQLModel, create_engine

from roomscribe.config import Settings
from roomscribe.errors import RoomscribeError

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


class SchemaOutOfDate(RoomscribeError):
    """The shared database is not at the revision this code expects."""


BASELINE = "0001"
"""The first revision: the schema `create_all` made before there were migrations."""


def import_tables() -> None:
    for module in TABLE_MODULES:
        importlib.import_module(module)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "roomscribe:migrations")
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (the newest by default), in one transaction where the
    database allows. A database made before migrations existed (some of our tables, no
    version) is taken as the baseline: `create_all` made those tables as the baseline does, and
    the ones it lacks (a domain that came later) are created before it is stamped."""
    import_tables()
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        names = set(inspect(conn).get_table_names())
        if "alembic_version" not in names and names & set(SQLModel.metadata.tables):
            SQLModel.metadata.create_all(conn)  # only what is missing (checkfirst)
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def prepare(engine: Engine) -> None:
    """What the server does at start. The embedded database (SQLite) is migrated on the spot:
    one process owns it. A shared one is the operator's to migrate (`roomscribe db upgrade`),
    once, not by every web process racing at start; the server refuses to run on another
    revision than its own code's."""
    if engine.dialect.name == "sqlite":
        migrate(engine)
        return
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDate(f"the database is at revision {current or '(none)'} and this "
                              f"version needs {head}: run `roomscribe db upgrade` first")


def create_all(engine: Engine) -> None:
    """Every table at the newest revision, whatever the database (tests and tools)."""
    migrate(engine)


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
