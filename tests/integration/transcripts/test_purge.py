"""The retention purge reaches everything a recorded room left: audio, transcript rows, index, and
the bytes on disk that held them (whoosh's segment files, SQLite's pages and write-ahead log)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from integration.transcripts.harness import (
    archive_app,
    end_and_settle,
    recorded_room,
    say,
    settle,
    sign_in,
    speak,
)
from roomscribe.config import Settings
from roomscribe.purgers import purgers
from roomscribe.recordings.storage import open_storage
from roomscribe.retention.outcomes import PurgeOutcome
from roomscribe.retention.tables import PurgeReason
from roomscribe.transcripts.tables import TranscriptSegment, TranscriptVersion

WORDS = ["she", "had", "been", "out", "with", "them"]
PHRASE = " ".join(WORDS).encode()
"""As the database keeps the text (whoosh compresses its stored copy; its terms are words)."""
TERM = b"them"
"""A word of the room's, as whoosh's term dictionary keeps it."""


def files_holding(folder: Path, needle: bytes) -> list[str]:
    """Every file under `folder` whose raw bytes contain `needle`."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_file() and needle in path.read_bytes())


async def test_the_purge_leaves_nothing_of_the_room_and_nothing_comes_back(
        settings: Settings) -> None:
    storage = open_storage(settings)
    async with archive_app(settings) as api:
        room = await recorded_room(api, "ada")
        listener = await api.listen(room, "host")
        pcm = say(WORDS)[0]
        speak(api, room, "ada", pcm)
        await listener.next_of("final")
        await end_and_settle(api, room)
        search = {"params": {"q": "them"}, "headers": api.auth("host")}
        assert (await api.http.get("/api/v1/search", **search)).json()["total"] == 1
        assert storage.list(room)
        # Where the words are before the purge, so their absence after it means something.
        assert files_holding(settings.data_dir / "index", TERM)
        sqlite = api.app.state.engine.dialect.name == "sqlite"
        if sqlite:  # on PostgreSQL the database's files are the server's, not in the data dir
            assert any(name.startswith("roomscribe.db")
                       for name in files_holding(settings.data_dir, PHRASE))

        retention = api.app.state.retention
        result = await asyncio.to_thread(
            retention.purge, room, now=datetime.now(UTC) + timedelta(days=400),
            reason=PurgeReason.SWEEP)
        assert result.outcome is PurgeOutcome.PURGED
        assert result.retention.bytes_removed > len(pcm)  # the track, the mix, the text
        assert storage.list(room) == []
        with Session(api.app.state.engine) as session:
            for table in (TranscriptSegment, TranscriptVersion):
                assert session.exec(select(table).where(table.room_id == room)).all() == []
        assert (await api.http.get("/api/v1/search", **search)).json()["total"] == 0
        assert files_holding(settings.data_dir, PHRASE) == []
        assert files_holding(settings.data_dir / "index", TERM) == []
        for path in ("/recording", "/transcript"):
            response = await api.call("GET", f"/rooms/{room}{path}", "host")
            assert response.status_code == 410, path
        described = await api.ok("GET", f"/rooms/{room}/transcript/versions", "host")
        assert (described["stage"], described["versions"]) == ("purged", [])
        # Purgers are idempotent: a retried purge finds nothing left.
        for purger in purgers(settings, api.app.state.engine, api.app.state.archive.index,
                              api.app.state.archive.replication):
            assert await asyncio.to_thread(purger.purge, room) == 0

    # The next start neither mixes nor transcribes the room again.
    async with archive_app(settings) as api:
        await sign_in(api, "host")
        await settle(api)
        assert storage.list(room) == []
        described = await api.ok("GET", f"/rooms/{room}/transcript/versions", "host")
        assert described["stage"] == "purged"
