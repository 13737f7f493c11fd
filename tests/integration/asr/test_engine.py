"""The real tiny.en model on human recordings: accuracy, word timing, and no invented text."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from helpers.speech import clips, wer
from roomscribe.asr.engine import Transcriber
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE

pytestmark = pytest.mark.model  # the real model: once, on the embedded profile

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def librispeech_wer(transcriber: Transcriber) -> float:
    refs, hyps = [], []
    for clip in clips("librispeech_test_clean"):
        segments = transcriber.transcribe(ffmpeg.decode(clip.path))
        refs.append(clip.reference)
        hyps.append(" ".join(s.text for s in segments))
    return wer(refs, hyps)


def test_librispeech_clean_wer_at_most_10_percent(librispeech_wer: float) -> None:
    # The Whisper paper reports 5.6% for tiny.en on all of test-clean; these 19 clips are a sample.
    assert librispeech_wer <= 0.10, f"WER {librispeech_wer:.3f}"


def test_batched_clips_are_no_less_accurate_and_keep_every_clip_whole(
        transcriber: Transcriber, librispeech_wer: float) -> None:
    """The final pass's path: every LibriSpeech clip a span of one joined recording, decoded
    several at a time, each padded only to its length."""
    corpus = clips("librispeech_test_clean")
    gap = np.zeros(SR, dtype=np.float32)
    pieces, spans, at = [], [], 0.0
    for clip in corpus:
        audio = ffmpeg.decode(clip.path)
        spans.append((at, at + audio.size / SR))
        pieces += [audio, gap]
        at += audio.size / SR + 1.0
    segments = transcriber.transcribe(np.concatenate(pieces), batch_size=8, clips=spans,
                                      offset=50.0)
    # One segment a clip, its words inside it, in order.
    assert len(segments) == len(corpus)
    for seg, (a, b) in zip(segments, spans, strict=True):
        assert 50.0 + a - 0.01 <= seg.start <= seg.end <= 50.0 + b + 0.01
        assert all(w.start <= w.end for w in seg.words)
        assert all(x.end <= y.start for x, y in pairwise(seg.words))
    batched = wer([c.reference for c in corpus], [s.text for s in segments])
    # Within 1.5 points (6 of these 432 words): int8 kernels differ by CPU, and so do the few
    # words the two decodings disagree on. Measured: 3.0% batched against 3.2% sequential on an
    # AVX-512 host; 3.5% against 2.5% on an AVX2 EPYC ("rituals", "Stuffered", "Nellie"). What
    # this guards against is far larger: timestamp tokens dropped whole sentences (9.7%).
    assert batched <= librispeech_wer + 0.015, (batched, librispeech_wer)
    # The longest clip (21.5 s) keeps its last words: a token budget once cut it short.
    longest = max(range(len(corpus)), key=lambda i: spans[i][1] - spans[i][0])
    assert segments[longest].text.rstrip(".").lower().endswith(
        " ".join(corpus[longest].reference.lower().split()[-2:]))


def test_word_timestamps_are_ordered_and_inside_the_audio(transcriber: Transcriber) -> None:
    clip = clips("jfk")[0]
    audio = ffmpeg.decode(clip.path)
    segments = transcriber.transcribe(audio, offset=100.0)
    words = [w for s in segments for w in s.words]
    assert len(words) >= 20
    assert all(100.0 <= w.start <= w.end <= 100.0 + audio.size / SR + 0.1 for w in words)
    assert all(a.start <= b.start for a, b in pairwise(words))
    assert "country" in " ".join(w.text.lower() for w in words)


def _noises() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 8 * SR
    white = rng.normal(0, 0.05, n)
    brown = np.cumsum(rng.normal(0, 0.01, n))
    brown = 0.2 * brown / np.abs(brown).max()
    t = np.arange(n) / SR
    hum = 0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 100 * t)
    clicks = np.zeros(n)
    clicks[:: SR // 3] = 0.8
    return {
        "silence": np.zeros(n),
        "white": white,
        "brown": brown,
        "hum": hum,
        "clicks": clicks,
        "faint": rng.normal(0, 0.002, n),
    }


@pytest.mark.parametrize("kind", sorted(_noises()))
def test_silence_and_noise_produce_no_text(transcriber: Transcriber, kind: str) -> None:
    audio = _noises()[kind].astype(np.float32)
    assert transcriber.transcribe(audio) == []
