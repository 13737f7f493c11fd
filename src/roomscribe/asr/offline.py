"""The offline pass over a recorded track: voice activity cuts it into clips of speech, which the
shared `Transcriber` decodes several at a time, each clip as one run of timed words that
`sentences` then cuts (a search hit or an edit is then one sentence).

Clips are up to 29 s, cut at pauses, and padded only to their own length plus 2 s, not to 30 s
as faster-whisper's batched pipeline pads them: on bench_archive.py's three-speaker room that is
23x real time at 3.4% WER, against 13x and 3.8% for each whole track through faster-whisper's
sequential path. Earlier measurements on the corpus: the pipeline's own VAD merged utterances
across pauses and dropped words at the seams (13.7%), and timestamp tokens dropped whole
sentences (9.7%). A track is read and transcribed a window at a time, so memory stays flat however
long the room ran.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from roomscribe.asr.engine import DecodeOptions
from roomscribe.asr.results import Segment, Word
from roomscribe.asr.streaming import SpeechDetector
from roomscribe.asr.vad import FRAME, SileroVad
from roomscribe.pcm import SAMPLE_RATE

WINDOW = 600.0
"""Seconds of a track read and transcribed at once: 38 MB of samples, however long the room ran."""
OVERLAP = 30.0
"""Segments ending in a window's last seconds may be cut off by its edge: the next window starts
where the first of them starts and hears them whole. Clips last at most `MAX_CLIP`."""
BATCH_SIZE = 8
"""Clips per model call."""
DECODING = DecodeOptions(without_timestamps=True)
"""One segment a clip, with word timings (see the module docstring)."""
MAX_CLIP = 29.0
"""Longest clip, padding included: Whisper hears 30 s at a time."""
PAUSE = 1.0
"""Silence that always ends a clip; shorter pauses are kept inside one while it has room."""
LEAD, TAIL = 0.2, 1.0
"""Seconds kept before detected speech (its first syllable) and after it (Whisper wants room
after the last word: with 0.2 s, the batched pipeline dropped clips' last sentences)."""
SPEECH, SILENCE = 0.5, 0.35
"""Speech probabilities that start and end speech (Silero's own thresholds)."""



class Track(Protocol):
    """One speaker's recorded audio on the room clock (`recordings.tracks.TrackReader`)."""

    @property
    def start(self) -> float | None:
        """Room time of the first sample; None when nothing was recorded."""

    @property
    def end(self) -> float:
        """Room time just after the last sample."""

    def read(self, start: float = 0.0, end: float | None = None) -> npt.NDArray[np.int16]:
        """16-bit samples between two room times (silence where nothing was recorded)."""


_SENTENCE_END = re.compile(r"[.?!…][\"'”’)\]]*$")


class OfflineTranscriber(Protocol):
    """What the final pass needs of a model: `Transcriber`, or the tests' `ToneModel`."""

    def transcribe(self, audio: npt.NDArray[np.float32], *,
                   options: DecodeOptions | None = None, offset: float = 0.0,
                   batch_size: int = 0,
                   clips: list[tuple[float, float]] | None = None) -> list[Segment]: ...

    def detect_language(self, audio: npt.NDArray[np.float32]) -> tuple[str, float]: ...


def sentences(segment: Segment) -> list[Segment]:
    """`segment` cut after each sentence its words end (unchanged when it holds one)."""
    pieces: list[list[Word]] = [[]]
    for word in segment.words:
        if pieces[-1] and _SENTENCE_END.search(pieces[-1][-1].text):
            pieces.append([])
        pieces[-1].append(word)
    if len(pieces) == 1:
        return [segment]
    return [Segment(start=p[0].start, end=p[-1].end, text=" ".join(w.text for w in p),
                    words=tuple(p), speaker=segment.speaker, language=segment.language)
            for p in pieces]


def speech_clips(audio: npt.NDArray[np.float32],
                 detector: SpeechDetector) -> list[tuple[float, float]]:
    """The stretches of `audio` holding speech, in seconds from its start, each at most
    `MAX_CLIP` long and cut at pauses: what the model decodes, one clip per batch item."""
    frames = audio.size // FRAME
    if frames == 0:
        return []
    scores = detector.score(audio[: frames * FRAME].reshape(frames, FRAME))
    regions: list[tuple[int, int]] = []
    begun: int | None = None
    for i, score in enumerate(scores):
        if begun is None and score >= SPEECH:
            begun = i
        elif begun is not None and score < SILENCE:
            regions.append((begun, i))
            begun = None
    if begun is not None:
        regions.append((begun, frames))
    step, length, room = FRAME / SAMPLE_RATE, audio.size / SAMPLE_RATE, MAX_CLIP - LEAD - TAIL
    speech: list[tuple[float, float]] = []
    for first, last in regions:
        start, end = first * step, last * step
        if speech and start - speech[-1][1] < PAUSE and end - speech[-1][0] <= room:
            speech[-1] = (speech[-1][0], end)
            continue
        while end - start > room:  # speech without a pause: cut where it must be
            speech.append((start, start + room))
            start += room
        speech.append((start, end))
    clips: list[tuple[float, float]] = []
    for i, (start, end) in enumerate(speech):
        after = speech[i + 1][0] - LEAD if i + 1 < len(speech) else length
        clips.append((max(0.0, start - LEAD, clips[-1][1] if clips else 0.0),
                      min(length, max(end, min(end + TAIL, after)))))
    return clips


def transcribe_track(model: OfflineTranscriber, reader: Track,
                     detector: Callable[[], SpeechDetector] = SileroVad, *,
                     language: str | None = "en") -> list[Segment]:
    """Every segment of one track, on the room clock, a window at a time. Blocking.
    `language` None: detected from the first window with speech (multilingual models)."""
    if reader.start is None:
        return []
    options = dataclasses.replace(DECODING, language=language)
    out: list[Segment] = []
    position, end = reader.start, reader.end
    while position < end:
        stop = min(end, position + WINDOW)
        audio = reader.read(position, stop).astype(np.float32) / 32768.0
        clips = speech_clips(audio, detector())
        if clips and options.language is None:
            heard = np.concatenate([audio[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)]
                                    for a, b in clips])
            options = dataclasses.replace(options, language=model.detect_language(heard)[0])
        found = [dataclasses.replace(s, language=options.language)
                 for s in model.transcribe(audio, options=options, offset=position,
                                           batch_size=BATCH_SIZE, clips=clips)] if clips else []
        cut = stop - OVERLAP
        later = [s for s in found if s.end > cut]
        resume = min((s.start for s in later), default=cut)
        if stop >= end or resume <= position:
            # The track's end, or one segment filling the window (a model that is not Whisper):
            # nothing to hear again.
            out += found
            position = stop
        else:
            out += [s for s in found if s.end <= cut]
            position = resume
    return out


