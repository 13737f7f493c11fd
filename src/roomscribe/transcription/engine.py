"""The thread boundary around faster-whisper: one loaded model shared by every caller.

All calls here block (CTranslate2 releases the GIL while it works); async code reaches them through
`asyncio.to_thread` or the live engine's worker pool, never directly on the event loop.
faster-whisper's `segments` is a lazy generator, so it is consumed here, inside the worker thread.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from faster_whisper import BatchedInferencePipeline, WhisperModel

from roomscribe.config import Settings
from roomscribe.errors import ModelUnavailable
from roomscribe.transcription.catalog import Catalog
from roomscribe.transcription.results import Segment, Word

# Phrases Whisper is known to invent on silence, music or noise (its training data is full of
# video outros). Dropped only when the model itself was unsure there was speech.
_HALLUCINATIONS = frozenset({
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "please subscribe", "subscribe to my channel", "bye", "you", "so", "okay",
})


def _plain(text: str) -> str:
    return re.sub(r"[^a-z' ]+", "", text.lower()).strip()


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """The knobs a caller may turn per call; the rest are fixed for accuracy on this product."""

    word_timestamps: bool = True
    vad: bool = True
    initial_prompt: str | None = None
    beam_size: int = 5
    without_timestamps: bool = False


class Transcriber:
    """A Whisper model loaded once (int8 on CPU) and shared by every stream and job."""

    def __init__(self, model_dir: Path, *, cpu_threads: int, num_workers: int = 1) -> None:
        try:
            self.model = WhisperModel(
                str(model_dir), device="cpu", compute_type="int8",
                cpu_threads=cpu_threads, num_workers=num_workers,
            )
        except (RuntimeError, ValueError, OSError) as err:
            raise ModelUnavailable(
                f"could not load the Whisper model at {model_dir}: {err}; "
                "run: roomscribe models verify"
            ) from None
        self.model_dir = model_dir
        self.cpu_threads = cpu_threads
        self.num_workers = num_workers
        self.language: str | None = None if self.model.model.is_multilingual else "en"
        self._batched: BatchedInferencePipeline | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str | None = None,
                      num_workers: int = 1) -> Transcriber:
        path = Catalog(settings.models_dir).resolve(model or settings.asr_model)
        threads = max(1, settings.asr_threads // max(1, num_workers))
        return cls(path, cpu_threads=threads, num_workers=num_workers)

    @property
    def batched(self) -> BatchedInferencePipeline:
        with self._lock:
            if self._batched is None:
                self._batched = BatchedInferencePipeline(model=self.model)
            return self._batched

    def transcribe(
        self,
        audio: npt.NDArray[np.float32],
        *,
        options: DecodeOptions | None = None,
        offset: float = 0.0,
        batch_size: int = 0,
        clips: list[tuple[float, float]] | None = None,
    ) -> list[Segment]:
        """Transcribe 16 kHz mono audio; times are shifted by `offset` seconds.

        `batch_size > 0` uses faster-whisper's batched pipeline (VAD-chunked, several chunks per
        model call), which is faster on long audio.
        """
        opts = options or DecodeOptions()
        common: dict[str, Any] = {
            "language": self.language,
            "beam_size": opts.beam_size,
            "word_timestamps": opts.word_timestamps,
            "initial_prompt": opts.initial_prompt,
            "without_timestamps": opts.without_timestamps,
        }
        if batch_size > 0:
            spans = [{"start": a, "end": b} for a, b in clips] if clips else None
            segments, _ = self.batched.transcribe(
                audio, batch_size=batch_size, vad_filter=spans is None and opts.vad,
                clip_timestamps=spans, **common)
        else:
            segments, _ = self.model.transcribe(
                audio, vad_filter=opts.vad,
                vad_parameters={"min_silence_duration_ms": 500},
                # Feeding the previous window's text back in is what makes Whisper loop on
                # long audio; callers that want context pass it as `initial_prompt`.
                condition_on_previous_text=False,
                **common,
            )
        return list(_convert(segments, offset))


def _convert(segments: Iterable[Any], offset: float) -> Iterable[Segment]:
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if seg.no_speech_prob > 0.6 and seg.avg_logprob < -0.8:
            continue
        if _plain(text) in _HALLUCINATIONS and (seg.no_speech_prob > 0.2 or seg.avg_logprob < -0.6):
            continue
        if seg.compression_ratio > 2.4:  # a repetition loop
            continue
        words = tuple(
            Word(start=round(float(w.start) + offset, 3),
                 end=round(float(max(w.end, w.start)) + offset, 3),
                 text=w.word.strip(), probability=round(float(w.probability), 4))
            for w in (seg.words or ())
            if w.word.strip()
        )
        yield Segment(start=round(float(seg.start) + offset, 3),
                      end=round(float(seg.end) + offset, 3),
                      text=text, words=words)
