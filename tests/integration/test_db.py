"""Migrations on both databases: a fresh one and one made before migrations reach the head, the
head matches the models (autogenerate finds nothing), and the server's start follows the rule
(embedded: migrated on the spot; shared: refused until an operator upgrades)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect
from sqlmodel import SQLModel

from roomscribe.config import Settings
from roomscribe.db import (
    SchemaOutOfDate,
    current_revision,
    head_revision,
    import_tables,
    make_engine,
    migrate,
    prepare,
)


def differences(engine: Engine) -> list[object]:
    import_tables()
    with engine.connect() as conn:
        tables = SQLModel.metadata.tables
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, kind, _: kind != "table" or name in tables})
        return list(compare_metadata(context, SQLModel.metadata))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'roomscribe.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    made = make_engine(Settings(data_dir=tmp_path, database_url=url))
    request.addfinalizer(made.dispose)
    return made


def test_a_fresh_database_reaches_the_head_and_matches_the_models(engine: Engine) -> None:
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert differences(engine) == []
    migrate(engine)  # again: nothing to do, nothing fails
    assert current_revision(engine) == head_revision()


def test_a_database_made_before_migrations_is_taken_as_the_baseline(engine: Engine) -> None:
    import_tables()
    SQLModel.metadata.create_all(engine)  # what every earlier version did at start
    engine.dispose()
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert differences(engine) == []


def test_a_pre_migration_database_with_some_tables_gets_the_rest(engine: Engine) -> None:
    import_tables()
    SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables["auditevent"]])
    engine.dispose()
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert differences(engine) == []


def test_the_embedded_database_is_migrated_at_start_a_shared_one_is_checked(
        engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        prepare(engine)
        assert current_revision(engine) == head_revision()
        return
    with pytest.raises(SchemaOutOfDate, match="roomscribe db upgrade"):
        prepare(engine)
    assert inspect(engine).get_table_names() == []  # nothing half-made
    migrate(engine)
    prepare(engine)


def test_the_operator_commands(tmp_path: Path, postgres_url: str) -> None:
    env = {"ROOMSCRIBE_DATA_DIR": str(tmp_path), "ROOMSCRIBE_DATABASE_URL": postgres_url}

    def roomscribe(*args: str) -> subprocess.CompletedProcess[str]:
        import os

        return subprocess.run([sys.executable, "-m", "roomscribe", *args], text=True,
                              capture_output=True, env={**os.environ, **env})

    before = roomscribe("db", "current")
    assert before.returncode == 1 and "no revision" in before.stdout
    upgraded = roomscribe("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    after = roomscribe("db", "current")
    assert after.returncode == 0 and f"at {head_revision()}" in after.stdout
    engine = create_engine(postgres_url)
    assert "account" in inspect(engine).get_table_names()
    engine.dispose()
