"""Replay through the API: for whoever may find the room in search, in ranges, audited as a
replay; the downloads stay the host's and admins'."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, select

from integration.rooms.harness import Api
from integration.transcripts.harness import archive_app, end_and_settle, recorded_room, say, speak
from roomscribe.audit.tables import AuditAction, AuditEvent
from roomscribe.config import Settings
from roomscribe.replay import service as replay_service

WORDS = ["she", "had", "been", "out", "with", "them"]


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with archive_app(settings) as api:
        yield api


async def ended_room(api: Api, **fields: object) -> str:
    room = await recorded_room(api, "ada", **fields)
    listener = await api.listen(room, "host")
    speak(api, room, "ada", say(WORDS)[0])
    await listener.next_of("final")
    await end_and_settle(api, room)
    return room


def replays(api: Api, room: str) -> list[int | None]:
    with Session(api.app.state.engine) as session:
        return [e.actor_id for e in session.exec(select(AuditEvent).where(
            AuditEvent.room_id == room, AuditEvent.action == AuditAction.REPLAY)).all()]


async def test_a_member_replays_a_members_room_in_ranges_and_it_is_audited(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await ended_room(api)
    await api.account("mia")
    found = await api.ok("GET", f"/rooms/{room}/replay", "mia")
    assert [line["text"] for line in found["lines"]] == ["she had been out with them."]
    assert found["playable"] and found["audio_url"] == f"/api/v1/rooms/{room}/replay/audio"

    monkeypatch.setattr(replay_service, "CHUNK", 1000)
    first = await api.call("GET", f"/rooms/{room}/replay/audio", "mia")
    assert first.status_code == 206
    size = int(first.headers["content-range"].rsplit("/", 1)[1])
    assert size > 1000 and first.headers["content-range"] == f"bytes 0-999/{size}"
    assert len(first.content) == 1000
    assert "content-disposition" not in first.headers  # played, not downloaded
    mia = await asyncio.to_thread(api.app.state.accounts.get, "mia")
    assert replays(api, room) == [mia.id]
    # Seeking on asks for later ranges: still one replay.
    later = await api.http.get(f"/api/v1/rooms/{room}/replay/audio",
                               headers={**api.auth("mia"), "Range": "bytes=2000-"})
    assert later.status_code == 206 and len(later.content) == min(1000, size - 2000)
    assert replays(api, room) == [mia.id]
    vtt = await api.call("GET", f"/rooms/{room}/replay/captions.vtt", "mia")
    assert vtt.status_code == 200 and "she had been out with them." in vtt.text
    # The files themselves stay the host's and admins'.
    assert (await api.call("GET", f"/rooms/{room}/recording", "mia")).status_code == 403
    assert (await api.call("GET", f"/rooms/{room}/transcript", "mia")).status_code == 403


async def test_the_rooms_visibility_decides_who_may_replay(api: Api) -> None:
    members = await ended_room(api)
    await api.account("mia")
    for path in ("", "/audio", "/captions.vtt"):
        assert (await api.call("GET", f"/rooms/{members}/replay{path}", None)
                ).status_code == 401, path
    await api.ok("PATCH", f"/rooms/{members}", "host", {"visibility": "private"})
    for path in ("", "/audio", "/captions.vtt"):
        assert (await api.call("GET", f"/rooms/{members}/replay{path}", "mia")
                ).status_code == 404, path
    assert (await api.call("GET", f"/rooms/{members}/replay", "host")).status_code == 200
    await api.ok("PATCH", f"/rooms/{members}", "host", {"visibility": "public"})
    anonymous = await api.call("GET", f"/rooms/{members}/replay/audio", None)
    assert anonymous.status_code == 206
    assert replays(api, members)[-1] is None  # an anonymous listener, still on record
