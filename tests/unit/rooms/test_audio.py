"""Frame rules, PCM decoding and the speaker feed (the seam to captions and recordings)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from roomscribe.captions.events import CaptionEvent, CaptionSink, Speaker
from roomscribe.errors import InvalidInput, RateLimited, TooLarge
from roomscribe.pcm import to_float
from roomscribe.rooms.audio import (
    MAX_FRAME_BYTES,
    MIN_FRAME_BYTES,
    FrameChecker,
    NullAudioSink,
    Pacer,
    SpeakerFeed,
)

SPEAKER = Speaker(id="ada", name="Ada")


def test_frame_bounds_are_20_and_200_ms_of_16_bit_16_khz() -> None:
    assert (MIN_FRAME_BYTES, MAX_FRAME_BYTES) == (640, 6400)


@pytest.mark.parametrize("size", [MIN_FRAME_BYTES, 3200, MAX_FRAME_BYTES])
def test_frames_within_bounds_pass(size: int) -> None:
    checker = FrameChecker()
    for _ in range(3):
        checker.check(b"\x01\x00" * (size // 2))


@pytest.mark.parametrize(("frame", "error", "match"), [
    (None, InvalidInput, "binary"),
    (b"", InvalidInput, "empty"),
    (b"\x00" * 641, InvalidInput, "odd number of bytes"),
    (b"\x00" * (MAX_FRAME_BYTES + 2), TooLarge, "longer than 200 ms"),
    (b"RIFF" + b"\x00" * 700, InvalidInput, "WAV"),
    (b"fLaC" + b"\x00" * 700, InvalidInput, "FLAC"),
    (b"\x1aE\xdf\xa3" + b"\x00" * 700, InvalidInput, "WebM"),
    (b"ID3\x04" + b"\x00" * 700, InvalidInput, "MP3"),
])
def test_bad_frames(frame: bytes | None, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        FrameChecker().check(frame)


def test_container_tags_matter_only_at_the_start() -> None:
    checker = FrameChecker()
    checker.check(b"\x00" * 640)
    checker.check(b"RIFF" + b"\x00" * 636)


def test_a_short_frame_must_be_the_last() -> None:
    checker = FrameChecker()
    checker.check(b"\x00" * 640)
    checker.check(b"\x00" * 100)
    with pytest.raises(InvalidInput, match="only the last frame"):
        checker.check(b"\x00" * 640)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


FRAME_100MS = b"\x00" * 3200


def test_the_pacer_allows_real_time_and_a_burst_and_refuses_a_flood() -> None:
    clock = Clock()
    pacer = Pacer(2.0, clock=clock)
    for _ in range(20):  # two seconds at once: the burst
        pacer.take(FRAME_100MS)
    for _ in range(600):  # then a minute in real time
        clock.now += 0.1
        pacer.take(FRAME_100MS)
    with pytest.raises(RateLimited, match="faster than real time") as refused:
        for _ in range(21):  # two seconds ahead again, and a frame more
            pacer.take(FRAME_100MS)
    assert refused.value.retry_after >= 1


def test_a_quiet_socket_earns_no_more_than_its_burst() -> None:
    clock = Clock()
    pacer = Pacer(2.0, clock=clock)
    pacer.take(FRAME_100MS)
    clock.now += 3600  # an hour of silence (a muted speaker) is no credit for a flood
    for _ in range(20):
        pacer.take(FRAME_100MS)
    with pytest.raises(RateLimited):
        pacer.take(FRAME_100MS)


def test_decode_is_little_endian_and_scaled() -> None:
    frame = np.array([0, 16384, -32768, 32767], dtype="<i2").tobytes()
    assert frame[2:4] == b"\x00\x40"
    samples = to_float(frame)
    assert samples.dtype == np.float32
    assert samples.tolist() == pytest.approx([0.0, 0.5, -1.0, 32767 / 32768])


@dataclass
class Stream:
    origin: float
    pushed: list[npt.NDArray[np.float32]] = field(default_factory=list)
    finished: bool = False

    def push(self, pcm: npt.NDArray[np.float32]) -> None:
        self.pushed.append(pcm)

    async def finish(self) -> None:
        self.finished = True

    def set_language(self, language: str) -> None:
        return None


@dataclass
class Source:
    streams: list[Stream] = field(default_factory=list)

    async def ready(self, language: str | None, task: str = "transcribe") -> None:
        return None

    def open(self, *, room: str, speaker: Speaker, origin: float, sink: CaptionSink,
             language: str | None = "en", task: str = "transcribe") -> Stream:
        assert (room, speaker) == ("r1", SPEAKER)
        self.streams.append(Stream(origin))
        return self.streams[-1]

    def forget(self, room: str) -> None:
        raise AssertionError("a feed never ends the room")


@dataclass
class Track:
    origin: float
    written: list[bytes] = field(default_factory=list)
    closed: bool = False

    def write(self, pcm: bytes) -> None:
        self.written.append(pcm)

    async def close(self) -> None:
        self.closed = True


@dataclass
class Recorder:
    tracks: list[Track] = field(default_factory=list)

    def open(self, *, room: str, speaker: Speaker, origin: float) -> Track:
        self.tracks.append(Track(origin))
        return self.tracks[-1]


async def ignore(event: CaptionEvent) -> None:
    return None


def feed(source: Source, recorder: Recorder | None, clock: list[float]) -> SpeakerFeed:
    return SpeakerFeed(room="r1", speaker=SPEAKER, captions=source, sink=ignore,
                       recorder=recorder, room_time=lambda: clock[0])


async def test_each_chunk_goes_to_captions_and_the_track() -> None:
    source, recorder, clock = Source(), Recorder(), [10.0]
    speaker = feed(source, recorder, clock)
    assert source.streams == []  # nothing opens before audio arrives
    frame = np.full(3200, 100, dtype="<i2").tobytes()
    speaker.accept(frame)
    speaker.accept(frame)
    [stream], [track] = source.streams, recorder.tracks
    assert stream.origin == track.origin == pytest.approx(9.8)  # when the first sample was heard
    assert [len(p) for p in stream.pushed] == [3200, 3200]
    assert track.written == [frame, frame]
    await speaker.pause()
    assert stream.finished and track.closed


async def test_after_a_pause_new_streams_start_at_the_room_time_of_resuming() -> None:
    source, recorder, clock = Source(), Recorder(), [5.0]
    speaker = feed(source, recorder, clock)
    speaker.accept(b"\x00" * 640)
    await speaker.pause()
    await speaker.pause()  # pausing twice is harmless
    clock[0] = 65.0
    speaker.accept(b"\x00" * 640)
    assert [s.origin for s in source.streams] == pytest.approx([4.98, 64.98])
    assert [t.origin for t in recorder.tracks] == pytest.approx([4.98, 64.98])


async def test_without_a_recorder_nothing_is_written() -> None:
    source = Source()
    speaker = feed(source, None, [1.0])
    speaker.accept(b"\x00" * 640)
    await speaker.pause()
    assert source.streams[0].finished


async def test_the_null_sink_records_nothing() -> None:
    track = NullAudioSink().open(room="r1", speaker=SPEAKER, origin=0.0)
    track.write(b"\x00\x00")
    await track.close()
