"""Test doubles and drivers for the rooms tests: the fake caption engine, a recording audio sink,
the REST API by handle, and a plain ASGI WebSocket driver.

The app runs in the test's event loop: HTTP goes through httpx's ASGI transport and WebSockets
through `RawSocket`, so the app, its channels and every socket share one loop and nothing
busy-waits (Litestar's TestClient runs sockets on a spinning portal thread).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import numpy as np
import numpy.typing as npt
from litestar import Litestar
from sqlmodel import select

from roomscribe.accounts.tables import Account, AuthToken
from roomscribe.asr.engine import Task
from roomscribe.captions.events import CaptionEvent, CaptionSink, Speaker
from roomscribe.db import session_scope

SAMPLE_RATE = 16_000
TIMEOUT = 5.0


def pcm(ms: int, value: int = 1000) -> bytes:
    """`ms` milliseconds of 16-bit LE mono PCM at 16 kHz (a constant, non-zero signal)."""
    return np.full(SAMPLE_RATE * ms // 1000, value, dtype="<i2").tobytes()


class FakeStream:
    """A partial after each push; a final once `final_every` seconds of audio are uncommitted."""

    def __init__(self, source: FakeCaptionSource, room: str, speaker: Speaker, origin: float,
                 sink: CaptionSink, language: str | None = "en",
                 task: Task = "transcribe") -> None:
        self.source, self.room, self.speaker, self.origin, self.sink = (
            source, room, speaker, origin, sink)
        self.language, self.task = language, task
        self.samples = 0
        self.committed = 0
        self.finished = False
        self._tasks: list[asyncio.Task[None]] = []

    def push(self, pcm: npt.NDArray[np.float32]) -> None:
        assert pcm.dtype == np.float32
        self.samples += len(pcm)
        final = self.samples - self.committed >= self.source.final_every * SAMPLE_RATE
        self._emit("final" if final else "partial")

    def _emit(self, kind: Literal["partial", "final"]) -> None:
        start = self.origin + self.committed / SAMPLE_RATE
        end = self.origin + self.samples / SAMPLE_RATE
        event = CaptionEvent(type=kind, room=self.room, seq=self.source.next_seq(self.room),
                             speaker=self.speaker, start=start, end=end,
                             text=f"{self.speaker.name} {self.committed}-{self.samples}",
                             lang="en" if self.task == "translate" else self.language or "en",
                             task=self.task)
        if kind == "final":
            self.committed = self.samples
        # In seq order, as the real engine's outbox delivers: a final that is saved before it is
        # published must not be overtaken by the partial after it.
        before = self._tasks[-1] if self._tasks else None
        self._tasks.append(asyncio.get_running_loop().create_task(self._deliver(before, event)))

    async def _deliver(self, before: asyncio.Task[None] | None, event: CaptionEvent) -> None:
        if before is not None:
            await asyncio.wait([before])  # its failure is its own; gather reports it
        await self.sink(event)

    async def finish(self) -> None:
        if self.samples > self.committed:
            self._emit("final")
        await asyncio.gather(*self._tasks)
        self.finished = True

    def set_language(self, language: str) -> None:
        self.language = language


@dataclass
class FakeCaptionSource:
    """Stands in for the LiveEngine: deterministic captions, one stream per speaker.

    `failure`, when set, is raised by `open` for the speakers named in `failing` (a model that
    cannot load, a crashing engine).
    """

    final_every: float = 0.4
    streams: list[FakeStream] = field(default_factory=list)
    failure: Exception | None = None
    failing: set[str] = field(default_factory=set)
    forgotten: list[str] = field(default_factory=list)
    _seq: dict[str, Iterator[int]] = field(default_factory=dict)

    def next_seq(self, room: str) -> int:
        return next(self._seq.setdefault(room, itertools.count()))

    def forget(self, room: str) -> None:
        self._seq.pop(room, None)
        self.forgotten.append(room)

    async def ready(self, language: str | None, task: Task = "transcribe") -> None:
        return None

    def open(self, *, room: str, speaker: Speaker, origin: float, language: str | None = "en",
             task: Task = "transcribe",
             sink: CaptionSink) -> FakeStream:
        if self.failure is not None and speaker.id in self.failing:
            raise self.failure
        stream = FakeStream(self, room, speaker, origin, sink, language, task)
        self.streams.append(stream)
        return stream


@dataclass
class RecordedTrack:
    room: str
    speaker: Speaker
    origin: float
    chunks: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, pcm: bytes) -> None:
        self.chunks.append(pcm)

    async def close(self) -> None:
        self.closed = True


@dataclass
class RecordingAudioSink:
    tracks: list[RecordedTrack] = field(default_factory=list)

    def open(self, *, room: str, speaker: Speaker, origin: float) -> RecordedTrack:
        track = RecordedTrack(room, speaker, origin)
        self.tracks.append(track)
        return track


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code, self.reason = code, reason


class RawSocket:
    """One WebSocket connection to the app, driven at the ASGI level."""

    def __init__(self, app: Litestar, path: str, *, query: str = "",
                 headers: list[tuple[bytes, bytes]] | None = None,
                 stall_after: int | None = None) -> None:
        """`stall_after`: after that many text messages, stop reading (a frozen phone)."""
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stall_after = stall_after
        self.sent_texts = 0
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "scheme": "ws", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
                 "root_path": "", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "subprotocols": [],
                 "headers": [(b"host", b"testserver"), *(headers or [])]}
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.get_running_loop().create_task(
            app(scope, self.inbox.get, self._send))
        self.accepted = False

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.sent_texts += 1
            if self.stall_after is not None and self.sent_texts > self.stall_after:
                await asyncio.Event().wait()  # never read: the app's send blocks for good
        await self.outbox.put(message)

    async def _next(self, within: float = TIMEOUT) -> dict[str, Any]:
        message = await asyncio.wait_for(self.outbox.get(), within)
        if message["type"] == "websocket.accept":
            self.accepted = True
            return await self._next(within)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason", ""))
        return message

    async def receive_json(self, within: float = TIMEOUT) -> dict[str, Any]:
        message = await self._next(within)
        event: dict[str, Any] = json.loads(message["text"])
        return event

    async def next_of(self, kind: str, within: float = TIMEOUT, **match: Any) -> dict[str, Any]:
        """The next event of type `kind` (with `match`ing fields), skipping others."""
        while True:
            event = await self.receive_json(within)
            if event["type"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event

    async def caption_from(self, speaker: str, kind: str = "partial") -> dict[str, Any]:
        """The next caption event of `kind` spoken by `speaker`."""
        while True:
            event = await self.next_of(kind)
            if event["speaker"]["id"] == speaker:
                return event

    async def closed(self, within: float = TIMEOUT) -> tuple[int, str]:
        """Skip events until the server closes; the close code and reason."""
        try:
            while True:
                await self._next(within)
        except Closed as closed:
            return closed.code, closed.reason

    def send_bytes(self, data: bytes) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "bytes": data})

    def send_text(self, text: str) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": text})

    async def disconnect(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, TIMEOUT)


class Api:
    """The REST API as the tests use it: accounts by handle, rooms by id."""

    def __init__(self, app: Litestar, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http
        self.tokens: dict[str, str] = {}
        self.sockets: list[RawSocket] = []

    async def account(self, handle: str, *, name: str | None = None) -> str:
        registered = await self.http.post("/api/v1/accounts", json={
            "handle": handle, "display_name": name or handle.title(), "password": "password1"})
        assert registered.status_code == 201, registered.text
        session = await self.http.post("/api/v1/sessions",
                                       json={"handle": handle, "password": "password1"})
        assert session.status_code == 201, session.text
        self.tokens[handle] = session.json()["token"]
        return self.tokens[handle]

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, path: str, who: str | None,
                   json: Any = None) -> httpx.Response:
        return await self.http.request(method, f"/api/v1{path}", headers=self.auth(who),
                                       json=json)

    async def ok(self, method: str, path: str, who: str | None, json: Any = None) -> Any:
        response = await self.call(method, path, who, json)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json() if response.content else None

    async def room(self, host: str, **fields: Any) -> str:
        room = await self.ok("POST", "/rooms", host, {"title": "A room", **fields})
        return str(room["id"])

    async def speaker(self, room: str, host: str, handle: str) -> None:
        """Invite `handle` and have them accept (with consent, which recorded rooms need)."""
        await self.ok("POST", f"/rooms/{room}/invitations", host, {"handle": handle})
        await self.ok("POST", f"/rooms/{room}/invitations/accept", handle, {"consent": True})

    async def cohost(self, room: str, host: str, handle: str) -> None:
        await self.speaker(room, host, handle)
        await self.ok("PUT", f"/rooms/{room}/roles/{handle}", host, {"role": "cohost"})

    def socket(self, room: str, stream: str, who: str | None = None, *, token: str | None = None,
               headers: list[tuple[bytes, bytes]] | None = None,
               stall_after: int | None = None) -> RawSocket:
        token = token if token is not None else self.tokens.get(who or "")
        query = f"token={token}" if token else ""
        sock = RawSocket(self.app, f"/api/v1/rooms/{room}/{stream}", query=query,
                         headers=headers, stall_after=stall_after)
        self.sockets.append(sock)
        return sock

    async def expire(self, handle: str) -> None:
        """Make every token of `handle` expired, as time passing would."""
        def update() -> None:
            with session_scope(self.app.state.engine) as session:
                for token in session.exec(select(AuthToken).join(Account).where(
                        Account.handle == handle)).all():
                    token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
                    session.add(token)

        await asyncio.to_thread(update)

    async def listen(self, room: str, who: str | None = None) -> RawSocket:
        """A caption socket that has joined: its snapshot's first event has arrived."""
        sock = self.socket(room, "captions", who)
        assert (await sock.receive_json())["type"] == "room"
        return sock

    async def close_sockets(self) -> None:
        for sock in self.sockets:
            if not sock.task.done():
                sock.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.gather(*(s.task for s in self.sockets), return_exceptions=True)


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[Api]:
    """The app started, and the API to call it, until the block ends."""
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
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            api = Api(app, http)
            try:
                yield api
            finally:
                await api.close_sockets()
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
