"""What the reports API accepts and returns beyond the shapes in `tables`."""

from __future__ import annotations

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from roomscribe.reports.tables import ReportNotePublic, ReportPublic


class ReportReason(SQLModel):
    """A report as filed: the room is the one in the path."""

    reason: str = Field(max_length=2000)
    """Why the room broke the rules; required."""

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("give a reason")
        return value


class ReportPage(SQLModel):
    """Part of the queue, oldest first; pass `next_after` back as `after` for the rest."""

    items: list[ReportPublic]
    next_after: int | None = None


class ReportDetail(SQLModel):
    report: ReportPublic
    notes: list[ReportNotePublic]
