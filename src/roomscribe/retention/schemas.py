"""What the admin retention API accepts and returns, beyond `RetentionPublic` (in `tables`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from roomscribe.retention.tables import RetentionPublic


class RetentionAdmin(RetentionPublic):
    """A room's retention as admins see it: who placed the hold, and a purge in progress."""

    hold_by: int | None
    hold_at: datetime | None
    purge_started_at: datetime | None


class HoldChange(SQLModel):
    note: str | None = Field(default=None, max_length=2000)
    """Why the hold is placed; kept in the audit log."""


class RetentionOverview(SQLModel):
    """Counts over every ended recorded room, and the storage they use."""

    retained: int
    held: int
    purging: int
    purged: int
    due: int
    """Past their deadline and not held: what "purge now" applies to."""
    upcoming: int
    """Deadline within the next 7 days (overdue included), not held."""
    bytes_removed: int
    """Freed by every purge so far."""
    next_deadline: datetime | None
    storage_bytes: int
    """Held in recordings storage now: every room's speaker tracks and mixes."""
