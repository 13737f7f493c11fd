"""The audit log's one table, and the UTC column type the retention domains share.

Events are never updated or deleted: a purge removes a room's recording and transcript, but the
record that it happened (and who downloaded what before) must outlive them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, event
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime


class AuditAction(StrEnum):
    """The actions the retention domains record. The column is a plain string so other domains
    can add their own without a schema change."""

    REPORT_FILED = "report.filed"
    REPORT_STATUS = "report.status"
    REPORT_NOTE = "report.note"
    HOLD_PLACED = "hold.placed"
    HOLD_RELEASED = "hold.released"
    DOWNLOAD_RECORDING = "download.recording"
    DOWNLOAD_TRANSCRIPT = "download.transcript"
    REPLAY = "replay"
    """Someone the room's visibility admits started playing its recording (not a download)."""
    PURGE = "purge"
    """The policy removed a room's data (its own job or a sweep)."""
    PURGE_NOW = "purge.now"
    """An admin asked for a purge of something past its deadline."""


class AuditEventBase(SQLModel):
    action: str = Field(max_length=64, index=True)
    actor_id: int | None = Field(default=None, index=True)
    """The account that acted; None for the system (scheduler, sweep, operator commands)."""
    room_id: str | None = Field(default=None, max_length=64, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """What changed, as JSON: ids, dates (ISO 8601), counts. Never transcript content."""


class AuditEvent(AuditEventBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UtcDateTime, index=True)


class AuditEventCreate(AuditEventBase):
    at: datetime


class AuditEventPublic(AuditEventBase):
    id: int
    at: datetime


class AuditPage(SQLModel):
    """One page of the log, newest first; pass `next_before` back as `before` for the next."""

    items: list[AuditEventPublic]
    next_before: int | None = None


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _append_only(_mapper: Mapper[Any], _conn: Any, target: AuditEvent) -> None:
    raise ValueError(f"audit event {target.id} is append-only")
