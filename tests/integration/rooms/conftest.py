"""Fixtures: the whole app in the test's event loop with real SQLite and a fake caption engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar import Litestar

from integration.rooms.harness import Api, FakeCaptionSource, RecordingAudioSink, running
from roomscribe.app import create_app
from roomscribe.config import Settings


@pytest.fixture
def captions() -> FakeCaptionSource:
    return FakeCaptionSource()


@pytest.fixture
def recorder() -> RecordingAudioSink:
    return RecordingAudioSink()


@pytest.fixture
def app(settings: Settings, captions: FakeCaptionSource, recorder: RecordingAudioSink) -> Litestar:
    return create_app(settings, caption_source=captions, audio_sink=recorder,
                      password_hasher=PasswordHasher.from_parameters(CHEAPEST))


@pytest.fixture
async def api(app: Litestar) -> AsyncIterator[Api]:
    async with running(app) as api:
        yield api
