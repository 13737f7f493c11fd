"""create_app(): routes, plugins, lifespan and error mapping. Wiring only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from argon2 import PasswordHasher
from litestar import Litestar, Request, Response, get
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins import InitPlugin

from roomscribe import __version__
from roomscribe.accounts.dependencies import DEPENDENCIES as ACCOUNT_DEPENDENCIES
from roomscribe.accounts.routes import AccountController, SessionController
from roomscribe.accounts.service import AccountService
from roomscribe.config import Settings, get_settings
from roomscribe.db import create_all, make_engine
from roomscribe.errors import ModelUnavailable, RoomscribeError
from roomscribe.rooms.audio import AudioSink, CaptionSource, NullAudioSink
from roomscribe.rooms.live import SUBSCRIBER_BACKLOG, DroppingSubscriber, LiveRooms
from roomscribe.rooms.routes import RoomController, provide_rooms
from roomscribe.rooms.service import RoomService
from roomscribe.transcription.live import LiveEngine
from roomscribe.web import routers as web_routers
from roomscribe.web import template_config

log = logging.getLogger(__name__)


def to_http(_: Request[Any, Any, Any], exc: RoomscribeError) -> Response[dict[str, str]]:
    """The one place domain errors become HTTP responses."""
    return Response({"error": type(exc).__name__, "detail": str(exc)}, status_code=exc.status)


@get("/health", operation_id="health", sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: answers as soon as the process serves requests."""
    return {"status": "ok", "version": __version__}


@asynccontextmanager
async def database(app: Litestar) -> AsyncIterator[None]:
    """`app.state.engine`, with every domain's tables created."""
    engine = make_engine(app.state.settings)
    await asyncio.to_thread(create_all, engine)
    app.state.engine = engine
    try:
        yield
    finally:
        engine.dispose()


@asynccontextmanager
async def accounts(app: Litestar) -> AsyncIterator[None]:
    """`app.state.accounts`: the AccountService."""
    app.state.accounts = AccountService(app.state.engine, hasher=app.state.password_hasher)
    yield


@asynccontextmanager
async def live_captions(app: Litestar) -> AsyncIterator[None]:
    """`app.state.caption_source`: the live caption engine, unless create_app was given one.

    A model that cannot load leaves the server up without live captions (audio sockets are then
    refused with 4503): rooms, pages and the archive still work, and the log says what to fix.
    """
    if app.state.caption_source is not None:
        yield
        return
    try:
        engine = await asyncio.to_thread(LiveEngine.from_settings, app.state.settings)
    except ModelUnavailable as err:
        log.error("live captions are off: %s", err)
        yield
        return
    async with engine:
        source: CaptionSource = engine  # so the type checker holds the engine to the rooms' seam
        app.state.caption_source = source
        yield


@asynccontextmanager
async def rooms(app: Litestar) -> AsyncIterator[None]:
    """`app.state.rooms`: the RoomService and the live rooms it fans out to."""
    live = LiveRooms(app.plugins.get(ChannelsPlugin))
    app.state.rooms = RoomService(app.state.engine, live, captions=app.state.caption_source,
                                  recorder=app.state.audio_sink)
    try:
        yield
    finally:
        await live.close()


class LifespansInsideChannels(InitPlugin):
    """Adds lifespans after the ChannelsPlugin's own, so they start after it and stop before it.

    Plugins append their lifespan after the app's, which would stop the channels while live rooms
    still publish their last events through them.
    """

    def __init__(self, *lifespans: Callable[[Litestar], AbstractAsyncContextManager[None]]) -> None:
        self.lifespans = lifespans

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.lifespan.extend(self.lifespans)
        return app_config


def create_app(settings: Settings | None = None, *, caption_source: CaptionSource | None = None,
               audio_sink: AudioSink | None = None,
               password_hasher: PasswordHasher | None = None) -> Litestar:
    """The app. Tests pass a fake `caption_source`, a recording `audio_sink` or a cheap hasher."""
    settings = settings or get_settings()
    channels = ChannelsPlugin(
        backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True,
        subscriber_max_backlog=SUBSCRIBER_BACKLOG, subscriber_class=DroppingSubscriber)
    return Litestar(
        route_handlers=[health, AccountController, SessionController, RoomController,
                        *web_routers(settings)],
        dependencies={**ACCOUNT_DEPENDENCIES,
                      "rooms": Provide(provide_rooms, sync_to_thread=False)},
        plugins=[channels, LifespansInsideChannels(rooms)],
        lifespan=[database, accounts, live_captions],
        state=State({"settings": settings, "caption_source": caption_source,
                     "audio_sink": audio_sink or NullAudioSink(),
                     "password_hasher": password_hasher or PasswordHasher()}),
        exception_handlers={RoomscribeError: to_http},
        openapi_config=OpenAPIConfig(title="Roomscribe", version=__version__, path="/schema"),
        template_config=template_config(),
    )
