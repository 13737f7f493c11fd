"""An ASR worker (`roomscribe worker`): the live engine where the model is, serving the speaker
streams web processes open through Redis (the protocol is in `captions.asr_jobs`).

A worker takes new streams while it has room (`capacity`), claims its streams again every
`HEARTBEAT` seconds, and takes over streams whose worker stopped claiming them for `TAKEOVER`
seconds (a worker killed mid-room): it resumes each from the audio after the last final its
events hold, so captions go on where they stopped and no received audio is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, ResponseError

from roomscribe.asr.engine import Task
from roomscribe.captions import asr_jobs
from roomscribe.captions.events import CaptionEvent, LiveStream, Speaker
from roomscribe.captions.languages import LanguageEngines
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.pcm import SAMPLE_RATE, to_float

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

READ_BLOCK_MS = 500
ABANDONED_AFTER = 60.0
"""Seconds without audio after which a stream's web process is taken to be gone: a speaker's
client sends audio all the time (silence too) and a muted one's stream is ended, so only a web
process that stopped without ending its streams leaves one silent. Its captions are flushed."""
STOP_GRACE = 10.0
"""Seconds a stopping worker lets its streams run to their end; the rest it leaves unacknowledged
for another worker to take over, from the last final."""
LOAD_DELAY = 0.05
"""Seconds a worker waits before asking for a new stream, per stream it serves already."""


@dataclass(frozen=True, slots=True)
class Job:
    entry: str
    """The stream's entry id in the jobs stream."""
    stream: str
    room: str
    speaker: Speaker
    origin: float
    language: str | None = "en"
    """None: detect it."""
    task: Task = "transcribe"

    @classmethod
    def from_entry(cls, entry_id: Any, fields: dict[Any, Any]) -> Job:
        def text(name: str) -> str:
            return asr_jobs.text(fields, name)

        return cls(entry=entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id),
                   stream=text("stream"), room=text("room"),
                   speaker=Speaker(text("speaker_id"), text("speaker_name")),
                   origin=float(text("origin")),
                   language=asr_jobs.text(fields, "language", "en") or None,
                   task=("translate" if asr_jobs.text(fields, "task", "transcribe") == "translate"
                         else "transcribe"))


class CaptionWorker:
    """Serves speaker streams from Redis with `engine` until `stop()`."""

    def __init__(self, redis: Redis, engine: LiveEngine | LanguageEngines, *, capacity: int = 16,
                 name: str | None = None, prefix: str = asr_jobs.PREFIX,
                 heartbeat: float = asr_jobs.HEARTBEAT,
                 takeover: float = asr_jobs.TAKEOVER,
                 abandoned_after: float = ABANDONED_AFTER,
                 stop_grace: float = STOP_GRACE) -> None:
        self.redis = redis
        self.engine = engine
        self.capacity = capacity
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.takeover = takeover
        self.abandoned_after = abandoned_after
        self.stop_grace = stop_grace
        self._jobs: dict[str, asyncio.Task[None]] = {}
        """Entry id → the task serving that stream."""
        self._stopping = asyncio.Event()
        self.resumed: list[str] = []
        """Streams this worker took over from another (for logs and tests)."""

    @property
    def jobs(self) -> str:
        return asr_jobs.jobs_key(self.prefix)

    async def run(self) -> None:
        with contextlib.suppress(ResponseError):  # the group exists already
            await self.redis.xgroup_create(self.jobs, asr_jobs.GROUP, id="0", mkstream=True)
        log.info("ASR worker %s serving up to %d streams", self.name, self.capacity)
        beating = asyncio.create_task(self._beat(), name="asr-heartbeat")
        try:
            while not self._stopping.is_set():
                try:
                    await self._take_new()
                except (ConnectionError, OSError, RedisError):
                    log.warning("reading jobs failed; retrying", exc_info=True)
                    await asyncio.sleep(0.5)
        finally:
            serving = list(self._jobs.values())
            if serving:
                _, unfinished = await asyncio.wait(serving, timeout=self.stop_grace)
                for task in unfinished:  # not acknowledged: another worker takes it over
                    task.cancel()
                await asyncio.gather(*serving, return_exceptions=True)
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)

    def stop(self) -> None:
        """Finish: take nothing new; the streams served now are served to their end, for up to
        `stop_grace` seconds."""
        self._stopping.set()

    async def _take_new(self) -> None:
        if len(self._jobs) >= self.capacity:
            await asyncio.sleep(READ_BLOCK_MS / 1000)
            return
        # One stream at a time, and the busier this worker the later it asks: Redis hands a new
        # stream to the worker that has waited longest, so streams spread over the workers
        # instead of all going to whichever asked first.
        await asyncio.sleep(LOAD_DELAY * len(self._jobs))
        answer: Any = await self.redis.xreadgroup(asr_jobs.GROUP, self.name, {self.jobs: ">"},
                                                  count=1, block=READ_BLOCK_MS)
        for _, entries in answer or []:
            for entry_id, fields in entries:
                self._serve(Job.from_entry(entry_id, fields), resumed=False)

    async def _beat(self) -> None:
        """Claim our streams again (their idle time restarts) and take over orphaned ones."""
        while True:
            try:
                # Seen by operators and tests: which workers are alive, and how busy.
                await self.redis.set(asr_jobs.worker_key(self.name, self.prefix),
                                     f"{len(self._jobs)}/{self.capacity}",
                                     px=int(self.takeover * 1000))
                if self._jobs:
                    await self._keep_ours()
                free = self.capacity - len(self._jobs)
                if free > 0 and not self._stopping.is_set():
                    claim: Any = await self.redis.xautoclaim(
                        self.jobs, asr_jobs.GROUP, self.name, int(self.takeover * 1000),
                        start_id="0-0", count=free)
                    for entry_id, fields in claim[1]:
                        if fields:  # an entry deleted meanwhile comes back empty
                            self._serve(Job.from_entry(entry_id, fields), resumed=True)
            except (ConnectionError, OSError, RedisError):
                log.warning("ASR heartbeat failed; retrying", exc_info=True)
            await asyncio.sleep(self.heartbeat)

    async def _keep_ours(self) -> None:
        """Claim our streams again; stop serving any another worker took over meanwhile (this
        one was too slow to claim it in time), so a stream never has two servers for long."""
        pending: Any = await self.redis.xpending_range(
            self.jobs, asr_jobs.GROUP, "-", "+", self.capacity * 4, consumername=self.name)
        ours = {p["message_id"].decode() if isinstance(p["message_id"], bytes)
                else str(p["message_id"]) for p in pending}
        for entry, task in list(self._jobs.items()):
            if entry not in ours:
                log.warning("stream entry %s was taken over by another worker", entry)
                task.cancel()
                self._jobs.pop(entry, None)
        kept: list[Any] = sorted(ours & set(self._jobs))
        if kept:
            await self.redis.xclaim(self.jobs, asr_jobs.GROUP, self.name, 0, kept, justid=True)

    def _serve(self, job: Job, *, resumed: bool) -> None:
        if job.entry in self._jobs:
            return
        if resumed:
            self.resumed.append(job.stream)
            log.info("taking over stream %s of room %s", job.stream, job.room)
        task = asyncio.create_task(self._run(job), name=f"asr-{job.stream}")
        self._jobs[job.entry] = task
        task.add_done_callback(lambda _: self._jobs.pop(job.entry, None))

    async def _run(self, job: Job) -> None:
        try:
            await _Serving(self, job).run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Left unacknowledged: another worker (or this one) takes it over after TAKEOVER.
            log.exception("serving stream %s failed", job.stream)
            await asyncio.sleep(self.takeover)


class _Serving:
    """One stream on this worker: audio in from Redis, caption events out to Redis."""

    def __init__(self, worker: CaptionWorker, job: Job) -> None:
        self.worker = worker
        self.redis = worker.redis
        self.job = job
        self.audio = asr_jobs.audio_key(job.stream, worker.prefix)
        self.events = asr_jobs.events_key(job.stream, worker.prefix)
        self._read: list[tuple[str, float]] = []
        """(audio entry id, its room time) of entries pushed and not yet trimmed."""

    async def run(self) -> None:
        resume_at = await self._last_final_end()
        origin = self.job.origin if resume_at is None else resume_at
        await self.worker.engine.ready(self.job.language, self.job.task)
        stream = self.worker.engine.open(room=self.job.room, speaker=self.job.speaker,
                                         origin=origin, sink=self._publish,
                                         language=self.job.language, task=self.job.task)
        await self._feed(stream, resume_at)
        await stream.finish()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.events, {"done": "1"})
            pipe.expire(self.events, asr_jobs.KEEP_SECONDS)
            pipe.xack(self.worker.jobs, asr_jobs.GROUP, self.job.entry)
            pipe.xdel(self.worker.jobs, self.job.entry)
            pipe.delete(self.audio)
            await pipe.execute()

    async def _last_final_end(self) -> float | None:
        """Where captions stopped: the `end` of the last final already sent, if any."""
        last = "+"
        while True:
            entries: Any = await self.redis.xrevrange(self.events, max=last, count=100)
            if not entries:
                return None
            for _, fields in entries:
                if b"event" in fields:
                    event = asr_jobs.decode_event(fields[b"event"])
                    if event.type == "final":
                        return event.end
            last = "(" + entries[-1][0].decode()

    async def _feed(self, stream: LiveStream, resume_at: float | None) -> None:
        last = "0"
        heard = time.monotonic()
        language = self.job.language
        while True:
            answer: Any = await self.redis.xread({self.audio: last}, block=READ_BLOCK_MS,
                                                 count=50)
            if answer:
                heard = time.monotonic()
            elif time.monotonic() - heard > self.worker.abandoned_after:
                log.warning("stream %s sent no audio for %.0f s (its web process is gone): "
                            "finishing it", self.job.stream, self.worker.abandoned_after)
                return
            for _, entries in answer or []:
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    if b"end" in fields:
                        return
                    at = float(fields[b"at"])
                    pcm = to_float(fields[b"pcm"])
                    said = fields.get(b"language", b"").decode()
                    if said and said != language:  # the speaker or a host corrected it
                        language = said
                        stream.set_language(said)
                    if resume_at is not None:
                        # Taking over: what the last final covered was captioned already.
                        skip = round((resume_at - at) * SAMPLE_RATE)
                        if skip >= len(pcm):
                            continue
                        if skip > 0:
                            pcm, at = pcm[skip:], resume_at
                        resume_at = None
                    self._read.append((last, at))
                    stream.push(pcm)

    async def _publish(self, event: CaptionEvent) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.events, {"event": asr_jobs.encode_event(event)})
            pipe.expire(self.events, asr_jobs.KEEP_SECONDS)
            if event.type == "final":
                # The audio before this final's end is captioned for good: trim it.
                covered = [entry for entry, at in self._read if at <= event.end]
                if len(covered) > 1:
                    pipe.xtrim(self.audio, minid=covered[-1])
                    self._read = self._read[len(covered) - 1:]
            await pipe.execute()
