"""Which profile the tests run on (`scripts/test --profile scale`), and the settings that follow.

Embedded: SQLite and recordings in the test's data folder, as `scripts/serve` runs. Scale: every
data folder gets a database of its own on one PostgreSQL server the run starts, migrated as an
operator would with `roomscribe db upgrade` before anything uses it, and a bucket of its own on
one S3 server (moto's) for its recordings. The same folder always gets the same database and
bucket, so a test that restarts a server on its folder finds its data again.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import sqlalchemy

from helpers.servers import postgres, s3_server
from roomscribe.config import Settings
from roomscribe.db import make_engine, migrate

SCALE = os.environ.get("ROOMSCRIBE_TEST_PROFILE") == "scale"

_lock = threading.Lock()
_servers: dict[str, str] = {}

if SCALE:
    # Credentials moto accepts, for this process and every server it starts.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _shared(name: str, start: Callable[[], AbstractContextManager[str]]) -> str:
    """The run's server called `name`: started on first use, stopped at exit; its URL."""
    with _lock:
        if name not in _servers:
            running = start()
            _servers[name] = running.__enter__()
            atexit.register(running.__exit__, None, None, None)
        return _servers[name]


def shared_postgres() -> str:
    """The run's PostgreSQL server; its admin URL."""
    return _shared("postgres", postgres)


def shared_s3() -> str:
    """The run's S3 server (moto); its endpoint."""
    return _shared("s3", s3_server)


def _name(data_dir: Path) -> str:
    return "t" + hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:20]


def bucket_for(data_dir: Path) -> tuple[str, str] | None:
    """(storage URL, endpoint) of `data_dir`'s bucket on this profile (None: the folder)."""
    if not SCALE:
        return None
    import boto3

    endpoint = shared_s3()
    client = boto3.client("s3", endpoint_url=endpoint)
    name = _name(data_dir)
    try:
        client.head_bucket(Bucket=name)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=name)
    return f"s3://{name}/recordings", endpoint


def database_for(data_dir: Path) -> str | None:
    """The database URL for `data_dir` on this profile (None: the embedded default)."""
    if not SCALE:
        return None
    admin = shared_postgres()
    name = _name(data_dir)
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


def server_env(data_dir: Path) -> dict[str, str]:
    """The `ROOMSCRIBE_*` settings of `data_dir` on this profile, beyond the folder itself."""
    env: dict[str, str] = {}
    if (url := database_for(data_dir)) is not None:
        env["ROOMSCRIBE_DATABASE_URL"] = url
    if (bucket := bucket_for(data_dir)) is not None:
        env["ROOMSCRIBE_STORAGE_URL"], env["ROOMSCRIBE_S3_ENDPOINT_URL"] = bucket
    return env


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """`Settings` for a test whose data lives in `data_dir`, on the run's profile."""
    profile = {name.removeprefix("ROOMSCRIBE_").lower(): value
               for name, value in server_env(data_dir).items()}
    return Settings(data_dir=data_dir, **{**profile, **overrides})
