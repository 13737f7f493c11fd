"""One row per ended room: its deadline, its hold, and after the purge its tombstone.

Keyed by room id and free of foreign keys so the rooms domain can be wired to it later. The row
outlives the purge on purpose: what remains of a room is its id, title, host, dates, the bytes
removed and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import field_validator
from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime


class RetentionState(StrEnum):
    RETAINED = "retained"
    """Kept; downloadable while the policy allows."""
    PURGING = "purging"
    """A purge claimed the row: no download, report or hold from now on."""
    PURGED = "purged"
    """Only the tombstone remains."""


class PurgeReason(StrEnum):
    DEADLINE = "deadline"
    """The room's own job fired at its deadline."""
    SWEEP = "sweep"
    """The periodic (or operator's) sweep found it overdue."""
    ADMIN = "admin"
    """An admin used "purge now" on something past its deadline."""
    ACCOUNT_CLOSED = "account_closed"
    """Its host closed their account: deleted early, unless reported or held."""


class RetentionBase(SQLModel):
    room_id: str = Field(primary_key=True, max_length=64)
    room_title: str = Field(max_length=200)
    host_id: int
    ended_at: datetime = Field(sa_type=UtcDateTime)


class Retention(RetentionBase, table=True):
    # The sweep asks for retained rows by deadline; with the state first, tombstones (which pile
    # up forever) stay out of that range scan.
    __table_args__ = (Index("ix_retention_state_retain_until", "state", "retain_until"),)

    retain_until: datetime = Field(sa_type=UtcDateTime)
    reported_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    """The first report's time; set only by a report filed before the deadline."""
    hold: bool = False
    hold_by: int | None = None
    hold_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    state: RetentionState = RetentionState.RETAINED
    purge_started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    """When the current purge claimed the row; a claim older than the lease may be taken over."""
    purged_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    bytes_removed: int = 0
    purge_reason: PurgeReason | None = None
    version: int = 0
    """Bumped by every change; each update is a compare-and-set on it."""


class RetentionCreate(RetentionBase):
    """What the rooms domain tells us when a room ends."""

    @field_validator("ended_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("ended_at must be timezone-aware")
        return value.astimezone(UTC)


class RetentionPublic(RetentionBase):
    """The retention part of a room's API object, and the tombstone after the purge."""

    retain_until: datetime
    reported_at: datetime | None
    hold: bool
    state: RetentionState
    purged_at: datetime | None
    bytes_removed: int
    purge_reason: PurgeReason | None
