"""One speaker's audio in a room, written as it arrives so a crash loses nothing received.

A track is two append-only objects in `Storage` plus a small description:

    {room}/tracks/{track}/audio.pcm    raw s16le mono samples, exactly as received, never rewritten
    {room}/tracks/{track}/runs.bin     24-byte records: "this sample of audio.pcm sits at that
                                       sample of the room clock"
    {room}/tracks/{track}/track.json   format and sample rate, written once, atomically

Audio that continues where the previous chunk ended needs no record, so a record is written only
when a run starts (the first chunk, a reconnect, an unmute: any jump on the room clock beyond
`jitter`). The record goes out before its audio, so whatever a killed process left behind, every
PCM byte belongs to the last record before it; a gap between runs reads back as silence.

Appends reach the OS as they are made (nothing is held in this process), and `flush()` makes them
durable (fsync) at least every `flush_interval` seconds while audio arrives, and on close. A torn
tail is tolerated: an odd last byte is ignored, a partial or corrupt record is skipped, and a
writer reopening the track pads both objects back to whole samples and records before going on
(appending only, as an object store requires; the torn byte becomes one near-silent sample).
"""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import numpy as np
import numpy.typing as npt

from roomscribe.errors import Conflict, InvalidInput, NotFound
from roomscribe.pcm import SAMPLE_RATE
from roomscribe.recordings.storage import Appender, Storage, check_key

FORMAT = "s16le"
_RUN = struct.Struct("<4sqqI")  # magic, room sample, PCM sample, crc32 of the first 20 bytes
_MAGIC = b"RUN1"
_BYTES_PER_SAMPLE = 2


def track_prefix(room_id: str, track_id: str) -> str:
    """The storage prefix of a track; both ids must be single key segments."""
    for name in (room_id, track_id):
        if "/" in check_key(name):
            raise InvalidInput(f"{name!r}: room and track ids are single key segments")
    return f"{room_id}/tracks/{track_id}"


def track_ids(storage: Storage, room_id: str) -> list[str]:
    """The tracks recorded in a room, sorted."""
    check_key(room_id)
    return sorted(
        key.split("/")[2] for key in storage.list(f"{room_id}/tracks")
        if key.endswith("/track.json") and key.count("/") == 3
    )


@dataclass(frozen=True, slots=True)
class Run:
    """Contiguous audio: `length` samples from `pcm_start` in audio.pcm, at `room_start`."""

    room_start: int
    pcm_start: int
    length: int

    @property
    def room_end(self) -> int:
        return self.room_start + self.length


def _pack_run(room_start: int, pcm_start: int) -> bytes:
    head = struct.pack("<4sqq", _MAGIC, room_start, pcm_start)
    return _RUN.pack(_MAGIC, room_start, pcm_start, zlib.crc32(head))


def _records(raw: bytes) -> list[tuple[int, int]]:
    """The valid (room sample, PCM sample) records, in order; torn or zeroed ones are skipped."""
    records: list[tuple[int, int]] = []
    for offset in range(0, len(raw) - _RUN.size + 1, _RUN.size):
        magic, room, pcm, crc = _RUN.unpack_from(raw, offset)
        if magic != _MAGIC or crc != zlib.crc32(raw[offset:offset + _RUN.size - 4]):
            continue
        if room < 0 or pcm < 0 or (records and pcm < records[-1][1]):
            continue
        records.append((room, pcm))
    return records


def _runs(records: list[tuple[int, int]], pcm_samples: int) -> tuple[Run, ...]:
    # A record past the end of the audio is possible only after a power cut (records are fsynced
    # before their audio); its run is empty, and reopening the writer pads the audio up to it.
    starts = [(room, pcm) for room, pcm in records if pcm <= pcm_samples]
    runs = []
    for i, (room, pcm) in enumerate(starts):
        stop = starts[i + 1][1] if i + 1 < len(starts) else pcm_samples
        if stop > pcm:
            runs.append(Run(room, pcm, stop - pcm))
    return tuple(runs)


def to_pcm16(samples: npt.NDArray[np.int16] | npt.NDArray[np.float32] | bytes) -> bytes:
    """s16le bytes from int16 samples, float samples in [-1, 1] or s16le bytes."""
    if isinstance(samples, bytes | bytearray | memoryview):
        data = bytes(samples)
        if len(data) % _BYTES_PER_SAMPLE:
            raise InvalidInput("s16le audio must be a whole number of 2-byte samples")
        return data
    if samples.ndim != 1:
        raise InvalidInput("a track is mono: pass a 1-D array of samples")
    if samples.dtype == np.int16:
        return samples.astype("<i2", copy=False).tobytes()
    if np.issubdtype(samples.dtype, np.floating):
        scaled = np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0) * np.float32(32767)
        return bytes(np.rint(scaled).astype("<i2").tobytes())
    raise InvalidInput(f"unsupported sample type {samples.dtype}")


class TrackWriter:
    """Appends one speaker's audio on the room clock. Thread-safe; every call blocks briefly.

    `at` is the room time (seconds since the room started) of a chunk's first sample. A chunk
    within `jitter` of where the previous one ended is taken as contiguous, so network timing
    noise never chops the track into runs; a larger jump starts a new run (and a gap of silence).
    Either way the track stays within `jitter` of the room clock.
    """

    def __init__(
        self,
        storage: Storage,
        room_id: str,
        track_id: str,
        *,
        sample_rate: int = SAMPLE_RATE,
        flush_interval: float = 1.0,
        jitter: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        prefix = track_prefix(room_id, track_id)
        if sample_rate <= 0 or flush_interval <= 0 or jitter < 0:
            raise InvalidInput("sample rate and flush interval must be positive, jitter >= 0")
        self.room_id, self.track_id, self.sample_rate = room_id, track_id, sample_rate
        meta_key = f"{prefix}/track.json"
        if storage.exists(meta_key):
            meta = json.loads(storage.get(meta_key))
            if meta.get("format") != FORMAT or meta.get("sample_rate") != sample_rate:
                raise Conflict(f"track {prefix} is {meta.get('format')} at "
                               f"{meta.get('sample_rate')} Hz, not {FORMAT} at {sample_rate} Hz")
        else:
            storage.put(meta_key, json.dumps(
                {"format": FORMAT, "sample_rate": sample_rate, "channels": 1}).encode())
        self._pcm: Appender = storage.append(f"{prefix}/audio.pcm")
        self._runs: Appender = storage.append(f"{prefix}/runs.bin")
        # Reopened after a crash: realign both objects so new samples and records stay readable.
        if self._pcm.size % _BYTES_PER_SAMPLE:
            self._pcm.write(b"\0" * (_BYTES_PER_SAMPLE - self._pcm.size % _BYTES_PER_SAMPLE))
        if self._runs.size % _RUN.size:
            self._runs.write(b"\0" * (_RUN.size - self._runs.size % _RUN.size))
        records = _records(storage.get(f"{prefix}/runs.bin")) if self._runs.size else []
        if records and records[-1][1] * _BYTES_PER_SAMPLE > self._pcm.size:
            self._pcm.write(b"\0" * (records[-1][1] * _BYTES_PER_SAMPLE - self._pcm.size))
        self._pcm_samples = self._pcm.size // _BYTES_PER_SAMPLE
        self._next: int | None = None  # room sample the next contiguous chunk starts at
        self._jitter = round(jitter * sample_rate)
        self._interval = flush_interval
        self._clock = clock
        self._flushed_at = clock()
        self._dirty = False
        self._closed = False
        self._lock = threading.Lock()

    @property
    def end(self) -> float | None:
        """Room time just after the last sample written this session (None before the first)."""
        return None if self._next is None else self._next / self.sample_rate

    def append(self, samples: npt.NDArray[np.int16] | npt.NDArray[np.float32] | bytes,
               at: float | None = None) -> None:
        """Add a chunk at room time `at`, or right after the previous chunk when `at` is None."""
        data = to_pcm16(samples)
        with self._lock:
            if self._closed:
                raise Conflict(f"track {self.room_id}/{self.track_id} is closed")
            if at is None and self._next is None:
                raise InvalidInput("the first chunk of a session needs its room time `at`")
            if at is not None and at < 0:
                raise InvalidInput("room time cannot be negative")
            start = self._next if at is None else round(at * self.sample_rate)
            assert start is not None
            if self._next is None or abs(start - self._next) > self._jitter:
                self._runs.write(_pack_run(start, self._pcm_samples))
                # Durable before its audio, so even a power cut never files audio under an
                # earlier run; runs start rarely (joins, reconnects), so this fsync is cheap.
                self._runs.flush()
                self._next = start
            if data:
                self._pcm.write(data)
                n = len(data) // _BYTES_PER_SAMPLE
                self._pcm_samples += n
                self._next += n
                self._dirty = True
            self._flush_if_due()

    def flush(self) -> None:
        """Make everything appended durable now."""
        with self._lock:
            self._flush()

    def flush_if_due(self) -> bool:
        """Flush if `flush_interval` has passed since the last flush; for an owner's idle timer."""
        with self._lock:
            return self._flush_if_due()

    def _flush_if_due(self) -> bool:
        if self._dirty and self._clock() - self._flushed_at >= self._interval:
            self._flush()
            return True
        return False

    def _flush(self) -> None:
        if not self._closed:
            self._pcm.flush()
            self._runs.flush()
        self._flushed_at = self._clock()
        self._dirty = False

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._pcm.close()
            self._runs.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrackReader:
    """A snapshot of a track, read back aligned on the room clock (gaps as silence).

    It may be opened while a writer is still appending; it sees what was written before it opened.
    """

    def __init__(self, storage: Storage, room_id: str, track_id: str) -> None:
        prefix = track_prefix(room_id, track_id)
        meta_key = f"{prefix}/track.json"
        if not storage.exists(meta_key):
            raise NotFound(f"no track {track_id!r} in room {room_id!r}")
        meta = json.loads(storage.get(meta_key))
        if meta.get("format") != FORMAT:
            raise Conflict(f"track {prefix} has unknown format {meta.get('format')!r}")
        self.room_id, self.track_id = room_id, track_id
        self.sample_rate: int = int(meta["sample_rate"])
        self._storage = storage
        self._pcm_key = f"{prefix}/audio.pcm"
        # Sized before the records are read: audio appended in between belongs to a record this
        # snapshot may lack, and is left for the next reader rather than misplaced.
        pcm_samples = storage.size(self._pcm_key) // _BYTES_PER_SAMPLE
        runs_key = f"{prefix}/runs.bin"
        records = _records(storage.get(runs_key)) if storage.exists(runs_key) else []
        self.runs: tuple[Run, ...] = _runs(records, pcm_samples)

    @property
    def end_sample(self) -> int:
        """Room sample just after the last recorded one (0 for an empty track)."""
        return max((r.room_end for r in self.runs), default=0)

    @property
    def start(self) -> float | None:
        """Room time of the first recorded sample (None for an empty track)."""
        if not self.runs:
            return None
        return min(r.room_start for r in self.runs) / self.sample_rate

    @property
    def end(self) -> float:
        """Room time just after the last recorded sample."""
        return self.end_sample / self.sample_rate

    @property
    def recorded_seconds(self) -> float:
        """Seconds of audio actually received (gaps excluded)."""
        return sum(r.length for r in self.runs) / self.sample_rate

    def read_samples(self, start: int, stop: int) -> npt.NDArray[np.int16]:
        """Room samples `[start, stop)`: silence where nothing was recorded; a later run wins."""
        if start < 0 or stop < start:
            raise InvalidInput(f"bad sample range [{start}, {stop})")
        out = np.zeros(stop - start, dtype=np.int16)
        for run in self.runs:
            lo, hi = max(start, run.room_start), min(stop, run.room_end)
            if lo >= hi:
                continue
            first = run.pcm_start + lo - run.room_start
            raw = self._storage.get(self._pcm_key, first * _BYTES_PER_SAMPLE,
                                    (first + hi - lo) * _BYTES_PER_SAMPLE)
            got = np.frombuffer(raw, dtype="<i2")
            out[lo - start:lo - start + got.size] = got
        return out

    def read(self, start: float = 0.0, end: float | None = None) -> npt.NDArray[np.int16]:
        """Room time `[start, end)` in seconds (to the track's end by default)."""
        first = round(start * self.sample_rate)
        stop = self.end_sample if end is None else round(end * self.sample_rate)
        return self.read_samples(first, max(first, stop))
