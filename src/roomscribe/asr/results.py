"""What a transcription produces: small, documented value types shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its time span in seconds (stream or room time)."""

    start: float
    end: float
    text: str
    """The word as Whisper spells it, leading space stripped."""
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of words Whisper emitted together (roughly a sentence or clause)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = field(default_factory=tuple)
    speaker: str | None = None
    """Display name of who spoke, when known (each room track is one speaker)."""
    language: str | None = None
    """What it is in (a Whisper code), when the caller asked or the model detected it."""
