from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from helpers.retention import RoomData, engine_for
from roomscribe.config import Settings
from roomscribe.retention.service import RetentionService


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = engine_for(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def data(tmp_path: Path, engine: Engine) -> RoomData:
    return RoomData(tmp_path / "recordings", engine)


@pytest.fixture
def service(engine: Engine, data: RoomData) -> RetentionService:
    return RetentionService(engine, purgers=[data])
