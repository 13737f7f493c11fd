"""Writing and reading the audit log.

`record` takes the caller's session on purpose: the event commits or rolls back with the change
it describes. Reading is newest first with keyset pagination on the id, which stays stable while
new events arrive (an offset would shift under the admin's feet).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from roomscribe.audit.tables import AuditEvent, AuditEventCreate, AuditEventPublic, AuditPage
from roomscribe.errors import InvalidInput

MAX_PAGE = 500


def _jsonable(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def record(session: Session, *, action: str, at: datetime, actor_id: int | None = None,
           room_id: str | None = None, detail: Mapping[str, Any] | None = None) -> AuditEvent:
    """Append one event to the log inside the caller's transaction."""
    # A round trip through JSON turns datetimes into ISO strings now, not at flush time, so a
    # value the JSON column cannot store fails here with the caller's stack.
    plain = json.loads(json.dumps(dict(detail or {}), default=_jsonable))
    data = AuditEventCreate(action=str(action), at=at, actor_id=actor_id, room_id=room_id,
                            detail=plain)
    event = AuditEvent.model_validate(data)
    session.add(event)
    return event


def query(session: Session, *, room_id: str | None = None, actor_id: int | None = None,
          actions: Collection[str] | None = None, since: datetime | None = None,
          until: datetime | None = None, before: int | None = None,
          limit: int = 50) -> AuditPage:
    """Events matching every given filter, newest first; `since` inclusive, `until` exclusive."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    stmt = select(AuditEvent)
    if room_id is not None:
        stmt = stmt.where(AuditEvent.room_id == room_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if actions:
        stmt = stmt.where(col(AuditEvent.action).in_([str(a) for a in actions]))
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if before is not None:
        stmt = stmt.where(col(AuditEvent.id) < before)
    # One extra row tells whether another page exists without a COUNT.
    rows = session.exec(stmt.order_by(col(AuditEvent.id).desc()).limit(limit + 1)).all()
    items = [AuditEventPublic.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return AuditPage(items=items, next_before=items[-1].id if len(rows) > limit else None)


class AuditLog:
    """The log as the admins read it (the API and the console alike)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def page(self, *, room_id: str | None = None, actor_id: int | None = None,
             actions: Collection[str] | None = None, since: datetime | None = None,
             until: datetime | None = None, before: int | None = None,
             limit: int = 50) -> AuditPage:
        """One page of `query`, newest first; times must carry a time zone."""
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.utcoffset() is None:
                raise InvalidInput(f"{name}: give a time zone, e.g. 2025-03-01T00:00:00Z")
        with Session(self._engine) as session:
            return query(session, room_id=room_id, actor_id=actor_id, actions=actions,
                         since=since, until=until, before=before, limit=limit)
