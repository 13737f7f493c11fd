"""The one audio format inside Roomscribe: 16 kHz mono 16-bit little-endian PCM (what Whisper
hears, what tracks store, what speakers send), defined once for every domain."""

from __future__ import annotations

SAMPLE_RATE = 16_000
"""Samples a second."""
BYTES_PER_SAMPLE = 2
"""16-bit samples."""
