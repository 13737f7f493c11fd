"""Fixtures: the whole app in the test's event loop with real SQLite and a fake caption engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar import Litestar

from integration.rooms.harness import Api, FakeCaptionSource, RecordingAudioSink
from roomscribe.app import create_app
from roomscribe.config import Settings


@pytest.fixture
def captions() -> FakeCaptionSource:
    return FakeCaptionSource()


@pytest.fixture
def recorder() -> RecordingAudioSink:
    return RecordingAudioSink()


@pytest.fixture
async def app(settings: Settings, captions: FakeCaptionSource,
              recorder: RecordingAudioSink) -> AsyncIterator[Litestar]:
    app = create_app(settings, caption_source=captions, audio_sink=recorder,
                     password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    # The lifespan holds anyio cancel scopes, which must be left in the task that entered them,
    # and pytest-asyncio tears fixtures down in another task: so the lifespan gets its own.
    started, stop = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    ready = asyncio.create_task(started.wait())
    await asyncio.wait((task, ready), timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if not started.is_set():
        ready.cancel()
        raise RuntimeError("the app did not start") from (task.exception() if task.done() else None)
    yield app
    stop.set()
    await asyncio.wait_for(task, 10)


@pytest.fixture
async def api(app: Litestar) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        api = Api(app, http)
        yield api
        await api.close_sockets()
