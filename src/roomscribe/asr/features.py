"""Whisper's input features: the log-mel spectrogram, computed without BLAS and without padding."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class LogMel:
    """Whisper's log-mel spectrogram exactly as faster-whisper computes it, but without BLAS.

    The one matrix product in faster-whisper's extractor (80 mel filters by 201 FFT bins) goes
    through NumPy's OpenBLAS, whose idle threads then spin: measured on this 2-core machine, a
    live call burnt 1.7 CPU-seconds per second of wall time, against 1.0 with one BLAS thread.
    The filters are sparse (391 of 16 080 weights are non-zero), so a gather and a segmented sum
    do the same product on the calling thread, for less work besides.
    """

    def __init__(self, extractor: Any) -> None:
        self._extractor = extractor
        filters = np.asarray(extractor.mel_filters, dtype=np.float32)
        rows, cols = np.nonzero(filters)
        self._cols = cols
        self._weights = filters[rows, cols][:, None]
        self._starts = np.flatnonzero(np.r_[True, np.diff(rows) != 0])
        if len(self._starts) != filters.shape[0]:
            raise ValueError("a mel filter with no weight")  # reduceat would misread it
        self._window = np.hanning(extractor.n_fft + 1)[:-1].astype(np.float32)

    def __call__(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        ex = self._extractor
        stft = ex.stft(np.pad(audio, (0, ex.hop_length)), ex.n_fft, ex.hop_length,
                       window=self._window, return_complex=True).astype(np.complex64)
        power = np.abs(stft[..., :-1]) ** 2
        mel = np.add.reduceat(self._weights * power[self._cols], self._starts, axis=0)
        log_spec = np.log10(np.clip(mel, 1e-10, None))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        return np.asarray((log_spec + 4.0) / 4.0, dtype=np.float32)

    def padded(self, audio: npt.NDArray[np.float32], frames: int) -> npt.NDArray[np.float32]:
        """Whisper's log-mel of `audio` followed by silence, `frames` columns long.

        Only the audio (and one FFT's worth of the silence) is computed: every column past it is
        Whisper's floor, max(-10, loudest - 8) before scaling, exactly (checked against computing
        the padded whole). That saves the 2 s of padding, and a batch's, on every call.
        """
        head = self(np.pad(audio.astype(np.float32, copy=False),
                                    (0, self._extractor.n_fft)))
        # Scaled: (log10 + 4) / 4, so the floor max(-10, top - 8) becomes max(-1.5, top - 2).
        out = np.full((head.shape[0], frames), max(-1.5, float(head.max()) - 2.0),
                      dtype=np.float32)
        used = min(frames, head.shape[1])
        out[:, :used] = head[:, :used]
        return out
