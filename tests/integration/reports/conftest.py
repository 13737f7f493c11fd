"""The app in the test's event loop, on a clock the test moves, with the people of a room."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar

from helpers.console import clocked_app, start_clock
from integration.rooms.harness import Api, running
from roomscribe.clock import ManualClock
from roomscribe.config import Settings

PEOPLE = ("host", "speaker", "listener", "stranger", "admin")


@pytest.fixture
def clock() -> ManualClock:
    return start_clock()


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Litestar:
    return clocked_app(settings, clock)


@pytest.fixture
async def api(app: Litestar) -> AsyncIterator[Api]:
    async with running(app) as api:
        for handle in PEOPLE:
            await api.account(handle)
        await asyncio.to_thread(app.state.accounts.make_admin, "admin", password=None)
        yield api
