"""One row per recorded room once it has ended: where its mix is and whether it is ready.

The audio itself is in `Storage` (tracks while the room runs, the mix after it ends); this row is
what the API reads to answer quickly, and what the next start reads to finish a mix a stopped or
killed process left undone.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime, utcnow


class RecordingState(StrEnum):
    PENDING = "pending"
    """The room ended; its tracks wait to be mixed."""
    READY = "ready"
    """The mix is in storage."""
    EMPTY = "empty"
    """Nobody's audio reached the room: there is nothing to mix."""
    FAILED = "failed"
    """Mixing failed (see `error`); the next start tries again."""
    PURGED = "purged"
    """The retention policy removed the mix and the tracks."""


class Recording(SQLModel, table=True):
    room_id: str = Field(primary_key=True, max_length=64)
    state: RecordingState = Field(default=RecordingState.PENDING, index=True)
    key: str | None = Field(default=None, max_length=300)
    """The mix's storage key (audio/ogg, Opus), once ready."""
    duration: float | None = None
    """Seconds of the mix: from room time 0 to the room's end."""
    size: int | None = None
    """Bytes of the mix."""
    tracks: int = 0
    """Speaker tracks mixed in; they stay in storage until the retention purge."""
    error: str | None = Field(default=None, max_length=500)
    ended_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    mixed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
