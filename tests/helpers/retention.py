"""Shared by the retention, reports and audit tests: a database with only those tables, a room
that ended at a fixed instant, and a purger that really deletes what a room left behind."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import SQLModel

# Imported for their side effect too: defining the tables on SQLModel.metadata.
from roomscribe.audit.tables import AuditEvent
from roomscribe.config import Settings
from roomscribe.db import make_engine
from roomscribe.reports.tables import Report, ReportNote
from roomscribe.retention.tables import Retention, RetentionCreate

TABLES = tuple(m.__tablename__ for m in (AuditEvent, Retention, Report, ReportNote))

#: When the test room ended.
T = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

HOST = 1
LISTENER = 2
STRANGER = 3
ADMIN = 9


def engine_for(settings: Settings) -> Engine:
    """The settings' database with the retention domains' tables only: the other domains'
    tables are another engineer's work in progress, and nothing here joins them."""
    engine = make_engine(settings)
    SQLModel.metadata.create_all(engine, tables=[
        SQLModel.metadata.tables[name] for name in TABLES])
    return engine


def ended_room(room_id: str = "r1", *, ended_at: datetime = T, host_id: int = HOST,
               title: str = "Budget meeting") -> RetentionCreate:
    return RetentionCreate(room_id=room_id, room_title=title, host_id=host_id, ended_at=ended_at)




class RoomData:
    """What the recordings, transcript and archive domains keep of a room, played by real files,
    real rows and real index entries, and the purger that removes all three."""

    def __init__(self, root: Path, engine: Engine) -> None:
        self.root = root
        self.engine = engine
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS test_transcript "
                              "(room_id TEXT, kind TEXT, body TEXT)"))
            conn.execute(text("CREATE TABLE IF NOT EXISTS test_index (room_id TEXT, term TEXT)"))

    def create(self, room_id: str) -> list[Path]:
        folder = self.root / room_id
        (folder / "tracks").mkdir(parents=True, exist_ok=True)
        files = [folder / "mixed.opus", folder / "tracks" / "speaker-1.opus",
                 folder / "tracks" / "speaker-2.opus", folder / "export.vtt"]
        for i, path in enumerate(files):
            path.write_bytes(b"\0" * (1000 * (i + 1)))
        with self.engine.begin() as conn:
            for kind in ("live", "final", "correction"):
                conn.execute(text("INSERT INTO test_transcript VALUES (:r, :k, 'words')"),
                             {"r": room_id, "k": kind})
            conn.execute(text("INSERT INTO test_index VALUES (:r, 'budget')"), {"r": room_id})
        return files

    def remaining(self, room_id: str) -> int:
        """Files, rows and index entries left for the room."""
        folder = self.root / room_id
        files = sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM test_transcript WHERE room_id = :r"),
                                {"r": room_id}).scalar_one()
            entries = conn.execute(text("SELECT count(*) FROM test_index WHERE room_id = :r"),
                                   {"r": room_id}).scalar_one()
        return int(files + rows + entries)

    def purge(self, room_id: str) -> int:
        removed = 0
        folder = self.root / room_id
        if folder.exists():
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_file():
                    removed += path.stat().st_size
                    # A pause between files widens the window a racing report could hit.
                    time.sleep(0.001)
                    path.unlink()
                else:
                    path.rmdir()
            folder.rmdir()
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM test_transcript WHERE room_id = :r"), {"r": room_id})
            conn.execute(text("DELETE FROM test_index WHERE room_id = :r"), {"r": room_id})
        return removed
