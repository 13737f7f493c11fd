"""What the next start does with what the last server left: live rooms of a killed server, live
rooms of a stopped one, a search index that drifted from the database, and `index rebuild`.

The server is stopped here by leaving its lifespan; a kill is played by leaving a marker that names
a process that is gone, as a SIGKILLed server leaves it (the real SIGKILL is test_crash.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from helpers.profile import server_env
from integration.rooms.harness import Api
from integration.transcripts.harness import (
    archive_app,
    end_and_settle,
    recorded_room,
    say,
    settle,
    sign_in,
    speak,
)
from roomscribe.archive.documents import SegmentDoc
from roomscribe.archive.index import Index
from roomscribe.config import Settings
from roomscribe.media import ffmpeg
from roomscribe.recordings.service import RecordingService
from roomscribe.recordings.storage import open_storage
from roomscribe.recordings.tracks import TrackReader
from roomscribe.retention.scheduler import RetentionScheduler
from roomscribe.run_marker import RunMarker
from roomscribe.visibility import Visibility

WORDS = ["she", "had", "been", "out", "with", "them"]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def hits(api: Api, q: str) -> list[dict[str, Any]]:
    response = await api.http.get("/api/v1/search", params={"q": q}, headers=api.auth("host"))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["hits"]
    return found


async def room_left_live(settings: Settings) -> tuple[str, dict[str, Any]]:
    """A recorded room in which Ada spoke and whose final was published; the server then stops
    without anyone ending the room, once the room's clock has passed her audio (which went out
    faster than real time)."""
    async with archive_app(settings) as api:
        room = await recorded_room(api, "ada")
        listener = await api.listen(room, "host")
        live = api.app.state.rooms.live.get(room)
        began, pcm = live.room_time(), say(WORDS)[0]
        speak(api, room, "ada", pcm)
        final = await listener.next_of("final")
        await asyncio.sleep(began + len(pcm) / 32_000 + 0.5 - live.room_time())
    return room, final


def test_the_marker_tells_a_killed_server_from_a_stopped_or_running_one(tmp_path: Path) -> None:
    marker = RunMarker(tmp_path)
    assert marker.previous_run_crashed() is False  # never ran, or stopped cleanly
    marker.path.write_text(str(dead_pid()))
    assert marker.previous_run_crashed() is True
    marker.path.write_text(str(os.getppid()))
    assert marker.previous_run_crashed() is False  # another server, alive, on this folder
    marker.claim()
    assert marker.path.read_text() == str(os.getpid())
    assert marker.previous_run_crashed() is True  # our own pid: reused by this restart
    marker.release()
    assert not marker.path.exists()


async def test_rooms_a_killed_server_left_live_end_with_what_was_stored(
        settings: Settings, tmp_path: Path) -> None:
    room, final = await room_left_live(settings)
    RunMarker(settings.data_dir).path.write_text(str(dead_pid()))
    # What a server killed in the middle of writing a mix leaves: ffmpeg's output in the scratch
    # folder, and a half-stored object beside the room's files.
    leftovers = [settings.data_dir / "tmp" / "roomscribe-mix-k1ll3d" / "mix.ogg"]
    if settings.storage_url is None:  # an object store keeps no half-stored objects
        leftovers.append(settings.data_dir / "recordings" / room / ".mix.ogg.0123abcd.tmp")
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"OggS half a mix")
    async with archive_app(settings) as api:
        assert not any(path.exists() for path in leftovers)
        await sign_in(api, "host")
        await settle(api)
        ended = await api.ok("GET", f"/rooms/{room}", "host")
        assert (ended["state"], ended["ended_reason"]) == ("ended", "crash")
        track = TrackReader(open_storage(settings), room, "ada")
        assert track.recorded_seconds * 32_000 == len(say(WORDS)[0])
        mix = await api.http.get(f"/api/v1/rooms/{room}/recording", headers=api.auth("host"))
        assert mix.status_code == 200
        assert (await api.ok("GET", f"/rooms/{room}/transcript/versions", "host"))["stage"] == (
            "final")
        live = await api.ok("GET", f"/rooms/{room}/transcript/segments?version=0", "host")
        assert [s["text"] for s in live["segments"]] == [final["text"]]
        assert [h["text"] for h in await hits(api, "them")] == ["she had been out with them."]
        # After a crash the mix stops with the last audio received, not at the restart.
        (tmp_path / "mix.ogg").write_bytes(mix.content)
        assert ffmpeg.duration(tmp_path / "mix.ogg") == pytest.approx(track.end, abs=0.05)
        length = (datetime.fromisoformat(ended["ended_at"])
                  - datetime.fromisoformat(ended["started_at"])).total_seconds()
        assert track.end < length


async def test_rooms_a_stopped_server_left_live_carry_on(settings: Settings) -> None:
    room, _ = await room_left_live(settings)
    async with archive_app(settings) as api:
        await sign_in(api, "host")
        await sign_in(api, "ada")
        assert (await api.ok("GET", f"/rooms/{room}", "host"))["state"] == "live"
        listener = await api.listen(room, "host")
        speak(api, room, "ada", say(["what", "would", "you", "have"])[0])
        await listener.next_of("final")
        await end_and_settle(api, room)
        segments = await api.ok("GET", f"/rooms/{room}/transcript/segments", "host")
        # One track, two runs: what she said before the restart and after it.
        assert [s["text"] for s in segments["segments"]] == [
            "she had been out with them.", "what would you have."]


async def test_the_index_is_made_to_agree_with_the_database_at_start(
        settings: Settings) -> None:
    async with archive_app(settings) as api:
        room = await recorded_room(api, "ada")
        listener = await api.listen(room, "host")
        speak(api, room, "ada", say(WORDS)[0])
        await listener.next_of("final")
        await end_and_settle(api, room)
    # Between two runs the index loses the room's segments and gains a room nobody has.
    index = Index.from_settings(settings)
    try:
        await index.delete_room(room)
        await index.add([SegmentDoc(
            segment_id="ghost/0/0", room_id="ghost", room_title="Ghost", room_date=datetime.now(),
            visibility=Visibility.PUBLIC, host_id=None, speaker="Nobody", start=0.0, end=1.0,
            text="them")])
    finally:
        index.close()
    async with archive_app(settings) as api:
        await sign_in(api, "host")
        assert [(h["room_id"], h["text"]) for h in await hits(api, "them")] == [
            (room, "she had been out with them.")]


@pytest.mark.parametrize("wipe", [False, True])
async def test_index_rebuild_writes_the_index_afresh_from_the_database(
        settings: Settings, wipe: bool) -> None:
    async with archive_app(settings) as api:
        room = await recorded_room(api, "ada")
        listener = await api.listen(room, "host")
        speak(api, room, "ada", say(WORDS)[0])
        await listener.next_of("final")
        await end_and_settle(api, room)
    if wipe:
        for path in (settings.data_dir / "index").iterdir():
            path.unlink()
    env = {**os.environ, "ROOMSCRIBE_DATA_DIR": str(settings.data_dir),
           **server_env(settings.data_dir)}
    done = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "roomscribe", "index", "rebuild"], env=env, capture_output=True,
        text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "indexed 1 transcript segments"
    index = Index.from_settings(settings)
    try:
        assert index.doc_count() == 1
    finally:
        index.close()


async def test_purges_wait_until_what_the_last_server_left_is_finished(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mix or final pass the last server left undone runs before any purge may: a purge beside
    them could see their files before they are written."""
    order: list[str] = []
    mixes, start, resume = (RecordingService.resume, RetentionScheduler.start,
                            RetentionScheduler.resume)

    async def resuming_mixes(self: RecordingService) -> list[str]:
        order.append("mixes")
        return await mixes(self)

    def starting(self: RetentionScheduler, *, paused: bool = False) -> None:
        start(self, paused=paused)
        if self.purging:
            order.append("purges")

    def resuming(self: RetentionScheduler) -> None:
        resume(self)
        order.append("purges")

    monkeypatch.setattr(RecordingService, "resume", resuming_mixes)
    monkeypatch.setattr(RetentionScheduler, "start", starting)
    monkeypatch.setattr(RetentionScheduler, "resume", resuming)
    async with archive_app(settings):
        assert order == ["mixes", "purges"]
