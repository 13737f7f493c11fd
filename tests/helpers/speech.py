"""The human speech corpus in `../shared/speech/` and word error rate, for tests and benchmarks."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jiwer
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
