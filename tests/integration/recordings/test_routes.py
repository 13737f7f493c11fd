"""A recorded room's audio: written as it arrives, mixed on the room clock when the room ends, and
served to its host and admins with range requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from helpers.waiting import until
from integration.rooms.harness import Api
from integration.transcripts.harness import (
    archive_app,
    end_and_settle,
    recorded_room,
    say,
    sign_in,
    speak,
)
from roomscribe.accounts.tables import Account
from roomscribe.captions.events import Speaker
from roomscribe.config import Settings
from roomscribe.db import create_all, make_engine, session_scope
from roomscribe.errors import Unavailable
from roomscribe.media import ffmpeg
from roomscribe.recordings import service as recordings_service
from roomscribe.recordings.service import RecordingPurger, RecordingService
from roomscribe.recordings.storage import LocalAppender, LocalStorage, open_storage
from roomscribe.recordings.tables import Recording, RecordingState
from roomscribe.recordings.tracks import TrackReader
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.tables import Room, RoomState

WORDS = ["she", "had", "been", "out", "with", "them"]


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with archive_app(settings) as api:
        yield api


async def get(api: Api, room: str, who: str | None = "host", **headers: str) -> Any:
    return await api.http.get(f"/api/v1/rooms/{room}/recording",
                              headers={**api.auth(who), **headers})


async def mixed_room(api: Api) -> tuple[str, dict[str, float]]:
    """Ada, then Bob after a pause, in a recorded room that then ends and is mixed. Returns the
    room and the room time each began sending at."""
    room = await recorded_room(api, "ada", "bob")
    listener = await api.listen(room, "host")
    live = api.app.state.rooms.live.get(room)
    began = {"ada": live.room_time()}
    ada = say(WORDS)[0]
    speak(api, room, "ada", ada)
    await listener.caption_from("ada", "final")
    # Audio goes out faster than real time: Bob waits until the room clock is past Ada's audio.
    past_ada = began["ada"] + len(ada) / 32_000 + 1.0
    await until(lambda: live.room_time() >= past_ada, within=past_ada + 5, what="the room clock")
    began["bob"] = live.room_time()
    speak(api, room, "bob", say(WORDS[:2])[0])
    await listener.caption_from("bob", "final")
    await end_and_settle(api, room)
    return room, began


def loud(samples: np.ndarray, start: float, end: float) -> float:
    piece = samples[round(start * 16_000):round(end * 16_000)]
    return float(np.sqrt(np.mean(piece ** 2)))


async def test_a_recorded_room_becomes_one_ogg_mix_on_the_room_clock(
        api: Api, settings: Settings, tmp_path: Path) -> None:
    room, began = await mixed_room(api)
    response = await get(api, room)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/ogg"
    assert response.headers["accept-ranges"] == "bytes"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.content[:4] == b"OggS" and b"OpusHead" in response.content[:100]
    path = tmp_path / "mix.ogg"
    path.write_bytes(response.content)
    described = await api.ok("GET", f"/rooms/{room}", "host")
    length = (datetime.fromisoformat(described["ended_at"])
              - datetime.fromisoformat(described["started_at"])).total_seconds()
    # The test sends audio faster than real time, so Bob's track runs past the room's end.
    bob_end = began["bob"] - 0.1 + len(say(WORDS[:2])[0]) / 32_000
    # ffmpeg decodes the whole file: from room time 0 to the room's end or the last audio.
    assert ffmpeg.duration(path) == pytest.approx(max(length, bob_end), abs=0.1)
    samples = ffmpeg.decode(path)
    _, script = say(WORDS)
    for who in ("ada", "bob"):
        first = began[who] + script[0].start - 0.1  # the first frame starts 100 ms earlier
        assert loud(samples, first + 0.05, first + 0.25) > 0.05, who  # a tone burst
        assert loud(samples, first - 0.4, first - 0.1) < 0.005, who  # the silence before it
    assert loud(samples, began["ada"] + 3.4, began["bob"] - 0.2) < 0.005  # the pause between
    # The speakers' own tracks stay beside the mix until the retention purge.
    kept = open_storage(settings).list(room)
    assert f"{room}/mix.ogg" in kept
    assert {f"{room}/tracks/{who}/audio.pcm" for who in ("ada", "bob")} <= set(kept)


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 100),
    ("bytes=100-", 100, None),
    ("bytes=-50", -50, None),
    ("bytes=10-10", 10, 11),
    ("bytes=0-999999999", 0, None),
])
async def test_a_byte_range_is_206_with_exactly_those_bytes(
        api: Api, header: str, start: int, end: int | None) -> None:
    room, _ = await mixed_room(api)
    whole = (await get(api, room)).content
    part = await get(api, room, Range=header)
    assert part.status_code == 206, part.text
    expected = whole[start:end]
    first = start % len(whole)
    assert part.content == expected
    assert part.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(whole)}")
    assert int(part.headers["content-length"]) == len(expected)
    assert part.headers["content-type"] == "audio/ogg"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=-"])
async def test_ranges_a_server_may_ignore_get_the_whole_file(api: Api, header: str) -> None:
    room, _ = await mixed_room(api)
    whole = await get(api, room, Range=header)
    assert whole.status_code == 200
    assert whole.content == (await get(api, room)).content


async def test_a_range_past_the_end_is_416_with_the_length(api: Api) -> None:
    room, _ = await mixed_room(api)
    size = len((await get(api, room)).content)
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = await get(api, room, Range=header)
        assert refused.status_code == 416, header
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert refused.json()["error"] == "RangeNotSatisfiable"


async def test_only_the_host_and_admins_get_a_recording_of_a_recorded_ended_room(
        api: Api) -> None:
    room, _ = await mixed_room(api)
    await api.account("lis")
    await asyncio.to_thread(api.app.state.accounts.make_admin, "boss", password="password1")
    await sign_in(api, "boss")
    assert (await get(api, room, "lis")).status_code == 403
    assert (await get(api, room, "ada")).status_code == 403
    assert (await get(api, room, None)).status_code == 401
    assert (await get(api, room, "boss")).status_code == 200
    live = await recorded_room(api, "ada")
    assert (await get(api, live)).status_code == 409
    unrecorded = await api.room("host")
    await end_and_settle(api, unrecorded)
    silent = await recorded_room(api)
    await end_and_settle(api, silent)
    for never in (unrecorded, silent, "nosuchroom"):
        response = await get(api, never)
        assert response.status_code == 404, never


async def test_a_recording_still_being_mixed_says_when_to_come_back(api: Api) -> None:
    room = await recorded_room(api, "ada")
    speak(api, room, "ada", say(WORDS)[0])
    await api.app.state.recordings.mixes.close()  # nothing mixes: the room stays pending
    await api.ok("POST", f"/rooms/{room}/end", "host")
    response = await get(api, room)
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert "being prepared" in response.json()["detail"]


async def test_audio_is_in_storage_while_the_room_is_still_live(api: Api,
                                                                settings: Settings) -> None:
    room = await recorded_room(api, "ada")
    pcm, _ = say(WORDS)
    speak(api, room, "ada", pcm)
    storage = open_storage(settings)

    def received() -> float:
        if not storage.exists(f"{room}/tracks/ada/track.json"):
            return 0.0
        return TrackReader(storage, room, "ada").recorded_seconds

    await until(lambda: received() * 32_000 >= len(pcm), within=3.0, what="the whole track")
    assert received() * 32_000 == len(pcm)
    assert (await api.ok("GET", f"/rooms/{room}", "host"))["state"] == "live"


class CountingStorage(LocalStorage):
    """Local storage that counts the flushes (fsyncs) of its appenders."""

    flushes = 0

    def append(self, key: str) -> LocalAppender:
        storage = self

        class Counted(LocalAppender):
            def flush(self) -> None:
                storage.flushes += 1
                super().flush()

        return Counted(self._path(key))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    create_all(engine)
    yield engine
    engine.dispose()


async def test_a_track_is_made_durable_within_a_second_even_when_audio_stops(
        tmp_path: Path, engine: Engine) -> None:
    storage = CountingStorage(tmp_path)
    recordings = RecordingService(engine, storage, RetentionService(engine))
    recordings.start()
    try:
        track = recordings.open(room="r1", speaker=Speaker("ada", "Ada"), origin=2.0)
        track.write(say(WORDS)[0][:3200])
        # The run record is flushed as it is written; the audio, by the idle timer, within the
        # flush interval (1 s) and the timer's period (0.5 s).
        await until(lambda: storage.flushes >= 2, within=1.6, what="the audio's flush")
        await track.close()
        reader = TrackReader(storage, "r1", "ada")
        assert (reader.start, reader.recorded_seconds) == (2.0, 0.1)
    finally:
        await recordings.close()


class PurgedWhileMixing(LocalStorage):
    """Storage on which the retention purge of a room lands while its mix is being stored."""

    engine: Engine

    def put(self, key: str, data: bytes | Iterable[bytes]) -> None:
        if key.endswith("/mix.ogg"):
            RecordingPurger(self, self.engine).purge(key.split("/")[0])
        super().put(key, data)


async def test_a_mix_finishing_after_its_purge_is_deleted_too(tmp_path: Path,
                                                               engine: Engine) -> None:
    storage = PurgedWhileMixing(tmp_path)
    storage.engine = engine
    recordings = RecordingService(engine, storage, RetentionService(engine))
    with session_scope(engine) as session:
        session.add(Account(id=1, handle="host", display_name="Host", password_hash="x"))
        session.add(Room(id="r1", title="Mixed late", host_id=1, record=True,
                         state=RoomState.ENDED, started_at=datetime(2026, 1, 1, tzinfo=UTC),
                         ended_at=datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)))
    recordings.start()
    try:
        track = recordings.open(room="r1", speaker=Speaker("ada", "Ada"), origin=1.0)
        track.write(say(WORDS)[0])
        await track.close()
        await recordings.room_ended(await asyncio.to_thread(_room, engine, "r1"))
        await recordings.mixes.join()
    finally:
        await recordings.close()
    assert storage.list("r1") == []
    with Session(engine) as session:
        row = session.get(Recording, "r1")
        assert row is not None and row.state is RecordingState.PURGED


def _room(engine: Engine, room_id: str) -> Room:
    with Session(engine) as session:
        room = session.get(Room, room_id)
        assert room is not None
        return room


class StalledStorage(LocalStorage):
    """A disk that hangs until released."""

    released = threading.Event()

    def append(self, key: str) -> LocalAppender:
        self.released.wait(10)
        return super().append(key)


async def test_a_stalled_disk_refuses_audio_instead_of_holding_it_without_end(
        tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recordings_service, "MAX_QUEUED_WRITES", 50)
    storage = StalledStorage(tmp_path)
    recordings = RecordingService(engine, storage, RetentionService(engine))
    recordings.start()
    try:
        track = recordings.open(room="r1", speaker=Speaker("ada", "Ada"), origin=0.0)
        written = 0
        with pytest.raises(Unavailable, match="the recording cannot keep up"):
            for _ in range(200):
                track.write(bytes(3200))
                written += 1
        assert 45 <= written <= 51
        storage.released.set()
        await track.close()
        assert TrackReader(storage, "r1", "ada").recorded_seconds == pytest.approx(written * 0.1)
    finally:
        storage.released.set()
        await recordings.close()
