"""SileroVad fed piecewise equals faster-whisper's whole-file scoring, and tells speech apart."""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import get_vad_model

from helpers.speech import clips
from roomscribe.asr.vad import FRAME, SileroVad
from roomscribe.media import ffmpeg


def test_piecewise_scores_equal_the_whole_file_scores() -> None:
    audio = ffmpeg.decode(clips("jfk")[0].path)
    frames = audio[: audio.size // FRAME * FRAME].reshape(-1, FRAME)
    whole = np.asarray(get_vad_model()(frames.reshape(-1))).reshape(-1)
    vad = SileroVad()
    pieces = [vad.score(frames[i: i + n]) for i, n in zip(
        np.cumsum([0, 1, 7, 31, 2, 100]), [1, 7, 31, 2, 100, len(frames)], strict=True)]
    assert np.allclose(np.concatenate(pieces), whole, atol=1e-5)
    assert vad.score(np.zeros((0, FRAME), dtype=np.float32)).size == 0


def test_speech_scores_high_and_silence_low() -> None:
    audio = ffmpeg.decode(clips("librispeech_test_clean")[0].path)
    frames = audio[: audio.size // FRAME * FRAME].reshape(-1, FRAME)
    probs = SileroVad().score(frames)
    assert np.mean(probs > 0.5) > 0.7
    quiet = SileroVad().score(np.zeros((60, FRAME), dtype=np.float32))
    assert quiet.max() < 0.1
