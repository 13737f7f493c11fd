"""Live captions from ASR workers (`ROOMSCRIBE_ASR=workers`): the web process's `CaptionSource`
when the model runs elsewhere. Each speaker stream becomes a job for the workers (see
`captions.asr_jobs` for the protocol); the audio goes out and the caption events come back
through Redis, and are handed to the room's sink here, in order.

`push` never blocks the event loop: audio is buffered and sent by the stream's own task every
`FLUSH_EVERY` seconds (one Redis entry per flush).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from redis.exceptions import RedisError

from roomscribe.asr.engine import Task
from roomscribe.captions import asr_jobs
from roomscribe.captions.events import CaptionSink, Speaker
from roomscribe.pcm import SAMPLE_RATE, to_bytes

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

FLUSH_EVERY = 0.1
"""Seconds of buffering before audio goes to Redis: a browser's frame, at most."""
READ_BLOCK_MS = 1000


class RemoteCaptions:
    """Opens speaker streams on the ASR workers."""

    def __init__(self, redis: Redis, *, prefix: str = asr_jobs.PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._streams: dict[str, RemoteStream] = {}
        """Events key → the stream whose captions arrive there."""
        self._reader: asyncio.Task[None] | None = None

    async def ready(self, language: str | None, task: Task = "transcribe") -> None:
        return None  # the workers load what their streams need

    def open(self, *, room: str, speaker: Speaker, origin: float, sink: CaptionSink,
             language: str | None = "en", task: Task = "transcribe") -> RemoteStream:
        stream = RemoteStream(self, room=room, speaker=speaker, origin=origin, sink=sink,
                              language=language, task=task)
        self._streams[stream.events] = stream
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="asr-captions")
        return stream

    def _drop(self, stream: RemoteStream) -> None:
        self._streams.pop(stream.events, None)

    async def _read(self) -> None:
        """Every open stream's caption events, through one blocking read at a time (one Redis
        connection for all of them), handed to each stream's sink in order."""
        while self._streams:
            keys: Any = {key: stream.last for key, stream in self._streams.items()}
            try:
                answer: Any = await self.redis.xread(keys, block=READ_BLOCK_MS, count=100)
            except (ConnectionError, OSError, RedisError):
                log.warning("reading captions from the ASR workers failed; retrying")
                await asyncio.sleep(0.5)
                continue
            for key, entries in answer or []:
                stream = self._streams.get(key.decode() if isinstance(key, bytes) else key)
                if stream is not None:
                    await stream.deliver(entries)

    def forget(self, room: str) -> None:
        pass  # the numbering is the workers' (in Redis), and keys expire

    async def close(self) -> None:
        """Stop relaying (the process is stopping); the workers finish what they have."""
        for stream in list(self._streams.values()):
            await stream.cancel()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.redis.aclose()


class RemoteStream:
    """One speaker stream whose captions a worker makes."""

    def __init__(self, source: RemoteCaptions, *, room: str, speaker: Speaker, origin: float,
                 sink: CaptionSink, language: str | None = "en",
                 task: Task = "transcribe") -> None:
        self.source = source
        self.language = language
        self.task = task
        self.id = uuid.uuid4().hex
        self.room = room
        self.speaker = speaker
        self.origin = origin
        self.sink = sink
        self.events = asr_jobs.events_key(self.id, source.prefix)
        self.last = "0"
        """The last caption entry delivered."""
        self._buffer: list[bytes] = []
        self._buffered_at = origin
        """Room time of the buffer's first sample."""
        self._ending = False
        self._wake = asyncio.Event()
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sender = asyncio.create_task(self._send(), name=f"asr-send-{self.id}")

    def push(self, pcm: npt.NDArray[np.float32]) -> None:
        if self._ending:
            raise RuntimeError("push() after finish()")
        # Back to the bytes the speaker sent (exactly: they were 16-bit samples).
        self._buffer.append(to_bytes(pcm))

    def set_language(self, language: str) -> None:
        # Sent with the audio from the next flush on: the worker applies it where it falls in
        # the speech, and a worker taking the stream over hears it again.
        self.language = language

    async def finish(self) -> None:
        self._ending = True
        self._wake.set()
        await asyncio.shield(self._done)

    async def cancel(self) -> None:
        self._sender.cancel()
        await asyncio.gather(self._sender, return_exceptions=True)
        self._end()

    def _end(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
        self.source._drop(self)

    async def _send(self) -> None:
        redis, prefix = self.source.redis, self.source.prefix
        audio = asr_jobs.audio_key(self.id, prefix)
        await redis.xadd(asr_jobs.jobs_key(prefix), {
            "stream": self.id, "room": self.room, "speaker_id": self.speaker.id,
            "speaker_name": self.speaker.name, "origin": repr(self.origin),
            "language": self.language or "", "task": self.task})
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_EVERY)
            ending = self._ending
            if self._buffer:
                pcm, self._buffer = b"".join(self._buffer), []
                at = self._buffered_at
                self._buffered_at += len(pcm) / 2 / SAMPLE_RATE
                await self._append(audio, {"pcm": pcm, "at": repr(at),
                                           "language": self.language or ""})
            if ending:
                await self._append(audio, {"end": "1"})
                return

    async def _append(self, key: str, fields: dict[str, bytes | str]) -> None:
        # Retried: a Redis that blinks must not lose a speaker's audio.
        for attempt in range(50):
            try:
                async with self.source.redis.pipeline(transaction=True) as pipe:
                    pipe.xadd(key, fields)  # type: ignore[arg-type]
                    pipe.expire(key, asr_jobs.KEEP_SECONDS)
                    await pipe.execute()
                return
            except Exception:
                if attempt == 49:
                    raise
                log.warning("sending audio of stream %s failed; retrying", self.id,
                            exc_info=attempt == 0)
                await asyncio.sleep(0.2)

    async def deliver(self, entries: list[tuple[Any, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in entries:
            self.last = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if b"done" in fields:
                await self.source.redis.delete(self.events)
                self._end()
                return
            try:
                await self.sink(asr_jobs.decode_event(fields[b"event"]))
            except Exception:
                log.exception("caption sink failed (stream %s)", self.id)
