"""A stand-in for Whisper in the final pass: tests of recordings and transcripts need no model.

`ToneModel` names the tone bursts of `helpers.fake_asr.FakeTranscriber.say` in each clip it is
given (with `LoudnessVad` finding the clips), so a test still learns what audio the final pass
heard and where it sits on the room clock. A real class with the real signature.
"""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import numpy.typing as npt

from helpers.fake_asr import SAMPLE_RATE, FakeTranscriber
from roomscribe.asr.engine import DecodeOptions, Window
from roomscribe.asr.results import Segment


class ToneModel:
    """One segment per clip: the words its bursts name, the last ending a sentence."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float, int, int]] = []
        """(offset, seconds, batch size, clips) of each call."""
        self._ear = FakeTranscriber()
        self._lock = threading.Lock()

    def detect_language(self, audio: npt.NDArray[np.float32]) -> tuple[str, float]:
        return "en", 1.0

    def transcribe(self, audio: npt.NDArray[np.float32], *,
                   options: DecodeOptions | None = None, offset: float = 0.0,
                   batch_size: int = 0,
                   clips: list[tuple[float, float]] | None = None) -> list[Segment]:
        spans = clips or [(0.0, audio.size / SAMPLE_RATE)]
        with self._lock:
            self.calls.append((offset, audio.size / SAMPLE_RATE, batch_size, len(spans)))
        segments = []
        for start, end in spans:
            piece = audio[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]
            heard = self._ear.hypothesize([Window(audio=piece, offset=offset + start,
                                                  final=True)])[0].words
            if heard:
                words = (*heard[:-1], dataclasses.replace(heard[-1], text=heard[-1].text + "."))
                segments.append(Segment(start=words[0].start, end=words[-1].end,
                                        text=" ".join(w.text for w in words), words=words))
        return segments
