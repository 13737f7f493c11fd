"""A report of a room, its status and the admins' notes on it.

No foreign key to the rooms table: rooms are wired later through the retention row, whose
tombstone the report outlives.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import field_validator, model_validator
from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime


class ReportStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"


class ReportOutcome(StrEnum):
    VIOLATION = "violation"
    NO_VIOLATION = "no_violation"


def _non_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class ReportBase(SQLModel):
    room_id: str = Field(max_length=64, index=True)
    reason: str = Field(max_length=2000)
    """Why the reporter thinks the room broke the rules; required."""


class Report(ReportBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    reporter_id: int = Field(index=True)
    filed_at: datetime = Field(sa_type=UtcDateTime)
    status: ReportStatus = Field(default=ReportStatus.OPEN, index=True)
    outcome: ReportOutcome | None = None
    """Set exactly when the report is resolved."""
    updated_at: datetime = Field(sa_type=UtcDateTime)
    resolved_by: int | None = None
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class ReportCreate(ReportBase):
    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _non_blank(value)


class ReportUpdate(SQLModel):
    """An admin's step in the workflow, optionally with a note."""

    status: ReportStatus
    outcome: ReportOutcome | None = None
    note: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _outcome_iff_resolved(self) -> ReportUpdate:
        if (self.status is ReportStatus.RESOLVED) != (self.outcome is not None):
            raise ValueError("an outcome is required to resolve a report, and only then")
        return self


class ReportPublic(ReportBase):
    id: int
    reporter_id: int
    filed_at: datetime
    status: ReportStatus
    outcome: ReportOutcome | None
    updated_at: datetime
    resolved_by: int | None
    resolved_at: datetime | None


class ReportNoteBase(SQLModel):
    text: str = Field(max_length=4000)


class ReportNote(ReportNoteBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    author_id: int
    at: datetime = Field(sa_type=UtcDateTime)


class ReportNoteCreate(ReportNoteBase):
    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return _non_blank(value)


class ReportNotePublic(ReportNoteBase):
    id: int
    report_id: int
    author_id: int
    at: datetime
