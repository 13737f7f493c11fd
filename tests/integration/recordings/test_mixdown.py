"""Mixing a room's tracks with the real ffmpeg: Ogg Opus, the room's span, aligned on its clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers.speech import SPEECH_DIR
from roomscribe.errors import Conflict, InvalidInput, NotFound
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE
from roomscribe.recordings.mixdown import MIX_CONTENT_TYPE, mix_key, mixdown
from roomscribe.recordings.storage import LocalStorage
from roomscribe.recordings.tracks import TrackWriter

SR = SAMPLE_RATE
JFK = SPEECH_DIR / "jfk" / "jfk.flac"
LIBRI = SPEECH_DIR / "librispeech_test_clean" / "1089-134686-0000.flac"


@pytest.fixture(scope="module")
def voices() -> tuple[np.ndarray, np.ndarray]:
    return ffmpeg.decode(JFK), ffmpeg.decode(LIBRI)


def write(storage: LocalStorage, room: str, track: str,
          pieces: list[tuple[float, np.ndarray]]) -> None:
    with TrackWriter(storage, room, track) as writer:
        for at, audio in pieces:
            for k in range(0, audio.size, SR // 10):
                writer.append(audio[k:k + SR // 10], at=at + k / SR)


def lag_of(mixed: np.ndarray, source: np.ndarray, at: float, window: float = 2.0) -> float:
    """Seconds by which `source` sits later in `mixed` than `at` (cross-correlation peak)."""
    probe = source[SR:SR + round(window * SR)]  # a stretch of speech from the source's 2nd second
    lo = round((at + 1.0 - 0.25) * SR)
    region = mixed[lo:lo + probe.size + round(0.5 * SR)]
    corr = np.correlate(region, probe, mode="valid")
    return (int(np.argmax(corr)) + lo) / SR - (at + 1.0)


def test_two_offset_tracks_mix_into_one_aligned_ogg_opus(
    tmp_path: Path, voices: tuple[np.ndarray, np.ndarray]
) -> None:
    jfk, libri = voices
    storage = LocalStorage(tmp_path)
    write(storage, "r1", "alice", [(0.5, jfk)])  # 0.5–11.5 s
    # Bob speaks at 14 s, drops out, and comes back at 30 s with the first 5 s of his clip.
    write(storage, "r1", "bob", [(14.0, libri), (30.0, libri[:5 * SR])])
    mix = mixdown(storage, "r1")

    assert mix.key == mix_key("r1") == "r1/mix.ogg" and MIX_CONTENT_TYPE == "audio/ogg"
    assert mix.tracks == ("alice", "bob")
    assert mix.duration == pytest.approx(35.0, abs=1e-3)
    head = storage.get(mix.key, 0, 64)
    assert head.startswith(b"OggS") and b"OpusHead" in head
    assert mix.size == storage.size(mix.key)

    out = tmp_path / "mix.ogg"
    out.write_bytes(storage.get(mix.key))
    assert ffmpeg.duration(out) == pytest.approx(35.0, abs=0.03)
    mixed = ffmpeg.decode(out)
    # Each voice sits where the room clock put it, within a few milliseconds of Opus delay.
    assert abs(lag_of(mixed, jfk, 0.5)) < 0.005
    assert abs(lag_of(mixed, libri, 14.0)) < 0.005
    assert abs(lag_of(mixed, libri, 30.0, window=1.0)) < 0.005
    # Silence before anyone spoke and in the gap between Bob's two stretches.
    quiet = np.sqrt(np.mean(mixed[: SR // 4] ** 2)), np.sqrt(np.mean(mixed[25 * SR:29 * SR] ** 2))
    loud = np.sqrt(np.mean(mixed[2 * SR:10 * SR] ** 2))
    assert max(quiet) < loud / 100


def test_until_pads_to_the_end_of_the_room_and_a_new_mix_replaces_the_old(
    tmp_path: Path, voices: tuple[np.ndarray, np.ndarray]
) -> None:
    storage = LocalStorage(tmp_path)
    write(storage, "r2", "alice", [(1.0, voices[0][: 2 * SR])])
    assert mixdown(storage, "r2").duration == pytest.approx(3.0)
    mix = mixdown(storage, "r2", until=6.0)
    out = tmp_path / "mix.ogg"
    out.write_bytes(storage.get(mix.key))
    assert ffmpeg.duration(out) == pytest.approx(6.0, abs=0.03)
    assert storage.list("r2") == ["r2/mix.ogg", "r2/tracks/alice/audio.pcm",
                                  "r2/tracks/alice/runs.bin", "r2/tracks/alice/track.json"]
    with pytest.raises(InvalidInput):
        mixdown(storage, "r2", until=0)


def test_rooms_without_audio_and_mismatched_rates(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(NotFound):
        mixdown(storage, "nobody")
    with TrackWriter(storage, "silent", "alice"):
        pass
    with pytest.raises(NotFound, match="no audio"):
        mixdown(storage, "silent")
    with TrackWriter(storage, "mixed", "a") as w:
        w.append(np.zeros(100, dtype=np.int16), at=0.0)
    with TrackWriter(storage, "mixed", "b", sample_rate=48_000) as w:
        w.append(np.zeros(100, dtype=np.int16), at=0.0)
    with pytest.raises(Conflict, match="sample rates"):
        mixdown(storage, "mixed")


def test_encode_pcm_reports_ffmpeg_failures_and_cleans_up_after_its_caller(tmp_path: Path) -> None:
    block = np.zeros(SR, dtype=np.int16)
    with pytest.raises(InvalidInput, match="could not encode"):
        ffmpeg.encode_pcm([block], tmp_path / "x.ogg", codec="no-such-codec")

    def failing() -> Iterator[np.ndarray]:
        yield block
        raise OSError("a track became unreadable")

    out = tmp_path / "y.ogg"
    with pytest.raises(OSError, match="unreadable"):
        ffmpeg.encode_pcm(failing(), out)
    assert not out.exists()
