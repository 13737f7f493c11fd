"""create_app(): routes, plugins, lifespan and error mapping. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from litestar import Litestar, Request, Response, get
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
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
from roomscribe.accounts.service import Limits as AccountLimits
from roomscribe.archive.index import Index
from roomscribe.archive.replication import replication_for
from roomscribe.archive.routes import SearchController, provide_archive
from roomscribe.archive.service import ArchiveService, SearchLimits
from roomscribe.asr.engine import Transcriber
from roomscribe.asr.offline import OfflineTranscriber
from roomscribe.asr.streaming import SpeechDetector
from roomscribe.asr.vad import SileroVad
from roomscribe.audit.service import AuditLog
from roomscribe.captions.languages import LanguageEngines, multilingual_missing
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.captions.numbering import MemoryNumbering, Numbering, RedisNumbering
from roomscribe.captions.remote import RemoteCaptions
from roomscribe.clock import Clock, system_clock
from roomscribe.config import Settings, get_settings
from roomscribe.db import make_engine, prepare
from roomscribe.errors import ModelUnavailable, RoomscribeError
from roomscribe.media.janus import Janus, JanusServer, find_janus
from roomscribe.purgers import purgers
from roomscribe.ratelimit import RateLimiter
from roomscribe.recordings.routes import (
    RecordingController,
    provide_recordings,
    provide_storage_used,
)
from roomscribe.recordings.service import RecordingService
from roomscribe.recordings.storage import open_storage
from roomscribe.redis_pool import redis_client
from roomscribe.replay.routes import ReplayController, provide_replay
from roomscribe.replay.service import ReplayService
from roomscribe.reports.routes import DEPENDENCIES as REPORT_DEPENDENCIES
from roomscribe.reports.routes import AdminReportController, ReportController
from roomscribe.reports.service import ReportService
from roomscribe.retention.policy import Durations
from roomscribe.retention.routes import DEPENDENCIES as RETENTION_DEPENDENCIES
from roomscribe.retention.routes import AdminRetentionController
from roomscribe.retention.scheduler import RetentionScheduler
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.audio import AudioSink, CaptionSource
from roomscribe.rooms.board import Board, MemoryBoard, RedisBoard
from roomscribe.rooms.live_rooms import HISTORY_EVENTS, LiveLimits, LiveRooms
from roomscribe.rooms.media import RoomMedia
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.records import was_present
from roomscribe.rooms.routes import RoomController, provide_membership, provide_rooms
from roomscribe.rooms.service import RoomLimits, RoomService
from roomscribe.rooms.store import RoomStore
from roomscribe.run_marker import RunMarker
from roomscribe.transcripts.final_pass_queue import FinalPassQueue, final_pass_queue
from roomscribe.transcripts.routes import TranscriptController, provide_transcripts
from roomscribe.transcripts.saving_source import SavingCaptionSource
from roomscribe.transcripts.service import TranscriptService
from roomscribe.web import routers as web_routers
from roomscribe.web import template_config

log = logging.getLogger(__name__)


def free_port() -> int:
    """A loopback TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

SERVER_OPTIONS: dict[str, Any] = {
    # An audio frame is at most 6,400 bytes and a client sends nothing else large: a bigger
    # message is refused (1009) from its header, before it is buffered.
    "ws_max_size": 64 * 1024,
    # Per-message deflate compresses the same caption once per listener: off, it cut server CPU
    # per delivery by a quarter and p99 lag by half at 3,000 listeners (scripts/bench_fanout.py).
    "ws_per_message_deflate": False,
}
"""How uvicorn serves the app, wherever it is started (`roomscribe serve`, the test servers)."""


def to_http(_: Request[Any, Any, Any], exc: RoomscribeError) -> Response[dict[str, str]]:
    """The one place domain errors become HTTP responses."""
    return Response({"error": type(exc).__name__, "detail": str(exc)}, status_code=exc.status,
                    headers=dict(exc.headers))


@get("/health", operation_id="health", sync_to_thread=False)
def health(state: State) -> dict[str, str]:
    """Liveness: answers as soon as the process serves requests. `media` says whether live audio
    works: `up`, `down` (the media server is being restarted) or `off` (none on this server)."""
    media: RoomMedia = state.media
    return {"status": "ok", "version": __version__, "media": media.state()}


def channels_backend(settings: Settings) -> ChannelsBackend:
    """Room events cross processes through Redis streams when `ROOMSCRIBE_REDIS_URL` is set
    (each web process subscribes once per live room and relays to its own listeners); one
    process keeps them in memory."""
    if settings.redis_url is None:
        return MemoryChannelsBackend()
    from litestar.channels.backends.redis import RedisChannelsStreamBackend

    return RedisChannelsStreamBackend(
        redis=redis_client(settings.redis_url), key_prefix="roomscribe",
        # A room's recent events, for a process that starts relaying the room late.
        history=HISTORY_EVENTS, stream_ttl=timedelta(hours=13))


def caption_numbering(settings: Settings) -> Numbering:
    """Caption `seq` numbers shared through Redis when `ROOMSCRIBE_REDIS_URL` is set (a room's
    speakers may be on different web processes); counted in memory otherwise."""
    if settings.redis_url is None:
        return MemoryNumbering()
    return RedisNumbering(redis_client(settings.redis_url), prefix="roomscribe")


def room_board(settings: Settings) -> Board:
    """Pins and presence shared through Redis when `ROOMSCRIBE_REDIS_URL` is set."""
    if settings.redis_url is None:
        return MemoryBoard()
    return RedisBoard(redis_client(settings.redis_url), prefix="roomscribe")


@asynccontextmanager
async def numbering(app: Litestar) -> AsyncIterator[None]:
    """`app.state.numbering`; first in, last out, since the live engine numbers the captions it
    flushes while stopping."""
    app.state.numbering = caption_numbering(app.state.settings)
    try:
        yield
    finally:
        await app.state.numbering.close()


@asynccontextmanager
async def database(app: Litestar) -> AsyncIterator[None]:
    """`app.state.engine`, its schema migrated (embedded) or checked (shared)."""
    engine = make_engine(app.state.settings)
    await asyncio.to_thread(prepare, engine)
    app.state.engine = engine
    try:
        yield
    finally:
        engine.dispose()


@asynccontextmanager
async def accounts(app: Litestar) -> AsyncIterator[None]:
    """`app.state.accounts`: the AccountService."""
    app.state.accounts = AccountService(
        app.state.engine, hasher=app.state.password_hasher,
        limits=AccountLimits.from_settings(app.state.settings), limiter=app.state.limiter)
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
    settings = app.state.settings
    if settings.asr == "workers" and settings.redis_url is not None:  # (Settings checks both)
        remote = RemoteCaptions(redis_client(settings.redis_url))
        app.state.caption_source = remote
        try:
            yield
        finally:
            await remote.close()
        return
    try:
        engine = await asyncio.to_thread(functools.partial(
            LiveEngine.from_settings, app.state.settings, numbering=app.state.numbering))
    except ModelUnavailable as err:
        log.error("live captions are off: %s", err)
        yield
        return
    def multilingual() -> LiveEngine:
        return LiveEngine.from_settings(settings, numbering=app.state.numbering,
                                        model=settings.multilingual_model)

    async with LanguageEngines(engine, multilingual) as engines:
        source: CaptionSource = engines  # the type checker holds the engines to the rooms' seam
        app.state.caption_source = source
        expected = {code.strip() for code in settings.languages.split(",") if code.strip()}
        if expected - {"en"}:
            try:
                await engines.ready(None)
            except ModelUnavailable as err:
                log.error("rooms in other languages are off: %s", err)
        if app.state.transcriber is None and isinstance(engine.transcriber, Transcriber):
            app.state.transcriber = engine.transcriber  # one model for live and final passes
        yield


@asynccontextmanager
async def live_audio(app: Litestar) -> AsyncIterator[None]:
    """`app.state.media`: the rooms' live audio, through a Janus this process runs and watches.

    Without Janus (not installed, `ROOMSCRIBE_MEDIA=off`) the service runs all the same: rooms
    are captioned from the PCM socket and the pages say live audio is unavailable.
    """
    settings = app.state.settings
    media = app.state.media = RoomMedia(None)
    if settings.media == "off":
        yield
        return
    if find_janus() is None:
        log.warning("live audio is off: the Janus media server is not installed "
                    "(apt-get install janus, or ROOMSCRIBE_MEDIA=off to silence this)")
        yield
        return
    server = JanusServer(settings.data_dir / "janus", api_port=settings.janus_port or free_port(),
                         rtp_ports=settings.rtp_ports, public_ip=settings.media_public_ip)
    await server.start()
    janus = Janus(server.config, on_change=media.janus_changed)
    media.janus = janus
    await janus.start()
    if not await janus.ready(within=15):
        log.error("the Janus media server did not answer; live audio stays off until it does")
    app.state.janus_server = server
    try:
        yield
    finally:
        await janus.close()
        await server.stop()


@asynccontextmanager
async def run_marker(app: Litestar) -> AsyncIterator[None]:
    """`app.state.crashed`: whether the last server on this data folder was killed."""
    marker = RunMarker(app.state.settings.data_dir)
    app.state.crashed = marker.previous_run_crashed()
    marker.claim()
    try:
        yield
    finally:
        marker.release()


@asynccontextmanager
async def retention(app: Litestar) -> AsyncIterator[None]:
    """`app.state.retention`: ended rooms' deadlines, with every domain's purger; `.reports`;
    and `.retention_scheduler`, which purges each room at its deadline and sweeps hourly."""
    settings, engine = app.state.settings, app.state.engine
    app.state.retention = service = RetentionService(
        engine, durations=Durations.from_settings(settings),
        purgers=purgers(settings, engine, app.state.archive.index,
                        app.state.archive.replication))
    app.state.audit_log = AuditLog(engine)
    app.state.reports = ReportService(engine, retention=service,
                                      presence=functools.partial(was_present, engine))
    # Named after its database: one scheduler a database, whose stored jobs find it again after
    # a restart (they name their scheduler).
    # Paused until `recovery` has finished what the last server left: a purge must not run beside
    # a mix or final pass that would write the room's files again. Deadlines registered meanwhile
    # are scheduled all the same.
    scheduler = RetentionScheduler(service, engine=engine, clock=app.state.clock,
                                   name=settings.db_url)
    await asyncio.to_thread(scheduler.start, paused=True)
    app.state.retention_scheduler = scheduler
    try:
        yield
    finally:
        # Lets a running purge finish; jobs stay stored for the next start.
        await asyncio.to_thread(scheduler.shutdown)


@asynccontextmanager
async def archive(app: Litestar) -> AsyncIterator[None]:
    """`app.state.archive`: the search index, kept in step with the transcripts."""
    index = await asyncio.to_thread(Index.from_settings, app.state.settings)
    replication = replication_for(app.state.settings)
    app.state.archive = service = ArchiveService(
        app.state.engine, index, limiter=app.state.limiter,
        limits=SearchLimits.from_settings(app.state.settings), replication=replication)
    following = asyncio.create_task(replication.follow(service), name="index replication")
    try:
        yield
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await replication.close()
        await asyncio.to_thread(index.close)


@asynccontextmanager
async def recordings(app: Litestar) -> AsyncIterator[None]:
    """`app.state.recordings`: speaker tracks and mixes; the rooms' audio sink unless
    create_app was given one."""
    settings = app.state.settings
    service = RecordingService(app.state.engine, open_storage(settings), app.state.retention,
                               clock=app.state.clock, scratch=settings.data_dir / "tmp")
    app.state.recordings = service
    if app.state.audio_sink is None:
        app.state.audio_sink = service
    await asyncio.to_thread(service.clean)
    service.start()
    try:
        yield
    finally:
        await service.close()


@asynccontextmanager
async def transcripts(app: Litestar) -> AsyncIterator[None]:
    """`app.state.transcripts`: live finals saved, final passes, corrections and exports; and
    `app.state.replay`, which plays ended rooms back to whoever may find them."""
    settings = app.state.settings
    queue = None
    if settings.asr == "workers" and settings.redis_url is not None:  # (Settings checks both)
        queue = FinalPassQueue(final_pass_queue(settings.redis_url))
    service = TranscriptService(
        app.state.engine, open_storage(settings), archive=app.state.archive,
        retention=app.state.retention, settings=settings,
        transcriber=app.state.transcriber, detector=app.state.speech_detector,
        clock=app.state.clock, queue=queue)
    app.state.transcripts = service
    app.state.replay = ReplayService(
        app.state.engine, recordings=app.state.recordings, transcripts=service,
        retention=app.state.retention, clock=app.state.clock)
    service.start()
    try:
        yield
    finally:
        await service.close()


@asynccontextmanager
async def rooms(app: Litestar) -> AsyncIterator[None]:
    """`app.state.rooms` and `app.state.membership`: the room services and the live rooms they
    fan out to."""
    settings = app.state.settings
    live = LiveRooms(app.plugins.get(ChannelsPlugin), limits=LiveLimits.from_settings(settings),
                     history=app.state.channels_backend.get_history,
                     shared=settings.redis_url is not None, board=room_board(settings))
    captions = app.state.caption_source
    store = RoomStore(app.state.engine, live, retention=app.state.retention,
                      numbering=app.state.numbering)
    app.state.membership = MembershipService(store)
    app.state.rooms = RoomService(
        store, recorder=app.state.audio_sink,
        captions=captions and SavingCaptionSource(captions, app.state.transcripts),
        observers=(app.state.recordings, app.state.transcripts, app.state.archive),
        limits=RoomLimits.from_settings(settings), media=app.state.media,
        limiter=app.state.limiter,
        languages_missing=functools.partial(multilingual_missing, settings))
    try:
        yield
    finally:
        await live.close()


@asynccontextmanager
async def recovery(app: Litestar) -> AsyncIterator[None]:
    """Finish what the last server left: rooms a killed one left live end as crashed, mixes and
    final passes left undone run, and the search index is made to agree with the database. Then
    purges may run, and rooms that run too long are ended."""
    if app.state.crashed:
        await app.state.rooms.end_abandoned()
    await app.state.recordings.resume()
    await app.state.transcripts.resume()
    await app.state.archive.reconcile()
    app.state.retention_scheduler.resume()
    lengths = asyncio.create_task(app.state.rooms.watch_lengths(), name="room lengths")
    try:
        yield
    finally:
        lengths.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lengths


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
               password_hasher: PasswordHasher | None = None,
               transcriber: OfflineTranscriber | None = None,
               speech_detector: Callable[[], SpeechDetector] = SileroVad,
               clock: Clock | None = None) -> Litestar:
    """The app. Tests pass a fake `caption_source`, a recording `audio_sink`, a cheap hasher,
    the `transcriber` and `speech_detector` final passes use (by default the live engine's model
    and Silero) or the `clock` the retention policy reads (`app.state.clock`; a `ManualClock`
    moves time)."""
    settings = settings or get_settings()
    # Unbounded subscriber backlogs: each room's one feed only offers, never waits, and each
    # listener's backlog is bounded where it waits (`rooms.outlet`).
    backend = channels_backend(settings)
    channels = ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)
    return Litestar(
        route_handlers=[health, AccountController, SessionController, RoomController,
                        RecordingController, TranscriptController, SearchController,
                        ReportController, AdminReportController, AdminRetentionController,
                        ReplayController,
                        *web_routers(settings)],
        dependencies={**ACCOUNT_DEPENDENCIES, **RETENTION_DEPENDENCIES, **REPORT_DEPENDENCIES,
                      "rooms": Provide(provide_rooms, sync_to_thread=False),
                      "membership": Provide(provide_membership, sync_to_thread=False),
                      "recordings": Provide(provide_recordings, sync_to_thread=False),
                      "storage_used": Provide(provide_storage_used, sync_to_thread=True),
                      "transcripts": Provide(provide_transcripts, sync_to_thread=False),
                      "archive": Provide(provide_archive, sync_to_thread=False),
                      "replay": Provide(provide_replay, sync_to_thread=False)},
        plugins=[channels, LifespansInsideChannels(rooms, recovery)],
        lifespan=[numbering, database, run_marker, accounts, live_captions, live_audio, archive,
                  retention, recordings, transcripts],
        state=State({"settings": settings, "caption_source": caption_source,
                     "channels_backend": backend,
                     "audio_sink": audio_sink, "transcriber": transcriber,
                     "speech_detector": speech_detector,
                     "password_hasher": password_hasher or PasswordHasher(),
                     "limiter": RateLimiter(settings.limits_storage),
                     "clock": clock or system_clock}),
        exception_handlers={RoomscribeError: to_http},
        openapi_config=OpenAPIConfig(title="Roomscribe", version=__version__, path="/schema"),
        template_config=template_config(),
    )
