"""Limits on what one account or client can make expensive in live rooms: audio faster than real
time, too many microphones, caption connections or live rooms, rooms that never end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST

from helpers.profile import settings_for
from integration.rooms.harness import Api, FakeCaptionSource, RecordingAudioSink, pcm, running
from roomscribe.app import create_app
from roomscribe.rooms.service import RoomLimits

LIMITED = {"audio_burst_seconds": 2.0, "max_live_rooms_per_account": 2,
           "max_audio_sockets_per_account": 2, "max_caption_connections_per_account": 3,
           "max_caption_connections_per_address": 5}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    app = create_app(settings_for(tmp_path / "data", **LIMITED),  # type: ignore[arg-type]
                     caption_source=FakeCaptionSource(), audio_sink=RecordingAudioSink(),
                     password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    async with running(app) as api:
        yield api


async def stage(api: Api, host: str = "host", *speakers: str) -> str:
    for handle in (host, *speakers):
        if handle not in api.tokens:
            await api.account(handle)
    room = await api.room(host)
    for handle in speakers:
        await api.speaker(room, host, handle)
    return room


async def test_audio_sent_faster_than_real_time_is_refused_after_the_burst(api: Api) -> None:
    room = await stage(api, "host", "spk")
    listener = await api.listen(room, "host")
    flood = api.socket(room, "audio", "spk")
    for _ in range(30):  # 6 s of audio at once: 2 s of burst, then refused
        flood.send_bytes(pcm(200))
    code, reason = await flood.closed()
    assert code == 4429 and "faster than real time" in reason
    # Reconnecting earns no new burst: the pace is the speaker's, not the socket's.
    again = api.socket(room, "audio", "spk")
    again.send_bytes(pcm(200))
    assert (await again.closed())[0] == 4429
    # What arrived before the refusal was captioned; the room carries on.
    await listener.caption_from("spk")
    paced = api.socket(room, "audio", "host")
    for _ in range(5):  # real time: 100 ms frames every 100 ms
        paced.send_bytes(pcm(100))
        await asyncio.sleep(0.1)
    await listener.caption_from("host")
    assert not paced.task.done()


async def test_one_account_holds_at_most_two_microphones_and_hosts_two_live_rooms(
        api: Api) -> None:
    rooms = [await stage(api, "host") for _ in range(2)]
    third = await api.call("POST", "/rooms", "host", {"title": "Third"})
    assert third.status_code == 409
    assert third.json()["detail"] == ("you already host 2 live rooms, the most at once; end one "
                                      "first")
    mics = [api.socket(room, "audio", "host") for room in rooms]
    for mic in mics:
        mic.send_bytes(pcm(100))
    other = await stage(api, "other")
    await api.speaker(other, "other", "host")
    assert await api.socket(other, "audio", "host").closed() == (
        4429, "at most 2 microphones at once per account")
    await api.ok("POST", f"/rooms/{rooms[0]}/end", "host")
    assert (await api.call("POST", "/rooms", "host", {"title": "Now"})).status_code == 201


async def test_caption_connections_are_capped_per_account_and_per_address(api: Api) -> None:
    room = await stage(api, "host")
    await api.account("ann")
    open_ = [await api.listen(room, "ann") for _ in range(3)]
    assert await api.socket(room, "captions", "ann").closed() == (
        4429, "at most 3 caption connections at once per account")
    await api.account("bob")
    await api.listen(room, "bob")
    await api.listen(room, "bob")
    # Five from this address now (three of Ann's, two of Bob's): the sixth is one too many.
    assert await api.socket(room, "captions", "bob").closed() == (
        4429, "at most 5 caption connections at once from one address")
    events = await api.call("GET", f"/rooms/{room}/captions/events", "bob")
    assert events.status_code == 200 and '"code": 4429' in events.text
    # A connection that closes frees its place.
    await open_[0].disconnect()
    await asyncio.sleep(0)
    await api.listen(room, "ann")


async def test_a_room_that_runs_its_longest_ends_by_itself(api: Api) -> None:
    room = await stage(api, "host", "spk")
    listener = await api.listen(room, "host")
    rooms = api.app.state.rooms
    assert await rooms.end_overdue() == []
    rooms.limits = RoomLimits(max_length=timedelta(0))
    assert await rooms.end_overdue() == [room]
    assert await listener.closed() == (4000, "room ended")
    ended = await api.ok("GET", f"/rooms/{room}", "host")
    assert (ended["state"], ended["ended_reason"]) == ("ended", "time_limit")
