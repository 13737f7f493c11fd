"""Which profile the tests run on (`scripts/test --profile scale`), and the settings that follow.

Embedded: SQLite in the test's data folder, as `scripts/serve` runs. Scale: every data folder gets
a database of its own on one PostgreSQL server the run starts (the same folder, the same database,
so a test that restarts a server on its folder finds its data again), migrated as an operator
would with `roomscribe db upgrade` before anything uses it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import sqlalchemy

from helpers.servers import postgres
from roomscribe.config import Settings
from roomscribe.db import make_engine, migrate

SCALE = os.environ.get("ROOMSCRIBE_TEST_PROFILE") == "scale"

_lock = threading.Lock()
_server: str | None = None


def shared_postgres() -> str:
    """The run's PostgreSQL server (started on first use, stopped at exit); its admin URL."""
    global _server
    with _lock:
        if _server is None:
            running = postgres()
            _server = running.__enter__()
            atexit.register(running.__exit__, None, None, None)
        return _server


def database_for(data_dir: Path) -> str | None:
    """The database URL for `data_dir` on this profile (None: the embedded default)."""
    if not SCALE:
        return None
    admin = shared_postgres()
    name = "t_" + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:20]
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    if not exists:
        made = make_engine(Settings(data_dir=data_dir, database_url=url))
        migrate(made)
        made.dispose()
    return url


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """`Settings` for a test whose data lives in `data_dir`, on the run's profile."""
    url = database_for(data_dir)
    return Settings(data_dir=data_dir, **({"database_url": url} if url else {}), **overrides)


def server_env(data_dir: Path) -> dict[str, str]:
    """What a `roomscribe serve` child process needs to be told for the same."""
    url = database_for(data_dir)
    return {"ROOMSCRIBE_DATABASE_URL": url} if url else {}
