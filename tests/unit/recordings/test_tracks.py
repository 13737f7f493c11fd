"""Tracks on the room clock: runs and gaps, jitter, flushing, torn tails and reopening."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roomscribe.errors import Conflict, InvalidInput, NotFound
from roomscribe.recordings.storage import LocalAppender, LocalStorage
from roomscribe.recordings.tracks import Run, TrackReader, TrackWriter, to_pcm16, track_ids

SR = 16_000


def tone(seconds: float, value: int) -> np.ndarray:
    """A constant block, so where each sample landed is visible in the read-back."""
    return np.full(round(seconds * SR), value, dtype=np.int16)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingAppender(LocalAppender):
    """Counts the fsyncs: `flush()` calls, and `close()`, which syncs before it closes."""

    flushes = 0
    closes = 0

    def flush(self) -> None:
        CountingAppender.flushes += 1
        super().flush()

    def close(self) -> None:
        CountingAppender.closes += 1
        super().close()


class CountingStorage(LocalStorage):
    def append(self, key: str) -> LocalAppender:
        return CountingAppender(self._path(key))


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path)


def test_contiguous_chunks_are_one_run_at_their_room_time(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "alice") as w:
        w.append(tone(0.5, 100), at=2.0)
        w.append(tone(0.5, 200))  # right after the previous chunk
        assert w.end == 3.0
    reader = TrackReader(storage, "r1", "alice")
    assert reader.runs == (Run(room_start=32_000, pcm_start=0, length=16_000),)
    assert (reader.start, reader.end, reader.recorded_seconds) == (2.0, 3.0, 1.0)
    audio = reader.read()
    assert audio.size == 3 * SR
    assert not audio[:2 * SR].any()  # before the speaker joined: silence
    assert (audio[2 * SR:2 * SR + 8000] == 100).all() and (audio[-8000:] == 200).all()


def test_gaps_read_back_as_silence_in_place(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "bob") as w:
        w.append(tone(1.0, 7), at=1.0)
        w.append(tone(1.0, 9), at=4.0)  # reconnected three seconds later
    reader = TrackReader(storage, "r1", "bob")
    assert len(reader.runs) == 2
    audio = reader.read()
    assert audio.size == 5 * SR
    assert (audio[SR:2 * SR] == 7).all()
    assert not audio[2 * SR:4 * SR].any()
    assert (audio[4 * SR:] == 9).all()
    window = reader.read(1.5, 4.5)  # any window of the room clock, gaps included
    assert window.size == 3 * SR
    assert (window[:8000] == 7).all() and (window[-8000:] == 9).all()
    assert not window[8000:40_000].any()
    assert reader.read(10.0, 11.0).tolist() == [0] * SR  # past the end: silence


def test_jitter_does_not_chop_the_track_but_real_jumps_do(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "carol", jitter=0.1) as w:
        w.append(tone(0.1, 1), at=0.0)
        w.append(tone(0.1, 1), at=0.13)  # 30 ms late: network noise, kept contiguous
        w.append(tone(0.1, 1), at=0.17)  # 30 ms early
        w.append(tone(0.1, 2), at=0.9)  # 600 ms late: a real gap
    reader = TrackReader(storage, "r1", "carol")
    assert [r.room_start for r in reader.runs] == [0, round(0.9 * SR)]
    assert reader.runs[0].length == round(0.3 * SR)


def test_a_later_run_overwrites_an_overlapped_stretch(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "dave") as w:
        w.append(tone(2.0, 5), at=0.0)
        w.append(tone(0.5, 6), at=1.0)
    audio = TrackReader(storage, "r1", "dave").read()
    assert (audio[:SR] == 5).all() and (audio[SR:SR + 8000] == 6).all()
    assert (audio[SR + 8000:] == 5).all()


def test_float_and_byte_input(storage: LocalStorage) -> None:
    assert to_pcm16(np.array([0.0, 1.0, -1.0, 2.0], dtype=np.float32)) == (
        np.array([0, 32767, -32767, 32767], dtype="<i2").tobytes())
    with TrackWriter(storage, "r1", "erin") as w:
        w.append(np.full(SR, 0.5, dtype=np.float32), at=0.0)
        w.append(np.full(10, 1000, dtype="<i2").tobytes())
    audio = TrackReader(storage, "r1", "erin").read()
    assert audio[0] == 16384 and audio[-1] == 1000 and audio.size == SR + 10


@pytest.mark.parametrize("bad", [b"\x00\x01\x02", np.zeros((2, 2), dtype=np.int16),
                                 np.zeros(4, dtype=np.int64)])
def test_rejects_what_is_not_mono_16_bit(storage: LocalStorage, bad: object) -> None:
    with TrackWriter(storage, "r1", "frank") as w, pytest.raises(InvalidInput):
        w.append(bad, at=0.0)  # type: ignore[arg-type]


def test_rules_for_room_time(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "grace") as w:
        with pytest.raises(InvalidInput, match="room time"):
            w.append(tone(0.1, 1))  # the first chunk must say where it sits
        with pytest.raises(InvalidInput, match="negative"):
            w.append(tone(0.1, 1), at=-1.0)
    with pytest.raises(Conflict, match="closed"):
        w.append(tone(0.1, 1), at=0.0)


def test_flushes_at_least_every_interval_and_on_close(tmp_path: Path) -> None:
    CountingAppender.flushes = CountingAppender.closes = 0
    clock = FakeClock()
    writer = TrackWriter(CountingStorage(tmp_path), "r1", "heidi", flush_interval=1.0, clock=clock)
    writer.append(tone(0.1, 1), at=0.0)
    first_run = CountingAppender.flushes  # a new run's record is made durable before its audio
    clock.now = 0.5
    writer.append(tone(0.1, 1))
    assert CountingAppender.flushes == first_run
    assert not writer.flush_if_due()
    clock.now = 1.0
    writer.append(tone(0.1, 1))
    assert CountingAppender.flushes == first_run + 2  # audio and runs
    clock.now = 1.5
    writer.append(tone(0.1, 1))
    clock.now = 2.2
    assert writer.flush_if_due()  # an idle owner's timer catches the tail
    assert not writer.flush_if_due()  # nothing new since
    assert CountingAppender.closes == 0
    writer.close()
    assert CountingAppender.closes == 2
    reader = TrackReader(CountingStorage(tmp_path), "r1", "heidi")
    assert reader.recorded_seconds == pytest.approx(0.4)


def test_torn_tails_are_ignored_and_repaired_on_reopen(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "ivan") as w:
        w.append(tone(1.0, 3), at=0.0)
    base = storage.root / "r1" / "tracks" / "ivan"
    with (base / "audio.pcm").open("ab") as fh:
        fh.write(b"\x07")  # the first byte of a sample, then the process died
    with (base / "runs.bin").open("ab") as fh:
        fh.write(b"RUN1\x00\x00\x00")  # the start of a record, then the process died
    reader = TrackReader(storage, "r1", "ivan")
    assert reader.runs == (Run(0, 0, SR),)
    assert (reader.read() == 3).all()

    with TrackWriter(storage, "r1", "ivan") as w:
        w.append(tone(1.0, 4), at=2.0)  # the speaker came back after the restart
    reader = TrackReader(storage, "r1", "ivan")
    # The torn byte, padded, became one sample (62 µs) at the end of the run it belonged to.
    assert reader.runs == (Run(0, 0, SR + 1), Run(2 * SR, SR + 1, SR))
    audio = reader.read()
    assert audio.size == 3 * SR
    assert (audio[:SR] == 3).all() and audio[SR] == 7
    assert not audio[SR + 1:2 * SR].any() and (audio[2 * SR:] == 4).all()


def test_a_record_whose_audio_never_reached_disk_is_realigned(storage: LocalStorage) -> None:
    with TrackWriter(storage, "r1", "judy") as w:
        w.append(tone(1.0, 1), at=0.0)
        w.append(tone(1.0, 2), at=5.0)
    pcm = storage.root / "r1" / "tracks" / "judy" / "audio.pcm"
    pcm.write_bytes(pcm.read_bytes()[: SR * 2 - 100])  # a power cut lost the second run's audio
    assert TrackReader(storage, "r1", "judy").runs == (Run(0, 0, SR - 50),)
    with TrackWriter(storage, "r1", "judy") as w:
        w.append(tone(1.0, 9), at=8.0)
    audio = TrackReader(storage, "r1", "judy").read()
    assert audio.size == 9 * SR
    assert (audio[8 * SR:] == 9).all()  # new audio lands where it belongs, not at the old offset
    assert (audio[: SR - 50] == 1).all()


def test_meta_and_listing(storage: LocalStorage) -> None:
    for name in ("b", "a"):
        with TrackWriter(storage, "r1", name) as w:
            w.append(tone(0.1, 1), at=0.0)
    with TrackWriter(storage, "r2", "c"):
        pass
    assert track_ids(storage, "r1") == ["a", "b"]
    assert track_ids(storage, "r3") == []
    with pytest.raises(Conflict, match="Hz"):
        TrackWriter(storage, "r1", "a", sample_rate=48_000)
    with pytest.raises(NotFound):
        TrackReader(storage, "r1", "zed")
    with pytest.raises(InvalidInput):
        TrackWriter(storage, "r1", "a/b")
    empty = TrackReader(storage, "r2", "c")
    assert (empty.start, empty.end, empty.read().size) == (None, 0.0, 0)


def test_reader_sees_audio_while_the_writer_is_still_open(storage: LocalStorage) -> None:
    writer = TrackWriter(storage, "r1", "kim", flush_interval=3600)
    writer.append(tone(0.5, 8), at=1.0)
    audio = TrackReader(storage, "r1", "kim").read()
    assert audio.size == round(1.5 * SR) and (audio[SR:] == 8).all()
    writer.close()
