from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from helpers.retention import engine_for
from roomscribe.config import Settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = engine_for(settings)
    yield engine
    engine.dispose()
