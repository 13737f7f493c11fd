"""The live streams end to end: speaker audio in, caption and room events out, and how they end."""

from __future__ import annotations

import asyncio
import json

from helpers.waiting import until
from integration.rooms.harness import Api, FakeCaptionSource, RecordingAudioSink, pcm


async def cast(api: Api, **room: object) -> str:
    """A live room hosted by `host` with `spk` as speaker; `ann` is a plain signed-in listener."""
    for handle in ("host", "spk", "ann"):
        await api.account(handle)
    room_id = await api.room("host", **room)
    await api.speaker(room_id, "host", "spk")
    return room_id


async def test_a_speakers_audio_reaches_listeners_as_captions_with_their_name(
        api: Api, captions: FakeCaptionSource) -> None:
    room = await cast(api)
    listener = await api.listen(room, "ann")
    speaker = api.socket(room, "audio", "spk")
    speaker.send_bytes(pcm(200))
    speaker.send_bytes(pcm(200))
    partial = await listener.next_of("partial")
    final = await listener.next_of("final")
    assert partial["speaker"] == {"id": "spk", "name": "Spk"}
    assert final["speaker"] == {"id": "spk", "name": "Spk"}
    assert final["seq"] > partial["seq"]
    assert final["text"] == "Spk 0-6400"
    assert captions.streams[0].speaker.name == "Spk"


async def test_a_joiner_gets_state_roster_pins_then_recent_finals_only(api: Api) -> None:
    room = await cast(api)
    await api.ok("POST", f"/rooms/{room}/pins", "host", {"url": "https://example.org/agenda"})
    speaker = api.socket(room, "audio", "spk")
    first = await api.listen(room, "host")
    for _ in range(4):
        speaker.send_bytes(pcm(200))
    finals = [await first.next_of("final"), await first.next_of("final")]

    late = api.socket(room, "captions", "ann")
    snapshot = [await late.receive_json() for _ in range(3)]
    assert [e["type"] for e in snapshot] == ["room", "roster", "pins"]
    assert snapshot[0]["state"] == "live" and snapshot[0]["record"] is False
    assert snapshot[2]["pins"][0]["url"] == "https://example.org/agenda"
    voices = {v["id"]: v for v in snapshot[1]["voices"]}
    assert voices["spk"]["role"] == "speaker" and voices["spk"]["streaming"] is True
    history = [await late.receive_json() for _ in range(2)]
    assert history == finals
    speaker.send_bytes(pcm(200))
    assert (await late.receive_json())["type"] == "partial"


async def test_ending_the_room_flushes_captions_then_closes_every_socket(
        api: Api, captions: FakeCaptionSource) -> None:
    room = await cast(api)
    listener = await api.listen(room, "ann")
    speaker = api.socket(room, "audio", "spk")
    speaker.send_bytes(pcm(100))
    await listener.next_of("partial")
    ended = await api.ok("POST", f"/rooms/{room}/end", "host")
    assert ended["state"] == "ended"
    # The unfinished utterance is flushed as a final before the room-state event.
    final = await listener.next_of("final")
    assert final["text"] == "Spk 0-1600"
    state = await listener.receive_json()
    assert state == {"type": "room", "room": room, "state": "ended", "title": "A room",
                     "record": False, "captions_public": False, "epoch": state["epoch"]}
    assert len(state["epoch"]) == 8
    assert await listener.closed() == (4000, "room ended")
    assert await speaker.closed() == (4000, "room ended")
    assert captions.streams[0].finished
    assert captions.forgotten == [room]  # the engine may drop the room's seq count


async def test_recorded_rooms_hand_each_chunk_to_the_audio_sink(
        api: Api, recorder: RecordingAudioSink) -> None:
    room = await cast(api, record=True)
    speaker = api.socket(room, "audio", "spk")
    frames = [pcm(200, value=v) for v in (1, 2, 3)]
    for frame in frames:
        speaker.send_bytes(frame)
    await speaker.disconnect()
    [track] = recorder.tracks
    assert track.chunks == frames and track.closed
    assert track.speaker.id == "spk" and track.room == room


async def test_unrecorded_rooms_write_no_audio(api: Api, recorder: RecordingAudioSink,
                                               captions: FakeCaptionSource) -> None:
    room = await cast(api, record=False)
    speaker = api.socket(room, "audio", "spk")
    speaker.send_bytes(pcm(200))
    await speaker.disconnect()
    assert recorder.tracks == []
    assert captions.streams[0].samples == 3200


async def test_a_muted_speaker_is_not_captioned_until_they_unmute(
        api: Api, captions: FakeCaptionSource) -> None:
    room = await cast(api)
    listener = await api.listen(room, "ann")
    speaker = api.socket(room, "audio", "spk")
    speaker.send_bytes(pcm(200))
    await listener.next_of("partial")
    await api.ok("POST", f"/rooms/{room}/members/spk/mute", "host")
    await listener.next_of("roster")
    speaker.send_bytes(pcm(200))
    # Muting flushes the open stream; audio sent while muted goes nowhere.
    flushed = await listener.next_of("final")
    assert flushed["text"] == "Spk 0-3200"
    await api.ok("POST", f"/rooms/{room}/members/spk/unmute", "spk")
    await listener.next_of("roster")
    speaker.send_bytes(pcm(200))
    resumed = await listener.next_of("partial")
    assert resumed["text"] == "Spk 0-3200"
    assert len(captions.streams) == 2
    assert captions.streams[1].origin >= captions.streams[0].origin


async def attached(api: Api, room: str) -> None:
    """Until the room holds a speaker's audio socket."""
    def holds() -> bool:
        live = api.app.state.rooms.live.get(room)  # made as the first socket attaches
        return live is not None and bool(live.audio)

    await until(holds, within=5, what="the audio socket to be attached")


async def test_a_newer_audio_connection_replaces_the_older(api: Api) -> None:
    room = await cast(api)
    old = api.socket(room, "audio", "spk")
    old.send_bytes(pcm(20))
    await attached(api, room)
    new = api.socket(room, "audio", "spk")
    assert await old.closed() == (4001, "replaced by a newer audio connection")
    new.send_bytes(pcm(200))
    listener = await api.listen(room, "ann")
    new.send_bytes(pcm(200))
    assert (await listener.next_of("final"))["speaker"]["id"] == "spk"


async def test_revoking_a_speaker_closes_their_audio(api: Api) -> None:
    room = await cast(api)
    speaker = api.socket(room, "audio", "spk")
    speaker.send_bytes(pcm(20))
    await attached(api, room)
    await api.ok("POST", f"/rooms/{room}/members/spk/revoke", "host")
    assert await speaker.closed() == (4004, "no longer a speaker")


async def test_removing_closes_every_socket_of_that_account_who_may_come_back(api: Api) -> None:
    room = await cast(api)
    audio = api.socket(room, "audio", "spk")
    listening = await api.listen(room, "spk")
    audio.send_bytes(pcm(20))
    await attached(api, room)  # else the removal may land first, and admission refuses it
    await api.ok("POST", f"/rooms/{room}/members/spk/remove", "host")
    assert await listening.closed() == (4002, "removed from the room")
    assert await audio.closed() == (4002, "removed from the room")
    again = api.socket(room, "captions", "spk")
    assert (await again.receive_json())["type"] == "room"


async def test_blocking_closes_sockets_and_keeps_them_out(api: Api) -> None:
    room = await cast(api)
    listening = await api.listen(room, "ann")
    await api.ok("POST", f"/rooms/{room}/members/ann/block", "host")
    assert await listening.closed() == (4003, "blocked from the room")
    assert await api.socket(room, "captions", "ann").closed() == (
        4403, "you are blocked from this room")


async def test_roster_follows_presence_and_roles(api: Api) -> None:
    room = await cast(api)
    host = await api.listen(room, "host")
    ann = api.socket(room, "captions", "ann")
    roster = await host.next_of("roster", listener_count=1)
    assert roster["listeners"] == [{"id": "ann", "name": "Ann"}]
    await ann.disconnect()
    assert (await host.next_of("roster", listener_count=0))["listeners"] == []
    await api.ok("POST", f"/rooms/{room}/members/spk/revoke", "host")
    roster = await host.next_of("roster")
    assert [v["id"] for v in roster["voices"]] == ["host"]


async def test_public_captions_need_no_account_but_private_ones_do(api: Api) -> None:
    for handle in ("host", "ann"):
        await api.account(handle)
    public = await api.room("host", captions_public=True)
    private = await api.room("host", captions_public=False)
    anonymous = api.socket(public, "captions")
    assert (await anonymous.receive_json())["captions_public"] is True
    host = api.socket(public, "captions", "host")
    assert (await host.next_of("roster", anonymous=1))["anonymous"] == 1
    assert await api.socket(private, "captions").closed() == (
        4401, "sign in to follow this room")
    assert (await api.socket(private, "captions", "ann").receive_json())["type"] == "room"


async def test_reactions_reach_everyone_present(api: Api) -> None:
    room = await cast(api)
    listener = await api.listen(room, "host")
    await api.ok("POST", f"/rooms/{room}/reactions", "ann", {"emoji": "👏"})
    reaction = await listener.next_of("reaction")
    assert reaction == {"type": "reaction", "room": room, "emoji": "👏",
                        "from": {"id": "ann", "name": "Ann"}}


async def test_server_sent_events_carry_the_same_events_and_say_why_they_end(
        api: Api) -> None:
    room = await cast(api, captions_public=True)
    watcher = await api.listen(room, "host")
    sse = asyncio.create_task(api.http.get(f"/api/v1/rooms/{room}/captions/events"))
    await watcher.next_of("roster", anonymous=1)
    await api.ok("POST", f"/rooms/{room}/reactions", "ann", {"emoji": "🔥"})
    await api.ok("POST", f"/rooms/{room}/end", "host")
    response = await asyncio.wait_for(sse, 5)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line.removeprefix("data: "))
              for line in response.text.splitlines() if line.startswith("data: ")]
    types = [e["type"] for e in events]
    assert types[:3] == ["room", "roster", "pins"]
    assert "reaction" in types
    assert events[-2]["state"] == "ended"
    assert events[-1] == {"type": "close", "code": 4000, "reason": "room ended"}


async def test_server_sent_events_refuse_like_the_api(api: Api) -> None:
    await api.account("host")
    room = await api.room("host")
    response = await api.http.get(f"/api/v1/rooms/{room}/captions/events")
    assert response.status_code == 401
    response = await api.http.get("/api/v1/rooms/nope/captions/events",
                                  headers=api.auth("host"))
    assert response.status_code == 404


async def test_a_speakers_language_is_corrected_without_restarting_their_stream(
        api: Api, captions: FakeCaptionSource) -> None:
    """In a room that detects each speaker's language, the host corrects one: the open streams
    (as spoken and English) hear it from the next words on, and the next ones start with it."""
    room = await cast(api, language="detect")
    listener = await api.listen(room, "ann")
    speaker = api.socket(room, "audio", "spk")
    speaker.send_bytes(pcm(200))
    await listener.next_of("partial")
    assert sorted((s.task, s.language) for s in captions.streams) == [
        ("transcribe", None), ("translate", None)]

    member = await api.ok("PUT", f"/rooms/{room}/members/spk/language", "host",
                          {"language": "pt"})
    assert member["language"] == "pt"
    roster = await listener.next_of("roster")
    assert {v["id"]: v["language"] for v in roster["voices"]}["spk"] == "pt"
    assert len(captions.streams) == 2  # the same streams, hearing Portuguese now
    assert {s.language for s in captions.streams} == {"pt"}
    speaker.send_bytes(pcm(200))
    heard = await listener.next_of("final", task="transcribe")
    assert heard["lang"] == "pt"

    # The next stream (after a reconnect) starts in Portuguese.
    await speaker.disconnect()
    again = api.socket(room, "audio", "spk")
    again.send_bytes(pcm(200))
    await until(lambda: len(captions.streams) == 4, what="the new streams")
    assert {s.language for s in captions.streams[2:]} == {"pt"}

    # The speaker may say it themselves; a listener may not say it for them.
    await api.ok("PUT", f"/rooms/{room}/members/spk/language", "spk", {"language": "es"})
    refused = await api.call("PUT", f"/rooms/{room}/members/spk/language", "ann",
                             {"language": "de"})
    assert refused.status_code == 403
    assert (await api.call("PUT", f"/rooms/{room}/members/spk/language", "host",
                           {"language": "detect"})).status_code == 400
    assert (await api.call("PUT", f"/rooms/{room}/members/spk/language", "host",
                           {"language": "xx"})).status_code == 400
    assert (await api.call("PUT", f"/rooms/{room}/members/ann/language", "host",
                           {"language": "es"})).status_code == 409  # not speaking


async def test_an_english_room_has_no_language_to_correct(api: Api) -> None:
    room = await cast(api)
    refused = await api.call("PUT", f"/rooms/{room}/members/spk/language", "host",
                             {"language": "es"})
    assert refused.status_code == 409 and "English only" in refused.text
