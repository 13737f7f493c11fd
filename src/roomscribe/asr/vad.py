"""Voice activity for live streams: faster-whisper's bundled Silero VAD, fed as audio arrives.

faster-whisper's `get_speech_timestamps` scores a whole file in one call; a live stream needs the
same model scored 32 ms at a time, its recurrent state carried from one push to the next. Fed that
way it gives exactly the probabilities of the whole-file call. A frame costs about 0.1 ms on one
core, so a silent stream costs a fraction of a percent of a core and never reaches Whisper.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from faster_whisper.vad import get_vad_model

FRAME = 512
"""Samples per scored frame (32 ms at 16 kHz), the only frame size Silero v6 takes at that rate."""

_CONTEXT = 64  # samples of the previous frame Silero sees before each frame


class SileroVad:
    """One stream's Silero state: `score(frames)` gives each 32 ms frame's speech probability."""

    def __init__(self) -> None:
        # One ONNX session for every stream (its `run` is thread-safe); the state is per stream.
        self._session = get_vad_model().session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def score(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities for `frames` of shape (n, FRAME), which continue the previous call's."""
        if frames.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        context = np.concatenate([self._context[None], frames[:-1, -_CONTEXT:]])
        batch = np.ascontiguousarray(np.concatenate([context, frames], axis=1), dtype=np.float32)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c})
        self._context = frames[-1, -_CONTEXT:].copy()
        return np.asarray(out, dtype=np.float32).reshape(-1)
