"""`roomscribe serve` as its own process on a temporary data folder, and people talking to it over
real sockets: speakers streaming human recordings in real time, a listener reading captions.

For the tests that need production end to end: uvicorn, the real model, a process that can be
killed. The in-process tests use `harness.py` instead.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from helpers.profile import server_env
from helpers.waiting import free_port

STARTUP = 120.0
"""Seconds a server may take to come up: it loads the model on a shared, busy machine."""
FRAME = 0.1
"""Seconds of audio in each frame, as a browser's mic capture sends them."""


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    data_dir: Path

    def kill(self) -> None:
        """SIGKILL: no lifespan exit, no flush, nothing but what was already written."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@contextmanager
def serving(data_dir: Path, log: Path, **env: str) -> Iterator[Server]:
    """A server on a free loopback port until the block ends (then stopped, if still alive).
    `env` adds `ROOMSCRIBE_*` settings."""
    port = free_port()
    environ = {**os.environ, "ROOMSCRIBE_DATA_DIR": str(data_dir), **server_env(data_dir), **env}
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "roomscribe", "serve", "--port", str(port)],
                                env=environ, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", proc, log, data_dir)
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                httpx.get(f"{server.url}/health", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def pcm16(audio: npt.NDArray[np.float32]) -> bytes:
    return (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()


@dataclass
class Heard:
    """What a listener received: caption events, and the close code."""

    events: list[dict[str, Any]] = field(default_factory=list)
    close: int | None = None
    epochs: list[str] = field(default_factory=list)
    """The caption numbering's epoch, from each `room` event."""
    others: list[dict[str, Any]] = field(default_factory=list)
    """Every other event (roster, pins, reactions), in order."""

    def last(self, kind: str) -> dict[str, Any] | None:
        """The latest event of type `kind` among the others."""
        return next((e for e in reversed(self.others) if e["type"] == kind), None)

    def finals(self, speaker: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "final"
                and (speaker is None or e["speaker"]["id"] == speaker)]


@dataclass
class Spoken:
    """One speaker's stream: where it began on the room clock and how much of it went out."""

    origin: float = 0.0
    """Room time the first frame was sent at."""
    sent: int = 0
    """Bytes of PCM whose frames were handed to the socket."""
    socket: ClientConnection | None = None


class Client:
    """The REST API and the sockets of one server, by account handle."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.tokens: dict[str, str] = {}
        self.started: dict[str, float] = {}
        """Room id → its start as a Unix time (room time = time.time() - started)."""

    async def account(self, handle: str, name: str) -> None:
        body = {"handle": handle, "display_name": name, "password": "password1"}
        (await self.http.post("/api/v1/accounts", json=body)).raise_for_status()
        await self.sign_in(handle)

    async def sign_in(self, handle: str) -> None:
        session = await self.http.post("/api/v1/sessions",
                                       json={"handle": handle, "password": "password1"})
        session.raise_for_status()
        self.tokens[handle] = session.json()["token"]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, path: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth(who), **kwargs.pop("headers", {})}
        return await self.http.get(f"/api/v1{path}", headers=headers, **kwargs)

    async def post(self, path: str, who: str, json: Any = None) -> Any:
        response = await self.http.post(f"/api/v1{path}", json=json, headers=self.auth(who))
        assert response.status_code < 300, response.text
        return response.json()

    async def recorded_room(self, host: str, speakers: list[str], title: str) -> str:
        room = await self.post("/rooms", host, {"title": title, "record": True})
        self.started[room["id"]] = datetime.fromisoformat(room["started_at"]).timestamp()
        for handle in speakers:
            await self.post(f"/rooms/{room['id']}/invitations", host, {"handle": handle})
            await self.post(f"/rooms/{room['id']}/invitations/accept", handle, {"consent": True})
        return str(room["id"])

    def room_time(self, room: str) -> float:
        return time.time() - self.started[room]

    def url(self, room: str, stream: str, who: str) -> str:
        base = str(self.http.base_url).replace("http://", "ws://").rstrip("/")
        return f"{base}/api/v1/rooms/{room}/{stream}?token={self.tokens[who]}"

    @asynccontextmanager
    async def listening(self, room: str, who: str, *, stay: bool = True) -> AsyncIterator[Heard]:
        """A listener reading the room's caption socket until it closes, or, if not `stay`,
        until the block ends (the listener leaves)."""
        heard, joined = Heard(), asyncio.Event()

        async def listen() -> None:
            async with connect(self.url(room, "captions", who)) as ws:
                try:
                    async for message in ws:
                        event = msgspec.json.decode(message)
                        joined.set()
                        if event["type"] in ("partial", "final"):
                            heard.events.append(event)
                        elif event["type"] == "room" and "epoch" in event:
                            heard.epochs.append(event["epoch"])
                        else:
                            heard.others.append(event)
                except ConnectionClosed:
                    pass  # the close code is read below
            heard.close = ws.close_code

        task = asyncio.create_task(listen())
        await asyncio.wait_for(joined.wait(), 10)
        try:
            yield heard
        finally:
            if not task.done() and stay:
                await asyncio.wait([task], timeout=60)
            task.cancel()

    async def speak(self, room: str, who: str, audio: npt.NDArray[np.float32],
                    spoken: Spoken | None = None) -> Spoken:
        """Stream `audio` in 100 ms frames, each when its time comes; the socket stays open.
        Progress is kept in `spoken` as it goes (for a stream cut short by a crash)."""
        spoken = spoken or Spoken()
        data, step = pcm16(audio), round(16_000 * FRAME) * 2
        spoken.socket = await connect(self.url(room, "audio", who))
        start = time.monotonic()
        spoken.origin = self.room_time(room)
        for n, offset in enumerate(range(0, len(data), step)):
            # Against the clock, not sleep after sleep, so a slow loop cannot stretch the audio.
            await asyncio.sleep(max(0.0, start + n * FRAME - time.monotonic()))
            await spoken.socket.send(data[offset: offset + step])
            spoken.sent = offset + len(data[offset: offset + step])
        return spoken


