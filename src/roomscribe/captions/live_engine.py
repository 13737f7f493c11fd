"""The live caption engine: one Whisper model shared by every speaker stream of every room.

- One model, a bounded pool: `workers` threads, each driving one CTranslate2 replica of
  `cpu_threads` threads, with workers × cpu_threads ≤ cores (`Transcriber.from_settings` sizes
  them; `scripts/bench_live.py` compares 2 × 1 with 1 × 2 on this machine).
- Fair scheduling: a stream is due once it has `poll` seconds of unheard audio (voice activity
  runs; Whisper only once `interval` seconds of new speech are in), or when it is finishing. Free
  workers take the due streams that are furthest behind first; when more are due than workers are
  free, several streams' windows share one batched model call.
- Overload degrades gracefully: streams about to flush finals go first; a stream that waits piles
  up audio, so its next update covers all of it (a longer update interval, the partials in between
  never computed), and an utterance that ended inside it is flushed as final in the same step.
  Audio is only appended, never dropped.
- The event loop only appends audio and hands events on; voice activity, Whisper and
  LocalAgreement run in the worker threads. Each room's events leave in `seq` order, one at a time,
  from one delivery task per room, so a slow listener delays only its own room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from roomscribe.asr.engine import Hypothesis, Task, Transcriber, Window, needs_multilingual
from roomscribe.asr.streaming import (
    Caption,
    SpeechDetector,
    StreamConfig,
    StreamingSession,
)
from roomscribe.asr.vad import SileroVad
from roomscribe.captions.events import CaptionEvent, CaptionSink, LiveStream, Speaker
from roomscribe.captions.numbering import MemoryNumbering, Numbering
from roomscribe.config import Settings
from roomscribe.errors import ModelUnavailable, Unavailable

log = logging.getLogger(__name__)

UNNUMBERED = -1
"""An event's `seq` until its room's outbox numbers it on the way out."""
DETECT_SECONDS = 3.0
"""Speech heard before a stream's detected language is settled (Whisper's language guess on a
second of speech is often wrong; on three, right for every clip of the multilingual corpus)."""
DETECT_SURE = 0.9
"""A guess this confident settles the language sooner."""


class Hypothesizer(Protocol):
    """What the engine needs of a model: `Transcriber`, or the tests' `FakeTranscriber`."""

    num_workers: int
    """How many calls may run at once (CTranslate2 replicas); the engine's pool size."""

    def hypothesize(self, windows: Sequence[Window], *, beam_size: int = 1) -> list[Hypothesis]:
        """One hypothesis per window, in order; blocking (called from the engine's pool)."""

    def detect_language(self, audio: npt.NDArray[np.float32]) -> tuple[str, float]:
        """The language spoken, and how sure; blocking."""


@dataclass(slots=True)
class EngineStats:
    """Counters for benchmarks and health checks, updated on the event loop."""

    batches: int = 0
    """Worker jobs that ran the model."""
    windows: int = 0
    """Windows transcribed (a batch holds one or more)."""
    busy_seconds: float = 0.0
    """Wall time workers spent in jobs, summed over workers."""
    window_seconds: float = 0.0
    """Audio in the windows transcribed, summed: what the model was asked to hear."""
    max_backlog: float = 0.0
    """The furthest any stream fell behind, in seconds of audio not yet heard."""
    pushed_seconds: float = 0.0
    """Audio pushed into streams that have finished."""
    heard_seconds: float = 0.0
    """Of that, audio voice activity and Whisper got to (all of it, unless something is wrong)."""


class LiveEngine:
    """Opens live caption streams; see the module docstring. Use from one event loop."""

    def __init__(self, transcriber: Hypothesizer, *, config: StreamConfig | None = None,
                 beam_size: int = 5, max_batch: int = 8,
                 detector: Callable[[], SpeechDetector] = SileroVad,
                 numbering: Numbering | None = None) -> None:
        self.transcriber = transcriber
        self.config = config or StreamConfig()
        self.beam_size = beam_size
        self.max_batch = max_batch
        self.workers = max(1, transcriber.num_workers)
        self.numbering = numbering or MemoryNumbering()
        self.stats = EngineStats()
        self._detector = detector
        self._streams: set[_Stream] = set()
        self._rooms: dict[str, _Outbox] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}
        """Delivery tasks of rooms whose streams all ended, until their last events are out."""
        self._busy = 0
        self._pool: ThreadPoolExecutor | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self._closing = False

    @classmethod
    def from_settings(cls, settings: Settings, *, workers: int = 2,
                      config: StreamConfig | None = None,
                      numbering: Numbering | None = None,
                      transcriber: Transcriber | None = None,
                      model: str | None = None) -> LiveEngine:
        """An engine over its own model (`workers` replicas of asr_threads // workers threads),
        or over `transcriber`, shared with final passes."""
        workers = max(1, min(workers, settings.asr_threads))
        config = config or StreamConfig(max_backlog=settings.max_stream_backlog_seconds)
        return cls(transcriber or Transcriber.from_settings(settings, num_workers=workers,
                                                            model=model),
                   config=config, numbering=numbering)

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("LiveEngine already started")
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="live-asr")
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._schedule(), name="live-captions")

    async def close(self) -> None:
        """Flush every open stream (its last finals reach its sink), then stop the workers."""
        if self._task is None:
            return
        self._closing = True
        await asyncio.gather(*(s.finish() for s in list(self._streams)), return_exceptions=True)
        await asyncio.gather(*self._jobs, return_exceptions=True)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        for outbox in list(self._rooms.values()):
            outbox.retire()
        await asyncio.gather(*(o.task for o in self._rooms.values()), *self._draining.values())
        self._rooms.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._task = self._pool = self._wake = None

    async def __aenter__(self) -> LiveEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ready(self, language: str | None, task: Task = "transcribe") -> None:
        """Streams this engine's model cannot hear are refused here, before any audio."""
        if needs_multilingual(language, task) and \
                not getattr(self.transcriber, "multilingual", False):
            raise ModelUnavailable("this live engine's model hears English only")

    def open(self, *, room: str, speaker: Speaker, origin: float, sink: CaptionSink,
             language: str | None = "en", task: Task = "transcribe") -> LiveStream:
        """A stream for one speaker; `origin` is the room time of its first sample. `language`
        None: detected from the speaker's first seconds of speech (`DETECT_SECONDS`)."""
        if self._task is None or self._closing:
            raise RuntimeError("LiveEngine is not running: await start() first")
        outbox = self._rooms.get(room)
        if outbox is None:
            # After the room's previous outbox (if still draining), so `seq` order holds.
            outbox = self._rooms[room] = _Outbox(room, self.numbering,
                                                 after=self._draining.get(room))
        session = StreamingSession(self._detector(), origin=origin, config=self.config,
                                   language=language, task=task)
        stream = _Stream(self, room, speaker, sink, session, outbox)
        outbox.streams += 1
        self._streams.add(stream)
        return stream

    def forget(self, room: str) -> None:
        """The room has ended: drop its `seq` count."""
        self.numbering.forget(room)

    # -- scheduling (event loop) ----------------------------------------------------------------

    def _wakeup(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _schedule(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._dispatch()

    def _dispatch(self) -> None:
        free = self.workers - self._busy
        due = [s for s in self._streams if s.due] if free > 0 else []
        if not due:
            return
        # Finals first: someone awaits a finishing stream, and a pausing one is about to flush;
        # then whoever is furthest behind.
        due.sort(key=lambda s: (not s.finishing, not s.session.pausing, -s.session.backlog))
        size = min(self.max_batch, -(-len(due) // free))
        for i in range(0, min(len(due), free * size), size):
            batch = due[i: i + size]
            for stream in batch:
                stream.busy = True
            self._busy += 1
            job = asyncio.create_task(self._run(batch))
            self._jobs.add(job)
            job.add_done_callback(self._jobs.discard)

    async def _run(self, batch: list[_Stream]) -> None:
        for stream in batch:
            self.stats.max_backlog = max(self.stats.max_backlog, stream.session.backlog)
        loop = asyncio.get_running_loop()
        try:
            job = await loop.run_in_executor(self._pool, self._work, batch)
        finally:
            self._busy -= 1
            for stream in batch:
                stream.busy = False
        self.stats.batches += job.windows > 0
        self.stats.windows += job.windows
        self.stats.busy_seconds += job.seconds
        self.stats.window_seconds += job.window_seconds
        for stream, err in job.failed.items():
            stream.fail(err)
        for stream, captions in job.captions.items():
            stream.emit(captions)
        self._wakeup()

    # -- one job (worker thread) ----------------------------------------------------------------

    def _work(self, batch: list[_Stream]) -> _Job:
        started = time.perf_counter()
        job = _Job()
        windows: list[Window] = []
        owners: list[_Stream] = []
        for stream in batch:
            try:
                window = stream.session.prepare()
            except Exception as err:  # a bug: fail this stream, not its batch or the engine
                log.exception("live caption stream failed (room %s)", stream.room)
                job.failed[stream] = err
                continue
            job.captions[stream] = []
            if window is not None:
                if stream.session.language is None:
                    window = self._detect(stream, window)
                windows.append(window)
                owners.append(stream)
        if windows:
            try:
                hyps = self.transcriber.hypothesize(windows, beam_size=self.beam_size)
            except Exception:
                # The model failed (out of memory, say): these windows count as heard, with no
                # words, so the sessions stay consistent and the next audio is tried afresh.
                log.exception("live transcription of %d windows failed", len(windows))
                hyps = [Hypothesis()] * len(windows)
            for stream, hyp in zip(owners, hyps, strict=True):
                try:
                    job.captions[stream] = stream.session.accept(hyp)
                except Exception as err:
                    log.exception("live caption stream failed (room %s)", stream.room)
                    del job.captions[stream]
                    job.failed[stream] = err
        job.windows = len(windows)
        job.window_seconds = sum(w.duration for w in windows)
        job.seconds = time.perf_counter() - started
        return job

    def _detect(self, stream: _Stream, window: Window) -> Window:
        """Hear the window in the language it sounds like; once the speaker has said enough
        (or the utterance ended), that is the stream's language from then on."""
        try:
            language, confidence = self.transcriber.detect_language(window.audio)
        except Exception:
            log.exception("detecting the language of a live stream failed (room %s)", stream.room)
            language, confidence = "en", 0.0
        if window.final or window.duration >= DETECT_SECONDS or confidence >= DETECT_SURE:
            stream.session.language = language
        return replace(window, language=language)

    def _closed(self, stream: _Stream) -> None:
        if stream not in self._streams:
            return
        self._streams.discard(stream)
        self.stats.pushed_seconds += stream.session.pushed
        self.stats.heard_seconds += stream.session.heard
        outbox = stream.outbox
        outbox.streams -= 1
        if outbox.streams == 0 and self._rooms.get(stream.room) is outbox:
            # Its last events are queued; the task ends once they are out.
            del self._rooms[stream.room]
            outbox.retire()
            self._draining[stream.room] = outbox.task
            outbox.task.add_done_callback(lambda task: self._undrain(stream.room, task))

    def _undrain(self, room: str, task: asyncio.Task[None]) -> None:
        if self._draining.get(room) is task:
            del self._draining[room]


@dataclass(slots=True)
class _Job:
    """What one worker job did, handed back to the event loop."""

    captions: dict[_Stream, list[Caption]] = field(default_factory=dict)
    failed: dict[_Stream, Exception] = field(default_factory=dict)
    windows: int = 0
    window_seconds: float = 0.0
    seconds: float = 0.0


class _Stream:
    """The `LiveStream` the engine hands out: audio in on the loop, events out via the outbox."""

    def __init__(self, engine: LiveEngine, room: str, speaker: Speaker, sink: CaptionSink,
                 session: StreamingSession, outbox: _Outbox) -> None:
        self.engine = engine
        self.room = room
        self.speaker = speaker
        self.sink = sink
        self.session = session
        self.outbox = outbox
        self.busy = False
        self.finishing = False
        self._finished: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    @property
    def due(self) -> bool:
        return not self.busy and self._error is None and (
            self.finishing or self.session.backlog >= self.engine.config.poll)

    def push(self, pcm: npt.NDArray[np.float32]) -> None:
        if self._error is not None:
            raise RuntimeError("this caption stream failed") from self._error
        if self.finishing:
            raise RuntimeError("push() after finish()")
        if self.session.backlog >= self.engine.config.max_backlog:
            raise Unavailable(f"captions cannot keep up with this speaker ("
                              f"{self.session.backlog:.0f} s of audio not yet heard)",
                              retry_after=self.session.backlog)
        self.session.push(pcm)
        if self.due:
            self.engine._wakeup()

    async def finish(self) -> None:
        if self._finished is None:
            self._finished = asyncio.get_running_loop().create_future()
            if self._error is not None:
                self._finished.set_exception(self._error)
            else:
                self.finishing = True
                self.session.end()
                self.engine._wakeup()
        # Shielded: a caller cancelled while waiting must not cancel the flush for the others.
        await asyncio.shield(self._finished)

    def set_language(self, language: str) -> None:
        self.session.language = language

    def emit(self, captions: list[Caption]) -> None:
        task = self.session.task
        lang = "en" if task == "translate" else self.session.language or "und"
        for caption in captions:
            self.outbox.put(self.sink, CaptionEvent(
                type="final" if caption.final else "partial", room=self.room,
                seq=UNNUMBERED, speaker=self.speaker,
                start=caption.start, end=caption.end, text=caption.text, words=caption.words,
                lang=lang, task=task))
        if self.finishing and self.session.done and self._finished is not None:
            self.outbox.put_marker(self._finished)
            self.engine._closed(self)

    def fail(self, err: BaseException) -> None:
        self._error = err
        if self._finished is not None and not self._finished.done():
            self._finished.set_exception(err)
        self.engine._closed(self)


class _Outbox:
    """One room's events, numbered and awaited into their sinks one at a time, in order: the
    number is taken as the event leaves (it may come from Redis), so `seq` order is delivery
    order."""

    def __init__(self, room: str, numbering: Numbering, *,
                 after: asyncio.Task[None] | None) -> None:
        self.room = room
        self.numbering = numbering
        self.streams = 0
        self._after = after
        self._queue: asyncio.Queue[tuple[CaptionSink, CaptionEvent] | asyncio.Future[None] | None]
        self._queue = asyncio.Queue()
        self.task = asyncio.create_task(self._deliver(), name=f"captions-{room}")

    def put(self, sink: CaptionSink, event: CaptionEvent) -> None:
        self._queue.put_nowait((sink, event))

    def put_marker(self, done: asyncio.Future[None]) -> None:
        """Resolve `done` once every event queued before it is delivered."""
        self._queue.put_nowait(done)

    def retire(self) -> None:
        """Deliver what is queued, then end."""
        self._queue.put_nowait(None)

    async def _deliver(self) -> None:
        if self._after is not None:
            await self._after
        while (item := await self._queue.get()) is not None:
            if isinstance(item, asyncio.Future):
                if not item.done():
                    item.set_result(None)
                continue
            sink, event = item
            try:
                event = replace(event, seq=await self.numbering.next(self.room))
                await sink(event)
            except Exception:
                # A broken listener must not stop the room's captions.
                log.exception("caption delivery failed (room %s, seq %d)", self.room, event.seq)
