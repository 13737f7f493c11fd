"""Fixtures every test layer shares: isolated settings and the real model, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from roomscribe.config import Settings
from roomscribe.transcription.engine import Transcriber


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def transcriber() -> Transcriber:
    """The real tiny.en model (int8, CPU), loaded once per test run."""
    return Transcriber.from_settings(Settings())
