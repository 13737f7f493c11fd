"""Retention's purger for transcripts: every version's segments and the versions themselves.

The `Transcript` row stays as a tombstone (stage `purged`), so a later start does not take the
room for one whose final pass is still to run, and a late live final is refused.
"""

from __future__ import annotations

from sqlalchemy import Engine, String, cast, delete, func
from sqlmodel import Session, col, select

from roomscribe.db import session_scope
from roomscribe.transcripts.tables import (
    LIVE_VERSION,
    Stage,
    Transcript,
    TranscriptSegment,
    TranscriptVersion,
)


class TranscriptPurger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def purge(self, room_id: str) -> int:
        """Delete the room's transcript rows; returns the bytes of text and word timings."""
        with session_scope(self.engine) as session:
            freed = _stored_bytes(session, room_id)
            for table in (TranscriptSegment, TranscriptVersion):
                session.exec(delete(table).where(col(table.room_id) == room_id))
            row = session.get(Transcript, room_id) or Transcript(room_id=room_id)
            row.sqlmodel_update({"stage": Stage.PURGED, "current": LIVE_VERSION,
                                 "indexed": LIVE_VERSION, "note": None})
            session.add(row)
        return freed


def _stored_bytes(session: Session, room_id: str) -> int:
    text, words = session.exec(
        select(func.coalesce(func.sum(func.length(TranscriptSegment.text)), 0),
               func.coalesce(func.sum(func.length(cast(TranscriptSegment.words, String))), 0))
        .where(TranscriptSegment.room_id == room_id)).one()
    return int(text) + int(words)
