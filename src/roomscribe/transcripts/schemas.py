"""What the transcript API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints, model_validator
from sqlmodel import Field, SQLModel

from roomscribe.transcripts.tables import Source, Stage


class VersionPublic(SQLModel):
    number: int
    source: Source
    base: int | None
    """The version a correction was made to."""
    author: str | None
    """The handle of who made a correction."""
    created_at: datetime
    segments: int


Track = Literal["spoken", "english"]
"""Which words of a transcript: as spoken (the room's language, or each speaker's), or the
English track (Whisper's translation, for rooms in another language; the words as spoken in an
English room)."""


class TrackPublic(SQLModel):
    track: Track
    lang: str
    """Its language, as a WebVTT `srclang` (for a room of several languages, the most spoken)."""
    label: str
    """What a player's caption menu calls it: "español (Spanish)", "English (machine
    translation)"."""


class TranscriptPublic(SQLModel):
    room_id: str
    stage: Stage
    current: int
    """The archived version: exports default to it and search finds it."""
    note: str | None
    """Why there is no final pass, when there is none."""
    versions: list[VersionPublic]
    tracks: list[TrackPublic]
    """The archived version's caption tracks: exports and the replay offer each."""


class SegmentPublic(SQLModel):
    index: int
    """Its place in the version, in time order: what a correction refers to."""
    speaker_id: str
    speaker: str
    start: float
    """Seconds on the room clock, which is also the position in the room's recording."""
    end: float
    text: str
    lang: str
    """The language it was said in (a Whisper code)."""


class SegmentsPublic(SQLModel):
    room_id: str
    version: int
    segments: list[SegmentPublic]


SegmentText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


SpeakerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=50)]


class SegmentEdit(SQLModel):
    index: int = Field(ge=0)
    text: SegmentText | None = None
    """The corrected text; empty removes the segment (a phrase that was never said); omitted,
    the text stays."""
    speaker: SpeakerName | None = None
    """Who said it, as the transcript names them; omitted, the label stays."""

    @model_validator(mode="after")
    def _changes_something(self) -> SegmentEdit:
        if self.text is None and self.speaker is None:
            raise ValueError("an edit gives a new text, a new speaker label, or both")
        return self


class CorrectionCreate(SQLModel):
    base: int = Field(ge=0)
    """The version the edits were made on: it must still be the newest."""
    edits: list[SegmentEdit] = Field(min_length=1, max_length=1000)
