from __future__ import annotations

import pytest
from sqlalchemy import Engine

from helpers.retention import engine_for
from roomscribe.config import Settings


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return engine_for(settings)
