"""The thread boundary around faster-whisper: one loaded model shared by every caller.

All calls here block (CTranslate2 releases the GIL while it works); async code reaches them through
`asyncio.to_thread` or the live engine's worker pool, never directly on the event loop.
faster-whisper's `segments` is a lazy generator, so it is consumed here, inside the worker thread.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import ctranslate2
import numpy as np
import numpy.typing as npt
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import (
    get_compression_ratio,
    get_suppressed_tokens,
    merge_punctuations,
)

from roomscribe.asr.catalog import Catalog
from roomscribe.asr.features import LogMel
from roomscribe.asr.results import Segment, Word
from roomscribe.config import Settings
from roomscribe.errors import ModelUnavailable
from roomscribe.pcm import SAMPLE_RATE

# Phrases Whisper is known to invent on silence, music or noise (its training data is full of
# video outros). Dropped only when the model itself was unsure there was speech.
_HALLUCINATIONS = frozenset({
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "please subscribe", "subscribe to my channel", "bye", "you", "so", "okay",
})


WINDOW_PAD = 2.0
"""Seconds of silence appended to every live window. Whisper only ever saw windows that end in
padding: measured on the corpus, a window cut flush at the last sample made tiny.en loop ("sauce,
sauce, sauce…") or invent an ending in most cuts, while 1–2 s of padding stopped that at a small
fraction of the cost of padding to 30 s."""

MAX_WINDOW = 27.0
"""Longest live window in seconds: with the padding it stays under the 3000 feature frames (30 s)
CTranslate2's Whisper encoder accepts."""

PROMPT_TOKENS = 64
"""Committed text fed back as context, in tokens. Whisper allows 223; a short tail carries the
spelling and style that matter, and costs less to decode."""

MAX_CLIP = 29.0
"""Longest offline clip in one window, in seconds: with at least 1 s of padding it stays within
the 30 s Whisper hears; longer clips are cut in equal parts."""

CLIP_PAD = 2.0
"""Silence after an offline clip, in seconds (less for a clip near `MAX_CLIP`): as for live
windows, Whisper wants room after the last word, not 30 s of it."""

_TOKENS_PER_SECOND = 7.0
"""A ceiling on speech: fast English runs near 4 words (about 5.5 tokens) a second, so a window that
decodes to more than this is a repetition loop, cut off early rather than decoded to 448 tokens."""

_TOKENS_PER_SECOND_OTHER = 16.0
"""The same ceiling for text in other languages: Whisper's vocabulary is English-heavy, so other
scripts take several tokens a word (Russian, Arabic) or one or two a character (Chinese,
Japanese), and 7 a second cut their sentences short."""


def _token_rate(language: str, task: str) -> float:
    english = language == "en" or task == "translate"
    return _TOKENS_PER_SECOND if english else _TOKENS_PER_SECOND_OTHER

_BATCH_SPREAD = 1.6
"""Windows share a batch while the longest (padded) is at most this times the shortest: beyond
that, the padding the short ones would carry costs more than a second call's overhead."""

_INSTANT = 0.04
"""A word aligned to less than this (two alignment steps) was placed on no audio."""

_PREPEND = "\"'“¿([{-"
_APPEND = "\"'.。,，!！?？:：”)]}、"


def _bare_phrase(text: str) -> str:
    """Lower-case letters (of any script), apostrophes and spaces only: how hallucinations and
    repeats compare."""
    return re.sub(r"[^\w' ]+|[\d_]+", "", text.lower()).strip()


def _is_hallucination(text: str, no_speech_prob: float, avg_logprob: float) -> bool:
    """Whisper's own silence test, and the phrases it invents when unsure there was speech."""
    if no_speech_prob > 0.6 and avg_logprob < -0.8:
        return True
    return _bare_phrase(text) in _HALLUCINATIONS and (no_speech_prob > 0.2 or avg_logprob < -0.6)


Task = Literal["transcribe", "translate"]


def needs_multilingual(language: str | None, task: Task) -> bool:
    """A stream or window an English-only model cannot hear (another language, one still to
    detect, or a translation)."""
    return language != "en" or task != "transcribe"


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of one live stream to transcribe, with the committed text around it."""

    audio: npt.NDArray[np.float32]
    """16 kHz mono samples, at most `MAX_WINDOW` seconds, not padded."""
    offset: float
    """Room time of the first sample, in seconds."""
    prompt: str = ""
    """Committed text spoken before the window: context, never transcribed again."""
    prefix: str = ""
    """Committed text spoken inside the window: forced as the start of the transcript, so only
    what follows it is decoded and returned."""
    final: bool = False
    """Its words will be committed as they stand (the end of an utterance), not compared with a
    later hypothesis: worth a wider beam."""
    language: str = "en"
    """What is spoken (a Whisper language code); an English-only model hears only "en"."""
    task: Task = "transcribe"
    """`translate`: the words in English, whatever was spoken (multilingual models only)."""

    @property
    def duration(self) -> float:
        return self.audio.size / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What the model heard in a window after its prefix; empty when it heard no speech."""

    words: tuple[Word, ...] = ()
    """In room time, in order, non-overlapping."""
    text: str = ""
    """The words as Whisper spelt them together ("half-grown", not "half -grown")."""
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """The knobs a caller may turn per call; the rest are fixed for accuracy on this product."""

    word_timestamps: bool = True
    vad: bool = True
    initial_prompt: str | None = None
    beam_size: int = 5
    without_timestamps: bool = False
    padded: bool = False
    """With `batch_size` and `clips`: pad every clip to 30 s in faster-whisper's batched pipeline,
    its own way, instead of to its length (kept to compare against, in `bench_offline.py`)."""
    language: str | None = None
    """What is spoken; None: the transcriber's own (English, or detected by a multilingual
    model)."""
    task: Task = "transcribe"


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
        self.multilingual = bool(self.model.model.is_multilingual)
        self.language: str | None = None if self.multilingual else "en"
        """Offline transcription's language: None detects it (multilingual models)."""
        self._batched: BatchedInferencePipeline | None = None
        self._lock = threading.Lock()
        self._tokenizers: dict[tuple[str, Task], Tokenizer] = {}
        self._tokenizer = self.tokenizer("en", "transcribe")
        self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]) or ())
        self.features = LogMel(self.model.feature_extractor)

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str | None = None,
                      num_workers: int = 1) -> Transcriber:
        path = Catalog(settings.models_dir).resolve(model or settings.asr_model)
        threads = max(1, settings.asr_threads // max(1, num_workers))
        return cls(path, cpu_threads=threads, num_workers=num_workers)

    def tokenizer(self, language: str, task: Task) -> Tokenizer:
        """The tokenizer whose start sequence names `language` and `task` (an English-only model
        knows neither: its one sequence is used for everything)."""
        key = (language, task) if self.multilingual else ("en", "transcribe")
        with self._lock:
            found = self._tokenizers.get(key)
            if found is None:
                found = self._tokenizers[key] = Tokenizer(
                    self.model.hf_tokenizer, self.multilingual, task=key[1], language=key[0])
            return found

    def detect_language(self, audio: npt.NDArray[np.float32]) -> tuple[str, float]:
        """The language spoken in (up to 30 s of) 16 kHz audio, and the model's confidence.
        English for an English-only model."""
        if not self.multilingual:
            return "en", 1.0
        language, probability, _ = self.model.detect_language(audio[: 30 * SAMPLE_RATE])
        return language, float(probability)

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

        `batch_size > 0` decodes several chunks per model call, which is faster on long audio:
        with `clips` (spans in seconds, at pauses), each clip padded only to its own length
        (`_transcribe_clips`); without, faster-whisper's batched pipeline chunks by its VAD.
        """
        opts = options or DecodeOptions()
        common: dict[str, Any] = {
            "language": (opts.language or self.language) if self.multilingual else "en",
            "task": opts.task if self.multilingual else "transcribe",
            "beam_size": opts.beam_size,
            "word_timestamps": opts.word_timestamps,
            "initial_prompt": opts.initial_prompt,
            "without_timestamps": opts.without_timestamps,
        }
        if batch_size > 0 and clips and not opts.padded:
            return self._transcribe_clips(audio, clips, opts, offset, batch_size)
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

    def _transcribe_clips(self, audio: npt.NDArray[np.float32], clips: list[tuple[float, float]],
                          opts: DecodeOptions, offset: float, batch_size: int) -> list[Segment]:
        """One segment per clip, `batch_size` clips of similar length per model call, each
        padded with at most `CLIP_PAD` of silence rather than to 30 s (the batched pipeline's
        way): a 10 s clip costs a third of the encoder time. Word times come from alignment,
        as for live windows, so `without_timestamps` is implied."""
        windows: list[Window] = []
        for a, b in clips:
            first, last = max(0, int(a * SAMPLE_RATE)), min(audio.size, int(b * SAMPLE_RATE))
            # A clip longer than one window is cut in equal parts (callers cut at pauses first).
            parts = max(1, -(-(last - first) // int(MAX_CLIP * SAMPLE_RATE)))
            edges = np.linspace(first, last, parts + 1).astype(int)
            windows += [Window(audio=audio[x:y], offset=offset + x / SAMPLE_RATE,
                               prompt=opts.initial_prompt or "", final=True,
                               language=opts.language or self.language or "en", task=opts.task)
                        for x, y in pairwise(edges.tolist()) if y > x]
        found = self.hypothesize(windows, beam_size=opts.beam_size, whole=True, most=batch_size)
        return [Segment(start=h.words[0].start, end=h.words[-1].end, text=h.text,
                        words=h.words if opts.word_timestamps else ())
                for h in found if h.words]

    def hypothesize(self, windows: Sequence[Window], *, beam_size: int = 1, whole: bool = False,
                    most: int = 0) -> list[Hypothesis]:
        """Transcribe several streams' windows in as few model calls as possible.

        Each window is padded with `WINDOW_PAD` seconds of silence (not to 30 s), a batch to its
        longest member, so windows of very different lengths run as separate calls rather than
        pay for that padding. CTranslate2 also needs the start-of-transcript token at one position
        in every prompt of a batch: windows whose prompts differ in token count run apart too.
        Text only (no timestamp tokens); word times come from cross-attention alignment.

        `whole`: each window is a complete utterance (an offline clip, up to `MAX_CLIP`), padded
        with `CLIP_PAD` and given its full token budget. `most`: windows per call at most (0:
        no limit).
        """
        pad = CLIP_PAD if whole else WINDOW_PAD
        prompts = [self._prompt(w) for w in windows]
        sots = [tokens.index(self._tokenizer.sot) for tokens, _ in prompts]
        # Windows of one language and task share a call: the word splitting of the alignment
        # depends on the language (Chinese and Japanese words are characters, not spaces).
        kinds = [self.tokenizer(w.language, w.task) for w in windows]
        groups: list[list[int]] = []
        for i in sorted(range(len(windows)),
                        key=lambda i: (id(kinds[i]), sots[i], windows[i].duration)):
            first = groups[-1][0] if groups else None
            if (first is None or sots[first] != sots[i] or kinds[first] is not kinds[i]
                    or len(groups[-1]) == most
                    or windows[i].duration + pad > _BATCH_SPREAD * (windows[first].duration + pad)):
                groups.append([i])
            else:
                groups[-1].append(i)
        out: list[Hypothesis] = [Hypothesis()] * len(windows)
        for members in groups:
            hyps = self._hypothesize([windows[i] for i in members],
                                     [prompts[i] for i in members], beam_size, whole=whole)
            for i, hyp in zip(members, hyps, strict=True):
                out[i] = hyp
        return out

    def _prompt(self, window: Window) -> tuple[list[int], int]:
        tok = self.tokenizer(window.language, window.task)
        tokens: list[int] = []
        if window.prompt.strip():
            tokens = [tok.sot_prev, *tok.encode(" " + window.prompt.strip())[-PROMPT_TOKENS:]]
        tokens += [*tok.sot_sequence, tok.no_timestamps]
        prefix = tok.encode(" " + window.prefix.strip()) if window.prefix.strip() else []
        return tokens + prefix, len(prefix)

    def _unloop(self, tok: Tokenizer, prefix: list[int], new: list[int]) -> list[int]:
        """`new` cut where a repetition loop begins, looking across the prefix too (the model
        likes to say again what it was just made to say).

        Cut before alignment: aligning both copies squeezes the first onto no audio at all and
        puts the second where the words were said, so dropping either copy afterwards loses the
        words or their times.
        """
        words, tokens = tok.split_to_word_tokens(prefix + new)
        starts = np.cumsum([0] + [len(t) for t in tokens])
        spoken = [i for i, w in enumerate(words) if _bare_phrase(w)]  # punctuation does not repeat
        at = _loop_start([words[i] for i in spoken])
        if at == len(spoken):
            return new
        return new[: max(0, int(starts[spoken[at]]) - len(prefix))]

    def _hypothesize(self, windows: list[Window], prompts: list[tuple[list[int], int]],
                     beam_size: int, *, whole: bool) -> list[Hypothesis]:
        """`whole`: each window is a complete utterance (an offline clip), so words the alignment
        puts in the padding are the clip's last words said near its edge, and are kept. The
        windows share one language and task (`hypothesize` groups them)."""
        tok = self.tokenizer(windows[0].language, windows[0].task)
        # Read at call time, not bound as defaults: tests patch them.
        limit, pad = (MAX_CLIP, CLIP_PAD) if whole else (MAX_WINDOW, WINDOW_PAD)
        sizes = [min(w.audio.size, int(limit * SAMPLE_RATE)) for w in windows]
        total = min(max(sizes) + int(pad * SAMPLE_RATE), 30 * SAMPLE_RATE)
        hop = self.model.feature_extractor.hop_length
        frames = total // hop - (total // hop) % 2
        features = np.stack([self.features.padded(w.audio[:n], frames)
                             for w, n in zip(windows, sizes, strict=True)])
        encoded = self.model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features)), to_cpu=False)
        rate = _token_rate(windows[0].language, windows[0].task)
        budget = int(rate * max(sizes) / SAMPLE_RATE) + 8
        # CTranslate2 returns at most min(max_length / 2, max_length - prompt + 1) tokens, the
        # prefix included (measured). For a whole clip the budget is given in full: counted from
        # the prompt alone it cut long clips' last words ("died in a few hours from the"). Live
        # windows keep the tighter cap they were tuned and measured with (bench_live.py): a
        # window cut mid-word runs on past its audio, and the next window hears the rest.
        longest = max(len(p) for p, _ in prompts) + budget
        results = self.model.model.generate(
            encoded, [p for p, _ in prompts], beam_size=beam_size,
            max_length=min(self.model.max_length, 2 * longest if whole else longest),
            return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=self._suppress,
        )
        texts: list[list[int]] = []
        stats: list[tuple[float, float]] = []
        for (_, n_prefix), n, res in zip(prompts, sizes, results, strict=True):
            seq = [t for t in res.sequences_ids[0] if t < tok.eot]
            new = self._unloop(tok, seq[:n_prefix],
                               seq[n_prefix:][: int(rate * n / SAMPLE_RATE) + 8])
            avg_logprob = res.scores[0] * len(seq) / (len(seq) + 1)
            text = tok.decode(new)
            if (not text.strip() or _is_hallucination(text, res.no_speech_prob, avg_logprob)):
                new = []
            texts.append(seq[:n_prefix] + new)
            stats.append((res.no_speech_prob, avg_logprob))
        alignments = self.model.find_alignment(
            tok, texts, encoded, [n // hop for n in sizes])
        out = []
        for w, n, (_, n_prefix), alignment, (no_speech, logprob) in zip(
                windows, sizes, prompts, alignments, stats, strict=True):
            words, text = _words(alignment, n_prefix, w.offset, n / SAMPLE_RATE,
                                 heard=(total if whole else n) / SAMPLE_RATE,
                                 trim=w.task == "transcribe")
            out.append(Hypothesis(words=words, text=text,
                                  no_speech_prob=round(float(no_speech), 4),
                                  avg_logprob=round(float(logprob), 4)))
        return out


def _words(alignment: list[dict[str, Any]], n_prefix: int, offset: float, duration: float,
           *, heard: float, trim: bool = True) -> tuple[tuple[Word, ...], str]:
    """The words after the first `n_prefix` tokens, without what Whisper invented past the audio,
    and their text as spelt together.

    Two failure modes of a short window are cut off here (loops were cut before alignment): a
    run of zero-length words (text the alignment could place on no audio at all), and
    zero-length words at the very end (the model continuing its prompt past the last sample).
    Not for a translation (`trim` False): its English words were never said, so the alignment
    places them on the audio only roughly, often on none. Words may lie in the first `heard`
    seconds: the audio's `duration`, or the padding too when
    the window is a whole utterance; times are then kept within the audio.
    """
    merge_punctuations(alignment, _PREPEND, _APPEND)
    words: list[tuple[float, float, str, float]] = []
    seen = 0
    for item in alignment:
        first, seen = seen, seen + len(item["tokens"])
        if item["word"].strip() and first >= n_prefix:
            words.append((float(item["start"]), min(float(item["end"]), heard),
                          item["word"], float(item["probability"])))
    for i in range(len(words) - 1 if trim else 0):
        if words[i][1] - words[i][0] < _INSTANT and words[i + 1][1] - words[i + 1][0] < _INSTANT:
            words = words[:i]
            break
    while trim and words and words[-1][1] - words[-1][0] < _INSTANT:
        words.pop()
    text = "".join(w[2] for w in words).strip()
    if get_compression_ratio(text) > 2.4:
        return (), ""
    if words:
        # Cross-attention stretches the word next to a silence over it (the leading silence of
        # a window, the padding after it); cap those at twice the median word length.
        durations = [e - s for s, e, _, _ in words if e > s]
        longest = 2 * min(0.7, float(np.median(durations))) if durations else 0.7
        s, e, t, p = words[0]
        words[0] = (max(s, e - longest), e, t, p)
        s, e, t, p = words[-1]
        words[-1] = (s, min(e, s + longest), t, p)
    out: list[Word] = []
    last = 0.0
    for s, e, t, p in words:
        start = min(max(s, last), duration)
        end = min(max(e, start), duration)
        last = end
        out.append(Word(start=round(offset + start, 3), end=round(offset + end, 3),
                        text=t.strip(), probability=round(p, 4)))
    return tuple(out), text


def _loop_start(words: Sequence[str]) -> int:
    """Where a repetition loop begins (its second copy), or len(words) when there is none.

    A block of three or more words said twice in a row, or of one or two words said three times,
    is a loop; people rarely do either, Whisper often does on a window cut mid-word.
    """
    plain = [_bare_phrase(w) for w in words]
    n = len(plain)
    for i in range(n):
        for k in range(1, min(8, (n - i) // 2) + 1):
            copies = 2 if k >= 3 else 3
            if i + copies * k <= n and all(
                    plain[i + j * k: i + (j + 1) * k] == plain[i: i + k] for j in range(copies)):
                return i + k
    return n


def _convert(segments: Iterable[Any], offset: float) -> Iterable[Segment]:
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if _is_hallucination(text, seg.no_speech_prob, seg.avg_logprob):
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
