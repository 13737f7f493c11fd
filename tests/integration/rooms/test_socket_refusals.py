"""Bad input and refused callers on the sockets: each gets a clear close code, nobody else notices.

Close codes are documented in `roomscribe.rooms.live`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlmodel import select

from helpers.profile import settings_for
from integration.rooms.harness import Api, FakeCaptionSource, pcm, running
from roomscribe.accounts.tables import Account
from roomscribe.app import create_app
from roomscribe.db import session_scope
from roomscribe.errors import ModelUnavailable
from roomscribe.rooms.connection import BLOCKED, Connection
from roomscribe.rooms.live_room import LiveRoom
from roomscribe.rooms.live_rooms import SUBSCRIBER_BACKLOG
from roomscribe.rooms.tables import Member


async def accounts(api: Api, *handles: str) -> None:
    for handle in handles:
        await api.account(handle)


async def cast(api: Api, **room: object) -> str:
    for handle in ("host", "spk", "other", "ann"):
        await api.account(handle)
    room_id = await api.room("host", **room)
    await api.speaker(room_id, "host", "spk")
    await api.speaker(room_id, "host", "other")
    return room_id


@pytest.mark.parametrize(("frames", "code", "reason"), [
    (["text"], 4400, "audio frames must be binary messages"),
    ([b""], 4400, "empty audio frame"),
    ([pcm(20) + b"\x00"], 4400, "not 16-bit PCM: odd number of bytes in the frame"),
    ([pcm(200) + b"\x00\x00"], 4413, "frame of 6402 bytes is longer than 200 ms (6400 bytes)"),
    ([b"RIFF" + pcm(40)[4:]], 4400, "this is WAV data; send raw 16-bit 16 kHz mono PCM"),
    ([b"OggS" + pcm(40)[4:]], 4400, "this is Ogg data; send raw 16-bit 16 kHz mono PCM"),
    ([pcm(10), pcm(20)], 4400, "only the last frame may be shorter than 20 ms"),
])
async def test_bad_frames_close_that_socket_only(api: Api, frames: list[bytes | str], code: int,
                                                 reason: str) -> None:
    room = await cast(api)
    listener = await api.listen(room, "ann")
    good = api.socket(room, "audio", "other")
    bad = api.socket(room, "audio", "spk")
    for frame in frames:
        if isinstance(frame, str):
            bad.send_text(frame)
        else:
            bad.send_bytes(frame)
    assert await bad.closed() == (code, reason)
    # The room, the listener and the other speaker carry on; the bad client may reconnect.
    good.send_bytes(pcm(200))
    await listener.caption_from("other")
    again = api.socket(room, "audio", "spk")
    again.send_bytes(pcm(200))
    assert (await listener.caption_from("spk"))["text"] == "Spk 0-3200"


async def test_a_short_last_frame_is_accepted(api: Api, captions: FakeCaptionSource) -> None:
    room = await cast(api)
    sock = api.socket(room, "audio", "spk")
    sock.send_bytes(pcm(200))
    sock.send_bytes(pcm(5))
    await sock.disconnect()
    assert captions.streams[0].samples == 3200 + 80
    assert captions.streams[0].finished


async def test_who_may_not_send_audio_is_told_why(api: Api) -> None:
    room = await cast(api)
    assert await api.socket(room, "audio").closed() == (
        4401, "sign in to speak: pass ?token=TOKEN or a bearer header")
    assert await api.socket(room, "audio", token="forged").closed() == (
        4401, "unknown token; sign in again")
    assert await api.socket(room, "audio", "ann").closed() == (
        4403, "only the host, co-hosts and speakers may send audio")
    assert await api.socket("nosuchroom", "audio", "spk").closed() == (
        4404, "no room 'nosuchroom'")


async def test_expired_tokens_are_refused_on_every_stream(api: Api) -> None:
    room = await cast(api)
    await api.expire("spk")
    expired = (4401, "token expired; sign in again")
    assert await api.socket(room, "audio", "spk").closed() == expired
    assert await api.socket(room, "captions", "spk").closed() == expired
    response = await api.call("GET", f"/rooms/{room}", "spk")
    assert (response.status_code, response.json()["detail"]) == (401, expired[1])


async def test_rooms_that_are_not_live_refuse_streams(api: Api) -> None:
    await api.account("host")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = await api.room("host", scheduled_for=later)
    ended = await api.room("host")
    await api.ok("POST", f"/rooms/{ended}/end", "host")
    for room, state in ((scheduled, "scheduled"), (ended, "ended")):
        for stream in ("audio", "captions"):
            assert await api.socket(room, stream, "host").closed() == (
                4409, f"the room is {state}, not live")


async def test_an_unavailable_caption_engine_closes_that_speaker_only(
        api: Api, captions: FakeCaptionSource) -> None:
    room = await cast(api)
    captions.failure, captions.failing = ModelUnavailable("the model is missing"), {"spk"}
    listener = await api.listen(room, "ann")
    bad = api.socket(room, "audio", "spk")
    bad.send_bytes(pcm(200))
    assert await bad.closed() == (4503, "the model is missing")
    good = api.socket(room, "audio", "other")
    good.send_bytes(pcm(200))
    await listener.caption_from("other")


async def test_a_crashing_caption_stream_closes_that_speaker_only(
        api: Api, captions: FakeCaptionSource) -> None:
    room = await cast(api)
    captions.failure, captions.failing = RuntimeError("boom"), {"spk"}
    listener = await api.listen(room, "ann")
    bad = api.socket(room, "audio", "spk")
    bad.send_bytes(pcm(200))
    assert await bad.closed() == (1011, "unexpected server error")
    good = api.socket(room, "audio", "other")
    good.send_bytes(pcm(200))
    await listener.caption_from("other")


async def test_a_slow_listener_is_dropped_and_never_stalls_the_others(api: Api) -> None:
    room = await cast(api)
    await api.account("zed")
    fast = await api.listen(room, "ann")
    slow = api.socket(room, "captions", "zed", stall_after=3)
    await fast.next_of("roster", listener_count=2)
    speaker = api.socket(room, "audio", "spk")
    count = SUBSCRIBER_BACKLOG + 100
    for sent in range(count):
        speaker.send_bytes(pcm(20))
        if sent % 50 == 49:
            await asyncio.sleep(0.05)  # real speakers send 50 frames a second, not all at once
    assert await slow.closed() == (4008, "too slow: fell too far behind the room's events")
    seen = 0
    while seen < count:
        event = await fast.receive_json()
        seen += event["type"] in ("partial", "final")
    speaker.send_bytes(pcm(20))
    await fast.caption_from("spk")


async def test_the_session_cookie_works_on_sockets_from_this_site_only(api: Api) -> None:
    room = await cast(api)
    signed = await api.http.post("/api/v1/sessions/cookie",
                                 json={"handle": "ann", "password": "password1"})
    assert signed.status_code == 204
    cookie = f"roomscribe_session={signed.cookies['roomscribe_session']}".encode()
    same = api.socket(room, "captions", headers=[(b"cookie", cookie),
                                                 (b"origin", b"http://testserver")])
    assert (await same.receive_json())["type"] == "room"
    foreign = api.socket(room, "captions", headers=[(b"cookie", cookie),
                                                    (b"origin", b"https://evil.example")])
    assert await foreign.closed() == (4401, "sign in to follow this room")


async def test_a_malformed_token_is_refused_not_ignored(api: Api) -> None:
    room = await cast(api, captions_public=True)
    sock = api.socket(room, "captions", headers=[(b"authorization", b"Basic abc")])
    assert (await sock.closed())[0] == 4401


async def test_a_server_without_a_caption_engine_refuses_audio(api: Api) -> None:
    room = await cast(api)
    api.app.state.rooms.captions = None
    assert await api.socket(room, "audio", "spk").closed() == (
        4503, "live captions are not running on this server")
    assert (await api.listen(room, "ann")) is not None


async def test_a_model_that_cannot_load_leaves_the_server_up_without_captions(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(settings_for(tmp_path / "data", asr_model="no-such-model"),
                     password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    async with running(app) as api:
        room = await cast(api)
        assert await api.socket(room, "audio", "spk").closed() == (
            4503, "live captions are not running on this server")
        await api.listen(room, "ann")
    # Litestar logs through a queue to stderr; the operator reads why there.
    assert "live captions are off: ROOMSCRIBE_ASR_MODEL='no-such-model'" in capsys.readouterr().err


# -- consent and roles that hold ----------------------------------------------------------------


async def test_recording_cannot_be_turned_on_under_speakers_who_never_agreed(api: Api) -> None:
    await accounts(api, "host", "spk")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    room = await api.room("host", scheduled_for=later)
    await api.speaker(room, "host", "spk")  # accepted while the room was not recorded
    refused = await api.call("PATCH", f"/rooms/{room}", "host", {"record": True})
    assert refused.status_code == 409, refused.text
    assert "accepted this room when it was not recorded" in refused.json()["detail"]
    await api.ok("POST", f"/rooms/{room}/members/spk/revoke", "host")
    recorded = await api.ok("PATCH", f"/rooms/{room}", "host", {"record": True})
    assert recorded["record"] is True
    # The host chose to record: that is their consent, so their own microphone is admitted.
    await api.ok("POST", f"/rooms/{room}/start", "host")
    listener = await api.listen(room, "host")
    host = api.socket(room, "audio", "host")
    host.send_bytes(pcm(200))
    await listener.caption_from("host")


async def test_audio_is_admitted_into_a_recorded_room_only_with_consent(api: Api) -> None:
    room = await cast(api, record=True)
    # However a voice without consent came about (data from before this rule), its audio stays out.
    with session_scope(api.app.state.engine) as session:
        member = session.exec(select(Member).join(Account).where(Account.handle == "spk")).one()
        member.consent_at = None
        session.add(member)
    assert await api.socket(room, "audio", "spk").closed() == (
        4403, "this room is recorded: agree to be recorded before you speak")


async def test_a_revoke_landing_between_admission_and_attach_stops_the_audio(
        api: Api, captions: FakeCaptionSource, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await cast(api)
    live = api.app.state.rooms.live
    attach = live.attach_audio

    def revoked_first(room: LiveRoom, account_id: int, conn: Connection) -> None:
        live.set_voice(room, account_id, None)  # what a revoke committing just now does
        attach(room, account_id, conn)

    monkeypatch.setattr(live, "attach_audio", revoked_first)
    sock = api.socket(room, "audio", "spk")
    sock.send_bytes(pcm(200))
    assert await sock.closed() == (4403, "only the host, co-hosts and speakers may send audio")
    assert captions.streams == []


async def test_a_block_landing_before_a_listener_is_attached_keeps_them_out(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await cast(api)
    live = api.app.state.rooms.live
    listen = live.listen
    ann = await asyncio.to_thread(api.app.state.accounts.get, "ann")

    async def blocked_first(room: LiveRoom, conn: Connection, *args: Any) -> None:
        live.kick(room, ann.id, BLOCKED)  # what a block committing just now does
        await listen(room, conn, *args)

    monkeypatch.setattr(live, "listen", blocked_first)
    assert await api.socket(room, "captions", "ann").closed() == (
        4403, "you are blocked from this room")


async def test_an_end_landing_before_a_listener_is_attached_closes_it(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    room = await cast(api)
    rooms = api.app.state.rooms
    listen = rooms.live.listen

    async def ended_first(room: LiveRoom, conn: Connection, *args: Any) -> None:
        await rooms.live.end(room)
        await listen(room, conn, *args)

    monkeypatch.setattr(rooms.live, "listen", ended_first)
    assert await api.socket(room, "captions", "ann").closed() == (
        4409, "the room is ended, not live")
