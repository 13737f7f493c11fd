"""Two web processes' copies of the search index kept in step through a real Redis (started by
the test): a whole app (A) and another process's archive (B: its own index folder, the same
database). Whole apps can share a database only in separate processes (each runs the retention
scheduler named after it); the journey across three such processes is `test_scale_out.py`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers.profile import settings_for
from helpers.waiting import until
from integration.rooms.harness import Api
from integration.transcripts.harness import archive_app, settle
from roomscribe.archive.index import Index
from roomscribe.archive.replication import RedisReplication
from roomscribe.archive.service import ArchiveService
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.purgers import purgers


@pytest.fixture
async def a(tmp_path: Path, redis_url: str) -> AsyncIterator[Api]:
    """A whole app: the process where the writes happen."""
    async with archive_app(settings_for(tmp_path / "a", redis_url=redis_url)) as api:
        await api.account("hana")
        yield api


@pytest.fixture
async def b(a: Api, tmp_path: Path, redis_url: str) -> AsyncIterator[ArchiveService]:
    """Another process's archive: its own index folder, the same database, following A."""
    index = Index(tmp_path / "b-index")
    replication = RedisReplication.from_url(redis_url)
    archive = ArchiveService(a.app.state.engine, index, replication=replication)
    following = asyncio.create_task(replication.follow(archive))
    await asyncio.wait_for(replication.listening.wait(), 10)
    a_side = a.app.state.archive.replication
    assert isinstance(a_side, RedisReplication)
    await asyncio.wait_for(a_side.listening.wait(), 10)
    yield archive
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await replication.close()
    index.close()


def texts(archive: ArchiveService, room: str) -> list[str]:
    with archive.index.searcher() as searcher:
        return sorted(doc["text"] for doc in searcher.documents(room_id=room))


def final(room: str, seq: int, text: str) -> CaptionEvent:
    return CaptionEvent(type="final", room=room, seq=seq, speaker=Speaker("hana", "Hana"),
                        start=float(seq), end=seq + 1.0, text=text, words=())


async def test_live_finals_new_versions_and_purges_reach_the_other_copy(
        a: Api, b: ArchiveService) -> None:
    room = await a.room("hana", title="Replicated", record=True, visibility="public")
    # A live final saved (and indexed) by A is found through B.
    await a.app.state.transcripts.save_final(final(room, 0, "the zeppelin landed at noon"))
    await until(lambda: texts(b, room) == ["the zeppelin landed at noon"], within=10,
                what="A's live final in B's copy")
    # The room ends; its archived version changes through A (a correction): B follows.
    await a.ok("POST", f"/rooms/{room}/end", "hana")
    await settle(a)
    segments = await a.ok("GET", f"/rooms/{room}/transcript/segments", "hana")
    await a.ok("POST", f"/rooms/{room}/transcript/corrections", "hana", {
        "base": segments["version"],
        "edits": [{"index": 0, "text": "the airship landed at noon"}]})
    await until(lambda: texts(b, room) == ["the airship landed at noon"], within=10,
                what="the correction in B's copy")
    # A purges the room (its retention leader): B's copy forgets it too.
    state = a.app.state
    for purger in purgers(state.settings, state.engine, state.archive.index,
                          state.archive.replication):
        await asyncio.to_thread(purger.purge, room)

    await until(lambda: texts(b, room) == [], within=10, what="the purge in B's copy")
