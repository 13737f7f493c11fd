"""The ffmpeg boundary with the real static binary: every container we promise, every bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from helpers.speech import SPEECH_DIR
from roomscribe.errors import InvalidInput, NotFound, TooLarge
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE

JFK = SPEECH_DIR / "jfk" / "jfk.flac"


@pytest.fixture(scope="module")
def jfk_samples() -> np.ndarray:
    return ffmpeg.decode(JFK)


def test_decodes_to_16k_mono_float32(jfk_samples: np.ndarray) -> None:
    assert jfk_samples.dtype == np.float32
    assert abs(jfk_samples.size / SAMPLE_RATE - 11.0) < 0.05
    assert 0.05 < float(np.abs(jfk_samples).max()) <= 1.0


@pytest.mark.parametrize("codec,ext", [("libmp3lame", "mp3"), ("libopus", "ogg"),
                                       ("libopus", "webm"), ("aac", "m4a"),
                                       ("pcm_s16le", "wav"), ("flac", "flac")])
def test_every_promised_container_round_trips(
    tmp_path: Path, jfk_samples: np.ndarray, codec: str, ext: str
) -> None:
    path = tmp_path / f"clip.{ext}"
    ffmpeg.encode(jfk_samples, path, codec=codec)
    back = ffmpeg.decode(path)
    # Lossy codecs pad a few ms; the length must still be the same speech.
    assert abs(back.size - jfk_samples.size) < 0.1 * SAMPLE_RATE
    n = min(back.size, jfk_samples.size)
    if ext in {"wav", "flac"}:
        assert np.corrcoef(back[:n], jfk_samples[:n])[0, 1] > 0.999
    rms = float(np.sqrt(np.mean(back**2)) / np.sqrt(np.mean(jfk_samples**2)))
    assert 0.8 < rms < 1.2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such file"):
        ffmpeg.decode(tmp_path / "nope.wav")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InvalidInput, match="empty"):
        ffmpeg.decode(tmp_path / "empty.wav")


def test_text_renamed_wav(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("meeting notes, not audio\n" * 20)
    with pytest.raises(InvalidInput, match="not readable audio"):
        ffmpeg.decode(tmp_path / "notes.wav")


def test_truncated_flac(tmp_path: Path) -> None:
    whole = (SPEECH_DIR / "librispeech_test_clean" / "121-127105-0000.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(InvalidInput, match="truncated"):
        ffmpeg.decode(tmp_path / "cut.flac")


def test_unsupported_sample_format(tmp_path: Path) -> None:
    data = b"\x00" * 3200
    fmt = struct.pack("<HHIIHH", 0x9999, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    (tmp_path / "odd.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    with pytest.raises(InvalidInput, match="no decoder"):
        ffmpeg.decode(tmp_path / "odd.wav")


def test_size_limit_checked_before_decoding() -> None:
    with pytest.raises(TooLarge, match="byte limit"):
        ffmpeg.decode(JFK, max_bytes=1000)


def test_duration_limit() -> None:
    with pytest.raises(TooLarge, match="5-second limit"):
        ffmpeg.decode(JFK, max_seconds=5)
    assert ffmpeg.decode(JFK, max_seconds=11.5).size == 11 * SAMPLE_RATE
