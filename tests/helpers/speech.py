"""The human speech corpus in `../shared/speech/` and word error rate, for tests and benchmarks."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jiwer
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

SPEECH_DIR = Path(__file__).resolve().parents[3] / "shared" / "speech"


@dataclass(frozen=True)
class Clip:
    set: str
    path: Path
    seconds: float
    speaker: str
    reference: str


@lru_cache(maxsize=1)
def manifest() -> tuple[Clip, ...]:
    path = SPEECH_DIR / "MANIFEST.tsv"
    if not path.exists():
        raise RuntimeError(f"the speech corpus is missing at {SPEECH_DIR}")
    with path.open(encoding="utf-8") as fh:
        return tuple(
            Clip(row["set"], SPEECH_DIR / row["file"], float(row["seconds"]), row["speaker"],
                 row["reference"])
            for row in csv.DictReader(fh, delimiter="\t")
        )


def clips(set_name: str) -> list[Clip]:
    return [c for c in manifest() if c.set == set_name]


@lru_cache(maxsize=1)
def _normalizer() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    """Whisper's English normaliser: case, punctuation, numbers and spellings made comparable."""
    return " ".join(_normalizer()(text).split())


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Corpus word error rate after normalising both sides (0.0 = perfect)."""
    refs = [normalize(r) for r in references]
    hyps = [normalize(h) for h in hypotheses]
    return float(jiwer.wer(refs, hyps))


MULTILINGUAL_DIR = SPEECH_DIR / "multilingual"
CHARACTER_LANGUAGES = frozenset({"zh", "ja"})
"""Written without spaces between words: scored by characters (CER), not words."""


@lru_cache(maxsize=1)
def multilingual() -> tuple[Clip, ...]:
    """The Common Voice clips: `set` is the language code."""
    with (MULTILINGUAL_DIR / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        return tuple(
            Clip(row["set"], MULTILINGUAL_DIR / row["file"], float(row["seconds"]),
                 row["speaker"], row["reference"])
            for row in csv.DictReader(fh, delimiter="\t"))


def in_language(code: str) -> list[Clip]:
    return [c for c in multilingual() if c.set == code]


@lru_cache(maxsize=1)
def _basic() -> BasicTextNormalizer:
    return BasicTextNormalizer()


def normalize_any(text: str) -> str:
    """Whisper's basic (multilingual) normaliser: case and punctuation, any script."""
    return " ".join(_basic()(text).split())


def error_rate(language: str, references: list[str], hypotheses: list[str]) -> float:
    """WER after the multilingual normaliser; CER (spaces ignored) for Chinese and Japanese."""
    refs = [normalize_any(r) for r in references]
    hyps = [normalize_any(h) for h in hypotheses]
    if language in CHARACTER_LANGUAGES:
        return float(jiwer.cer([r.replace(" ", "") for r in refs],
                               [h.replace(" ", "") for h in hyps]))
    return float(jiwer.wer(refs, hyps))


ENGLISH_WORDS = frozenset({
    "the", "of", "and", "to", "is", "it", "that", "this", "we", "you", "he", "she", "they",
    "are", "were", "be", "have", "has", "on", "for", "with", "not", "at", "by", "from", "as",
    "but", "or", "his", "her", "their", "our", "my", "your", "would", "can", "there", "what",
    "which", "who",
})
"""English function words that are not also Spanish, German or French words ("a", "in",
"was", "will"): their share of a text tells English from the languages of the corpus."""


def english_share(text: str) -> float:
    """The share of `text`'s words that are English function words (about 0.3-0.5 in English
    prose, near 0 in the corpus's other languages)."""
    words = normalize_any(text).split()
    return sum(w in ENGLISH_WORDS for w in words) / max(1, len(words))


def is_english(text: str) -> bool:
    """Written in Latin letters with English function words among them."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) >= 0.9 * len(letters) and \
        english_share(text) > 0
