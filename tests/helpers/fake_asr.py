"""Stand-ins for Whisper and Silero, for fast tests of the live engine and of the layers above it.

`FakeTranscriber` hears tone bursts: `say(["hello", "world"])` renders each word as a tone whose
pitch names it, and `hypothesize` finds the bursts in a window and names them back. A burst that
runs into the end of the window comes out garbled, as a word Whisper only half heard does, so
LocalAgreement has something to disagree about. `LoudnessVad` calls a frame speech when it is loud.
Both are real classes with the real signatures, so
`LiveEngine(FakeTranscriber(), detector=LoudnessVad)` captions synthetic audio with no model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from roomscribe.asr.engine import Hypothesis, Window
from roomscribe.asr.results import Word

SAMPLE_RATE = 16_000
VOCABULARY: tuple[str, ...] = (
    "the", "a", "of", "and", "to", "in", "is", "was", "he", "it", "that", "his", "her", "with",
    "as", "for", "had", "you", "not", "be", "on", "at", "by", "which", "this", "from", "but",
    "they", "all", "she", "were", "my", "me", "one", "there", "so", "an", "have", "said", "we",
    "what", "no", "if", "when", "who", "would", "more", "out", "up", "into", "them", "been",
)
"""Words `say` can render: one pitch each, 40 Hz apart from 300 Hz."""
_BASE_HZ = 300.0
_STEP_HZ = 40.0
_HOP = 160  # 10 ms envelope frames
_LOUD = 0.01


class FakeTranscriber:
    """Names the tone bursts of `say`; see the module docstring. Thread-safe."""

    def __init__(self, *, num_workers: int = 1, delay: float = 0.0,
                 vocabulary: Sequence[str] = VOCABULARY) -> None:
        self.num_workers = num_workers
        self.delay = delay
        """Seconds a call of one window sleeps, to play a slow model (overload tests); a call of
        n windows sleeps √n times that, since batching is cheaper per window, as on CTranslate2."""
        self.vocabulary = tuple(vocabulary)
        self.calls = 0
        self.windows: list[Window] = []
        self._lock = threading.Lock()

    def detect_language(self, audio: npt.NDArray[np.float32]) -> tuple[str, float]:
        return "en", 1.0

    def say(self, words: Sequence[str], *, word: float = 0.3, gap: float = 0.1,
            lead: float = 0.5, tail: float = 1.0) -> tuple[npt.NDArray[np.float32], list[Word]]:
        """Audio of `words` (each `word` seconds, `gap` apart) and where each one is in it."""
        rate = SAMPLE_RATE
        t = np.arange(int(word * rate)) / rate
        ramp = np.minimum(1.0, np.minimum(t, word - t) / 0.01)  # no clicks at the edges
        pieces = [np.zeros(int(lead * rate), dtype=np.float32)]
        script: list[Word] = []
        at = lead
        for i, w in enumerate(words):
            hz = _BASE_HZ + _STEP_HZ * self.vocabulary.index(w)
            pieces.append((0.3 * ramp * np.sin(2 * np.pi * hz * t)).astype(np.float32))
            script.append(Word(start=round(at, 3), end=round(at + word, 3), text=w))
            at += word
            if i < len(words) - 1:
                pieces.append(np.zeros(int(gap * rate), dtype=np.float32))
                at += gap
        pieces.append(np.zeros(int(tail * rate), dtype=np.float32))
        return np.concatenate(pieces), script

    def hypothesize(self, windows: Sequence[Window], *, beam_size: int = 1) -> list[Hypothesis]:
        with self._lock:
            self.calls += 1
            self.windows.extend(windows)
        if self.delay:
            time.sleep(self.delay * len(windows) ** 0.5)
        return [self._hear(w) for w in windows]

    def _hear(self, window: Window) -> Hypothesis:
        audio = window.audio
        n = audio.size // _HOP
        loud = np.sqrt(np.mean(audio[: n * _HOP].reshape(n, _HOP) ** 2, axis=1)) > _LOUD
        words: list[Word] = []
        i = 0
        while i < n:
            if not loud[i]:
                i += 1
                continue
            j = i
            while j < n and loud[j]:
                j += 1
            burst = audio[i * _HOP: j * _HOP]
            spectrum = np.abs(np.fft.rfft(burst))
            hz = float(np.argmax(spectrum)) * SAMPLE_RATE / burst.size
            index = round((hz - _BASE_HZ) / _STEP_HZ)
            text = self.vocabulary[min(max(index, 0), len(self.vocabulary) - 1)]
            if j >= n - 2 and not window.final:
                # Cut off by the window's end; a flush is the end of speech, so it is whole.
                text = text[: max(1, len(text) // 2)] + "-"
            words.append(Word(start=round(window.offset + i * _HOP / SAMPLE_RATE, 3),
                              end=round(window.offset + j * _HOP / SAMPLE_RATE, 3), text=text))
            i = j
        skip = len(window.prefix.split())
        return Hypothesis(words=tuple(words[skip:]))


class LoudnessVad:
    """A voice activity detector for `say` audio: a frame is speech when it is loud."""

    def score(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        return np.asarray(rms > _LOUD, dtype=np.float32)
