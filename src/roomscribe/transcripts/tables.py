"""A recorded room's transcript: numbered versions of speaker-labelled segments.

    version 0      the live finals, saved one by one as they are published (source `live`)
    version 1      the final pass over each speaker's track after the room ended (`final_pass`)
    version 2, …   the host's corrections, each a whole copy with the edits applied (`correction`)

The newest version is the archived transcript (`Transcript.current`): exports and search show it,
and every older version stays readable. Whole copies cost rows, but a room has a few thousand
segments and few corrections, and they keep reading any version one indexed query.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime, utcnow

LIVE_VERSION = 0


class Stage(StrEnum):
    """Where a room's transcript is in its life."""

    LIVE = "live"
    """The room is live: finals are being saved."""
    PENDING = "pending"
    """The room ended; the final pass is still to run (it resumes at the next start)."""
    FINAL = "final"
    """The final pass ran; corrections may follow."""
    LIVE_ONLY = "live_only"
    """No final pass could be made (see `note`); the live version is the archived one."""
    PURGED = "purged"
    """The retention policy removed every version."""


class Source(StrEnum):
    LIVE = "live"
    FINAL_PASS = "final_pass"
    CORRECTION = "correction"


class Transcript(SQLModel, table=True):
    room_id: str = Field(primary_key=True, max_length=64)
    stage: Stage = Field(default=Stage.LIVE, index=True)
    current: int = LIVE_VERSION
    """The archived version: what exports default to and what the search index holds."""
    indexed: int = LIVE_VERSION
    """The version last written to the search index; behind `current` only until that write
    commits, which tells the start-up reconciliation which rooms to compare segment by segment."""
    note: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class TranscriptVersion(SQLModel, table=True):
    room_id: str = Field(primary_key=True, max_length=64)
    number: int = Field(primary_key=True)
    source: Source
    base: int | None = None
    """The version a correction was made to."""
    author_id: int | None = None
    """Who made a correction."""
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class TranscriptSegment(SQLModel, table=True):
    """What one speaker said, on the room clock (also the position in the room's mix)."""

    __table_args__ = (Index("ix_segment_room_version_position", "room_id", "version", "position",
                            unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    room_id: str = Field(max_length=64)
    version: int
    position: int
    """Order within the version: arrival order for live finals, time order for the others."""
    seq: int | None = None
    """The caption event's `seq`, for live finals."""
    speaker_id: str = Field(max_length=30)
    """The speaker's handle (also their track's name)."""
    speaker_name: str = Field(max_length=50)
    """Their display name when they spoke."""
    start: float
    end: float
    text: str
    lang: str = Field(default="en", max_length=8)
    """The language of `text` (a Whisper code): as spoken, or "en" on the English track."""
    translated: bool = False
    """On the English track: Whisper's translation of what was said, kept beside the words as
    spoken (which the host corrects and the final pass re-hears); a room in English has none."""
    words: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    """`{"start", "end", "text", "p"}` per word; empty once a correction changed the text."""
