"""Speaker audio: frame checks, PCM decoding, and the two seams each accepted chunk goes through.

A frame is one binary WebSocket message of 16-bit little-endian mono PCM at 16 kHz lasting
20–200 ms: 640–6400 bytes, an even count. A shorter frame is accepted only as the last one of a
stream (a client flushing its buffer as it stops); another frame after it is refused. The first
frame is also refused when it starts like an audio container (WAV, Ogg, FLAC, WebM, MP3 tags):
sending an encoded file is the usual client mistake, and raw PCM that happens to begin with one of
these four-byte tags is vanishingly unlikely.

The seams:

- `CaptionSource.open(room=, speaker=, origin=, sink=) -> LiveStream` and `forget(room)`: the live
  caption engine (`roomscribe.captions.live_engine.LiveEngine` in production, wired by `app.py`).
- `AudioSink.open(room=, speaker=, origin=) -> AudioTrack`: where a recorded room's audio is
  written (the recordings domain); `NullAudioSink` records nothing.

`SpeakerFeed.accept` is the one place a decoded chunk goes: it pushes it to the speaker's caption
stream and, in a recorded room, to the speaker's track.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from roomscribe.asr.engine import Task
from roomscribe.captions.events import CaptionSink, LiveStream, Speaker
from roomscribe.errors import InvalidInput, RateLimited, TooLarge
from roomscribe.pcm import BYTES_PER_SAMPLE, SAMPLE_RATE, to_float

MIN_FRAME_BYTES = SAMPLE_RATE * BYTES_PER_SAMPLE * 20 // 1000
MAX_FRAME_BYTES = SAMPLE_RATE * BYTES_PER_SAMPLE * 200 // 1000
_CONTAINER_TAGS = {b"RIFF": "WAV", b"OggS": "Ogg", b"fLaC": "FLAC", b"\x1aE\xdf\xa3": "WebM",
                   b"ID3\x03": "MP3", b"ID3\x04": "MP3"}


class CaptionSource(Protocol):
    """Opens one live caption stream per speaker and track."""

    async def ready(self, language: str | None, task: Task = "transcribe") -> None:
        """Make streams of `language` (None: detected) and `task` possible (load the model
        they need); `ModelUnavailable` if this server cannot caption them."""

    def open(self, *, room: str, speaker: Speaker, origin: float, sink: CaptionSink,
             language: str | None = "en", task: Task = "transcribe") -> LiveStream:
        """`origin` is the room time (seconds since the room started) of the first sample."""

    def forget(self, room: str) -> None:
        """The room has ended: drop what was kept for it across streams (its `seq` count)."""


class AudioTrack(Protocol):
    """One speaker's audio in one recorded room, from `origin` on."""

    def write(self, pcm: bytes) -> None:
        """Append 16-bit LE mono 16 kHz PCM as received. Must not block the event loop."""

    async def close(self) -> None:
        """Make everything written so far durable."""


class AudioSink(Protocol):
    def open(self, *, room: str, speaker: Speaker, origin: float) -> AudioTrack: ...


class NullAudioSink:
    """Records nothing: the default until the recordings domain provides a sink."""

    def open(self, *, room: str, speaker: Speaker, origin: float) -> AudioTrack:
        return _NullTrack()


class _NullTrack:
    def write(self, pcm: bytes) -> None:
        return None

    async def close(self) -> None:
        return None


class FrameChecker:
    """Applies the frame rules above to one stream, frame by frame."""

    def __init__(self) -> None:
        self._first = True
        self._short_seen = False

    def check(self, frame: bytes | None) -> None:
        if frame is None:
            raise InvalidInput("audio frames must be binary messages")
        size = len(frame)
        if size == 0:
            raise InvalidInput("empty audio frame")
        if size % BYTES_PER_SAMPLE:
            raise InvalidInput("not 16-bit PCM: odd number of bytes in the frame")
        if size > MAX_FRAME_BYTES:
            raise TooLarge(f"frame of {size} bytes is longer than 200 ms "
                           f"({MAX_FRAME_BYTES} bytes)")
        if self._short_seen:
            raise InvalidInput("only the last frame may be shorter than 20 ms")
        if self._first:
            kind = _CONTAINER_TAGS.get(frame[:4])
            if kind is not None:
                raise InvalidInput(f"this is {kind} data; send raw 16-bit 16 kHz mono PCM")
            self._first = False
        self._short_seen = size < MIN_FRAME_BYTES


class Pacer:
    """Holds a speaker to real time: a token bucket of `burst` seconds of audio, refilled by
    the wall clock. A client may run ahead by network jitter, not flood the caption engine
    (whose scheduler serves the longest backlog first) or the recording."""

    def __init__(self, burst: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at: float | None = None

    def idle(self, now: float) -> float:
        """Seconds since the last frame (0 before the first)."""
        return 0.0 if self._at is None else now - self._at

    def take(self, frame: bytes) -> None:
        """Count a frame's audio; RateLimited once the socket is more than `burst` ahead."""
        now = self._clock()
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at))
        self._at = now
        self._tokens -= len(frame) / (SAMPLE_RATE * BYTES_PER_SAMPLE)
        if self._tokens < -1e-9:  # exactly the burst is allowed, whatever the rounding
            raise RateLimited(f"audio is arriving faster than real time (more than "
                              f"{self.burst:g} s ahead); send it as it is spoken",
                              retry_after=-self._tokens)


class SpeakerFeed:
    """One speaker's audio path while their socket is open.

    Streams open lazily at the first chunk, and close while the speaker is muted, so the time
    stamps of a stream stay room time: a new stream starts at the room time it resumes.
    """

    def __init__(self, *, room: str, speaker: Speaker, captions: CaptionSource,
                 sink: CaptionSink, recorder: AudioSink | None,
                 room_time: Callable[[], float],
                 tracks: Sequence[tuple[str | None, Task]] = (("en", "transcribe"),)) -> None:
        self.room = room
        self.speaker = speaker
        self._captions = captions
        self._sink = sink
        self._recorder = recorder
        self._room_time = room_time
        self.tracks = list(tracks)
        """The caption streams the speaker's audio feeds: (language, task) each (`captions.
        languages.tracks`): as spoken, and for a room in another language, in English."""
        self._streams: list[LiveStream] = []
        self._track: AudioTrack | None = None

    def set_language(self, language: str) -> None:
        """Hear `language` from now on, in every open stream and the next ones."""
        self.tracks = [(language, task) for _, task in self.tracks]
        for stream in self._streams:
            stream.set_language(language)

    def accept(self, frame: bytes) -> None:
        """Hand one checked frame on: to the caption stream, and to the track when recording."""
        if not self._streams:
            origin = max(0.0, self._room_time() - len(frame) / (SAMPLE_RATE * BYTES_PER_SAMPLE))
            self._streams = [self._captions.open(room=self.room, speaker=self.speaker,
                                                 origin=origin, sink=self._sink,
                                                 language=language, task=task)
                             for language, task in self.tracks]
            if self._recorder is not None:
                self._track = self._recorder.open(room=self.room, speaker=self.speaker,
                                                  origin=origin)
        # The track first: a caption stream refusing more (overloaded) must not cost the
        # recording audio that was received.
        if self._track is not None:
            self._track.write(frame)
        samples = to_float(frame)
        for stream in self._streams:
            stream.push(samples)

    async def pause(self) -> None:
        """Flush and close the current stream and track (mute, or the socket closing)."""
        streams, track = self._streams, self._track
        self._streams, self._track = [], None
        try:
            for stream in streams:
                await stream.finish()
        finally:
            if track is not None:
                await track.close()
