"""One speaker's live captions: voice activity, a short rolling window and LocalAgreement-2.

Whisper transcribes windows, not streams. A session keeps the audio since its last cut and, every
`interval` seconds of new speech, has it transcribed again; the words two successive hypotheses
agree on are committed (LocalAgreement-2, as in ufal/whisper_streaming): they become a final caption
and are never retracted, and the unconfirmed tail is the partial caption.

- Voice activity gates everything: audio that Silero calls silence never reaches Whisper, and 500 ms
  of silence after speech ends the utterance, whose tail is transcribed once more and committed.
- Committed words still inside the window are forced as the decoder prefix, so they are neither
  decoded twice nor duplicated at a seam; committed text before the window is the prompt.
- The window is cut after a committed word where voice activity hears a pause, and forced shorter
  when it outgrows its bounds, so it never grows without bound and each update costs about the same
  in minute one and minute sixty.

No threads and no model here: the engine (or a test) transcribes the `Window` that `prepare`
returns and hands the `Hypothesis` to `accept`. `push` may run on another thread than the rest.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from roomscribe.asr.engine import MAX_WINDOW, Hypothesis, Task, Window
from roomscribe.asr.results import Word
from roomscribe.asr.vad import FRAME
from roomscribe.pcm import SAMPLE_RATE

HypothesisFn = Callable[[Window], Hypothesis]
"""Transcribes one window (the real one is `Transcriber.hypothesize` on a batch of one)."""


class SpeechDetector(Protocol):
    """A stream's voice activity model (`vad.SileroVad`, or a fake in tests)."""

    def score(self, frames: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Speech probability of each row of `frames` (shape (n, FRAME)), continuing the stream."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """How a session trades latency for compute; the defaults are what the benchmark measured."""

    interval: float = 1.0
    """Seconds of new speech between hypotheses; more when the engine is behind. Measured on the
    corpus with beam 5: 0.5 s made LocalAgreement commit more of tiny.en's unstable guesses (live
    WER 5.0% against 3.6% offline), 1.0 s kept within a point (4.2%)."""
    poll: float = 0.1
    """How much new audio the engine lets pile up before voice activity looks at it: the delay
    to notice that an utterance ended, or that `interval` is up. Costs about a millisecond a
    look; at 8 streams 0.1 s measured final latency p50/p95 1.13/1.80 s against 1.36/2.15 s for
    0.25 s, for 7% more CPU."""
    first_window: float = 1.0
    """The first hypothesis of an utterance waits for this much audio (with the pre-roll)."""
    silence: float = 0.5
    """Silence that ends an utterance and flushes its tail as final."""
    preroll: float = 0.3
    """Audio kept from before the onset voice activity detects, so first syllables survive."""
    min_speech: float = 0.25
    """Utterances with less speech than this are noise: dropped without a model call."""
    max_window: float = 15.0
    """A window never grows past this: words older than `keep` are then committed as they stand."""
    keep: float = 3.0
    """Seconds of the newest audio left uncommitted when `max_window` forces a commit."""
    max_prefix: float = 4.0
    """Committed audio kept in the window while waiting for a pause to cut at."""
    threshold: float = 0.5
    """Speech probability that starts speech (Silero's own default)."""
    neg_threshold: float = 0.35
    """Speech probability under which a frame counts as silence (Silero: threshold - 0.15)."""
    max_backlog: float = 30.0
    """Seconds of audio a stream may hold unheard: more, and the engine has fallen hopelessly
    behind this speaker (or the client sends faster than anyone speaks), so it refuses more
    rather than hold unbounded memory and latency."""

    def __post_init__(self) -> None:
        if not 0 < self.keep < self.max_window <= MAX_WINDOW:
            raise ValueError(f"need 0 < keep < max_window <= {MAX_WINDOW}")


@dataclass(frozen=True, slots=True)
class Caption:
    """What one hypothesis changed: new final words, or the current partial.

    An empty partial clears one that is showing when its words turned out to be nothing; its
    start and end are then the end of the last final.
    """

    final: bool
    words: tuple[Word, ...]
    start: float
    end: float

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def _caption(final: bool, words: tuple[Word, ...], at: float) -> Caption:
    if words:
        return Caption(final=final, words=words, start=words[0].start, end=words[-1].end)
    return Caption(final=final, words=words, start=at, end=at)


def _word_key(text: str) -> str:
    """A word as LocalAgreement compares it: case and punctuation do not make two words differ."""
    return re.sub(r"[^\w']+", "", text.lower())


def agreed(previous: tuple[Word, ...], current: tuple[Word, ...]) -> int:
    """How many leading words two hypotheses agree on (LocalAgreement's longest common prefix)."""
    n = 0
    for a, b in zip(previous, current, strict=False):
        if _word_key(a.text) != _word_key(b.text):
            break
        n += 1
    return n


class StreamingSession:
    """The live transcription state of one speaker's stream; see the module docstring."""

    def __init__(self, detector: SpeechDetector, *, origin: float = 0.0,
                 config: StreamConfig | None = None, language: str | None = "en",
                 task: Task = "transcribe") -> None:
        self.config = cfg = config or StreamConfig()
        self.origin = origin
        self.language = language
        """What the speaker speaks; None until detected (the engine sets it)."""
        self.task = task
        self._detector = detector
        # Written by `push` (maybe another thread), read by the worker: a deque is safe for that.
        self._raw: deque[npt.NDArray[np.float32]] = deque()
        self._pushed = 0
        self._carry = np.zeros(0, dtype=np.float32)
        self._ended = False
        self._all_in = False
        """Every sample of the ended stream has been scored."""
        # Scored frames not yet part of an utterance decision, and the frame counter.
        self._frames: deque[tuple[npt.NDArray[np.float32], float]] = deque()
        self._next_frame = 0
        # The current utterance: its frames, their speech probabilities, where it starts.
        self._speaking = False
        self._preroll: deque[tuple[npt.NDArray[np.float32], float]] = deque(
            maxlen=max(1, round(cfg.preroll * SAMPLE_RATE / FRAME)))
        self._buffer: list[npt.NDArray[np.float32]] = []
        self._probs: list[float] = []
        self._start_frame = 0
        self._speech_frames = 0
        self._silent_run = 0
        self._heard = 0
        """Buffer length in frames at the last hypothesis."""
        # Text state.
        self._context: deque[str] = deque(maxlen=48)
        """Committed words before the window: the prompt."""
        self._prefix: list[Word] = []
        """Committed words inside the window: the decoder prefix."""
        self._recent: deque[Word] = deque(maxlen=3)
        """The last committed words, wherever they are: what a seam could repeat."""
        self._tail: tuple[Word, ...] = ()
        self._shown = ""
        self._pending: bool | None = None
        """While a window is out: whether its hypothesis is a flush."""

    # -- audio in ---------------------------------------------------------------------------

    def push(self, pcm: npt.NDArray[np.float32]) -> None:
        """Append 16 kHz mono samples: O(1), no model work."""
        if self._ended:
            raise RuntimeError("push after end()")
        if pcm.size:
            self._raw.append(np.array(pcm, dtype=np.float32, copy=True).reshape(-1))
            self._pushed += pcm.size

    def end(self) -> None:
        """No more audio: the next `prepare` calls flush whatever is left."""
        self._ended = True

    @property
    def backlog(self) -> float:
        """Seconds of audio pushed but not yet part of an utterance or passed over as silence."""
        return max(0, self._pushed - self._next_frame * FRAME) / SAMPLE_RATE

    @property
    def pushed(self) -> float:
        """Seconds of audio pushed so far."""
        return self._pushed / SAMPLE_RATE

    @property
    def heard(self) -> float:
        """Seconds of pushed audio taken into an utterance or passed over as silence."""
        return min(self._pushed, self._next_frame * FRAME) / SAMPLE_RATE

    @property
    def pausing(self) -> bool:
        """The speaker has gone quiet mid-utterance: the next look may flush finals."""
        return self._speaking and self._silent_run >= self._frames_for(self.config.silence / 2)

    @property
    def done(self) -> bool:
        """Ended, and every sample has been transcribed or found silent."""
        return (self._all_in and not self._frames and not self._speaking
                and self._pending is None)

    # -- the two halves of one update --------------------------------------------------------

    def prepare(self) -> Window | None:
        """Score new audio, advance the utterance, and return a window to transcribe, if due."""
        if self._pending is not None:
            raise RuntimeError("prepare() twice without accept()")
        self._score()
        flush = self._advance()
        if flush is None:
            return None
        if flush and self._speech_frames * FRAME < self.config.min_speech * SAMPLE_RATE \
                and not self._tail and not self._prefix:
            self._reset()
            return None
        self._pending = flush
        self._heard = len(self._buffer)
        return Window(audio=np.concatenate(self._buffer), offset=self._time(self._start_frame),
                      prompt=" ".join(self._context),
                      prefix=" ".join(w.text for w in self._prefix), final=flush,
                      language=self.language or "en", task=self.task)

    def accept(self, hypothesis: Hypothesis) -> list[Caption]:
        """Commit what two hypotheses agree on (everything, on a flush); return the changes."""
        flush, self._pending = self._pending, None
        if flush is None:
            raise RuntimeError("accept() without prepare()")
        words = self._unseam(hypothesis.words)
        n = len(words) if flush else agreed(self._tail, words)
        if not flush and len(self._buffer) >= self._frames_for(self.config.max_window):
            # The window is full and the hypotheses keep disagreeing: commit all but the newest
            # `keep` seconds as heard now, so the window stays bounded.
            horizon = self._time(len(self._buffer) + self._start_frame) - self.config.keep
            n = max(n, sum(1 for w in words if w.end <= horizon))
        out: list[Caption] = []
        final = self._commit(words[:n])
        if final:
            out.append(_caption(True, final, self._floor))
            self._shown = ""
        self._tail = () if flush else self._after_floor(words[n:])
        text = " ".join(w.text for w in self._tail)
        if text != self._shown:
            out.append(_caption(False, self._tail, self._floor))
            self._shown = text
        if flush:
            self._reset()
        else:
            self._cut()
        return out

    def step(self, hypothesize: HypothesisFn) -> list[Caption]:
        """Run every update that is due now (several when audio arrived in a large chunk)."""
        return [c for window in self._windows() for c in self.accept(hypothesize(window))]

    def finish(self, hypothesize: HypothesisFn) -> list[Caption]:
        """End the stream and flush everything heard as final."""
        self.end()
        return self.step(hypothesize)

    def _windows(self) -> Iterator[Window]:
        while (window := self.prepare()) is not None:
            yield window

    # -- voice activity and the utterance ----------------------------------------------------

    def _score(self) -> None:
        # Read before draining: every push that happened before `end()` is then in the drain.
        ended = self._ended
        chunks = [self._carry]
        while self._raw:
            chunks.append(self._raw.popleft())
        audio = np.concatenate(chunks)
        if ended and audio.size % FRAME:
            audio = np.pad(audio, (0, FRAME - audio.size % FRAME))
        whole = audio.size - audio.size % FRAME
        self._carry = audio[whole:]
        self._all_in = ended
        frames = audio[:whole].reshape(-1, FRAME)
        for frame, prob in zip(frames, self._detector.score(frames), strict=True):
            self._frames.append((frame, float(prob)))

    def _advance(self) -> bool | None:
        """Move scored frames into the utterance: True = flush it, False = update, None = wait."""
        cfg = self.config
        while self._frames:
            frame, prob = self._frames.popleft()
            self._next_frame += 1
            if not self._speaking:
                self._preroll.append((frame, prob))
                if prob >= cfg.threshold:
                    self._open_utterance()
                continue
            self._buffer.append(frame)
            self._probs.append(prob)
            self._speech_frames += prob >= cfg.threshold
            self._silent_run = self._silent_run + 1 if prob < cfg.neg_threshold else 0
            if self._silent_run >= self._frames_for(cfg.silence):
                return True
            if len(self._buffer) >= self._frames_for(cfg.max_window):
                return False
        if not self._speaking:
            return None
        if self._all_in:
            return True
        new = len(self._buffer) - self._heard
        if new < self._frames_for(cfg.interval) or \
                len(self._buffer) < self._frames_for(cfg.first_window):
            return None
        if self.pausing:
            # The flush is at most a quarter second away and will commit everything, so this
            # update would only produce a partial.
            return None
        return False

    def _open_utterance(self) -> None:
        self._speaking = True
        self._buffer = [f for f, _ in self._preroll]
        self._probs = [p for _, p in self._preroll]
        self._start_frame = self._next_frame - len(self._buffer)
        self._preroll.clear()
        self._speech_frames = 1
        self._silent_run = 0
        self._heard = 0

    def _reset(self) -> None:
        """End the utterance; its last frames become the pre-roll of the next."""
        self._preroll.extend(zip(self._buffer, self._probs, strict=True))
        self._speaking = False
        self._buffer, self._probs = [], []
        self._context.extend(w.text for w in self._prefix)
        self._prefix = []
        self._tail = ()

    # -- text ---------------------------------------------------------------------------------

    @property
    def _floor(self) -> float:
        """Where the last final ends: no later word may start before it."""
        return self._recent[-1].end if self._recent else self.origin

    def _unseam(self, words: tuple[Word, ...]) -> tuple[Word, ...]:
        """Drop words the model heard again in committed audio (a duplicate at the seam).

        Only when they start before the last committed word ends (give or take one alignment
        step): a speaker who really says "that that" says the second one later than that.
        """
        recent = list(self._recent)
        for k in range(min(len(recent), len(words)), 0, -1):
            if [_word_key(w.text) for w in words[:k]] == [_word_key(w.text) for w in recent[-k:]] \
                    and words[0].start < recent[-1].end + 0.05:
                return words[k:]
        return words

    def _after_floor(self, words: tuple[Word, ...]) -> tuple[Word, ...]:
        """Words clamped to start after the last final and after each other: alignment can put
        a word's edge a little inside its neighbour, and a final's time is not up for revision."""
        out: list[Word] = []
        floor = self._floor
        for w in words:
            start = max(w.start, floor)
            floor = max(w.end, start)
            out.append(Word(start=start, end=floor, text=w.text, probability=w.probability))
        return tuple(out)

    def _commit(self, words: tuple[Word, ...]) -> tuple[Word, ...]:
        """Make words final (clamped like every word shown: finals never overlap)."""
        out = self._after_floor(words)
        self._prefix.extend(out)
        self._recent.extend(out)
        return out

    def _cut(self) -> None:
        """Drop committed audio from the window: at a pause after a committed word, or by force."""
        cfg = self.config
        cut, keep = None, 0
        for i in range(len(self._prefix) - 1, -1, -1):
            j = self._quietest(i)
            if j is not None and self._probs[j] < cfg.neg_threshold:
                cut, keep = j, i + 1
                break
        spoken = (self._frames_of(self._prefix[-1].end) - self._start_frame) if self._prefix else 0
        if cut is None and spoken >= self._frames_for(cfg.max_prefix):
            # No pause to cut at: cut after the last committed word anyway, where it is quietest.
            cut, keep = self._quietest(len(self._prefix) - 1) or spoken, len(self._prefix)
        if cut is None and len(self._buffer) >= self._frames_for(cfg.max_window):
            # Voice activity hears speech where Whisper hears no words (noise, music): the audio
            # was transcribed as nothing, so the window moves on past it.
            cut, keep = len(self._buffer) - self._frames_for(cfg.keep), len(self._prefix)
        if cut is None or cut <= 0:
            return
        self._context.extend(w.text for w in self._prefix[:keep])
        self._prefix = self._prefix[keep:]
        del self._buffer[:cut], self._probs[:cut]
        self._start_frame += cut
        self._heard = max(0, self._heard - cut)

    def _quietest(self, i: int) -> int | None:
        """The frame (window index) between committed word `i` and the next word with the least
        speech in it; of equals, the one nearest the middle of the gap."""
        word = self._prefix[i]
        after = self._prefix[i + 1].start if i + 1 < len(self._prefix) else (
            self._tail[0].start if self._tail else word.end + 0.2)
        lo = max(self._frames_of(word.end - 0.1) - self._start_frame, 0)
        hi = min(self._frames_of(after + 0.1) - self._start_frame, len(self._probs))
        if hi <= lo:
            return None
        middle = self._frames_of((word.end + max(after, word.end)) / 2) - self._start_frame
        return min(range(lo, hi), key=lambda j: (self._probs[j], abs(j - middle)))

    # -- time ----------------------------------------------------------------------------------

    def _time(self, frame: int) -> float:
        return self.origin + frame * FRAME / SAMPLE_RATE

    def _frames_of(self, t: float) -> int:
        return round((t - self.origin) * SAMPLE_RATE / FRAME)

    def _frames_for(self, seconds: float) -> int:
        return max(1, round(seconds * SAMPLE_RATE / FRAME))
