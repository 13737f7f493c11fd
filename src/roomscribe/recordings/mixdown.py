"""A room's speaker tracks mixed, on the room clock, into the one Opus file listeners replay.

The mix starts at room time 0, so a transcript segment's start time is also its position in the
mix. Tracks are summed in numpy a block at a time (gaps already read back as silence) and piped to
ffmpeg, so memory stays flat however long the room ran. They are summed, not averaged as ffmpeg's
`amix` does by default: people mostly speak in turn, and averaging would make a lone speaker
quieter for every other track in the room. Overlapping loud speech is clipped.
The per-speaker tracks stay where they are; the retention policy decides when they go.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roomscribe.errors import Conflict, InvalidInput, NotFound
from roomscribe.media import ffmpeg
from roomscribe.recordings.storage import Storage
from roomscribe.recordings.tracks import TrackReader, track_ids

MIX_NAME = "mix.ogg"
MIX_CONTENT_TYPE = "audio/ogg"


def mix_key(room_id: str) -> str:
    return f"{room_id}/{MIX_NAME}"


@dataclass(frozen=True, slots=True)
class Mix:
    """A finished mix in storage."""

    key: str
    duration: float
    """Seconds from room time 0 to the end of the last track (or the `until` asked for)."""
    tracks: tuple[str, ...]
    size: int
    """Bytes of the Ogg file."""


def _blocks(readers: list[TrackReader], total: int, block: int) -> Iterator[npt.NDArray[np.int16]]:
    for start in range(0, total, block):
        stop = min(total, start + block)
        acc = np.zeros(stop - start, dtype=np.int32)
        for reader in readers:
            acc += reader.read_samples(start, stop)
        yield np.clip(acc, -32768, 32767).astype(np.int16)


def mixdown(
    storage: Storage,
    room_id: str,
    *,
    until: float | None = None,
    bitrate: str = "32k",
    block_seconds: float = 20.0,
    scratch: Path | None = None,
) -> Mix:
    """Mix every track of `room_id` into `{room_id}/mix.ogg`, replacing an earlier mix.

    `until` is the room's end on its clock; by default the mix ends with the last recorded sample.
    ffmpeg writes into a temporary folder under `scratch` (the system's by default), which the
    service empties at start: a mix killed halfway leaves nothing behind for long.
    Blocking (reads every track, runs ffmpeg): call it from a worker thread.
    """
    names = track_ids(storage, room_id)
    if not names:
        raise NotFound(f"room {room_id!r} has no recorded tracks")
    readers = [TrackReader(storage, room_id, name) for name in names]
    rates = {r.sample_rate for r in readers}
    if len(rates) != 1:
        raise Conflict(f"room {room_id!r} has tracks at different sample rates {sorted(rates)}")
    rate = rates.pop()
    if until is not None and until <= 0:
        raise InvalidInput("a mix must end after room time 0")
    total = round(until * rate) if until is not None else max(r.end_sample for r in readers)
    if total == 0:
        raise NotFound(f"room {room_id!r} has tracks but no audio in them")
    key = mix_key(room_id)
    with tempfile.TemporaryDirectory(prefix="roomscribe-mix-", dir=scratch) as tmp:
        out = Path(tmp) / MIX_NAME
        ffmpeg.encode_pcm(_blocks(readers, total, max(1, round(block_seconds * rate))), out,
                          sample_rate=rate, codec="libopus", bitrate=bitrate)
        with out.open("rb") as fh:
            storage.put(key, iter(lambda: fh.read(1 << 20), b""))
        size = out.stat().st_size
    return Mix(key=key, duration=total / rate, tracks=tuple(names), size=size)
