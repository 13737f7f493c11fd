"""The one audio format inside Roomscribe: 16 kHz mono 16-bit little-endian PCM (what Whisper
hears, what tracks store, what speakers send), defined once for every domain."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
"""Samples a second."""
BYTES_PER_SAMPLE = 2
"""16-bit samples."""


def to_float(pcm: bytes) -> npt.NDArray[np.float32]:
    """16-bit little-endian PCM to float32 in [-1, 1), the form the caption engine takes."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / np.float32(32768)


def to_bytes(samples: npt.NDArray[np.float32]) -> bytes:
    """float32 samples back to 16-bit little-endian PCM (exact for what `to_float` made)."""
    return (np.clip(samples, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
