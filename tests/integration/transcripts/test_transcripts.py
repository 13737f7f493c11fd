"""A recorded room's transcript: live finals saved as published, the final pass, exports, edits."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

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
from roomscribe.captions.validator import validate_srt, validate_vtt
from roomscribe.config import Settings
from roomscribe.transcripts.tables import Transcript, TranscriptSegment

ADA = ["she", "had", "been", "out", "with", "them"]
BOB = ["what", "would", "you", "have", "said", "more"]


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with archive_app(settings) as api:
        yield api


async def segments(api: Api, room: str, who: str = "host", **query: Any) -> list[dict[str, Any]]:
    response = await api.http.get(f"/api/v1/rooms/{room}/transcript/segments", params=query,
                                  headers=api.auth(who))
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["segments"]
    return listed


async def info(api: Api, room: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/rooms/{room}/transcript/versions", "host")
    return body


async def export(api: Api, room: str, fmt: str, who: str = "host", **query: Any) -> Any:
    return await api.http.get(f"/api/v1/rooms/{room}/transcript",
                              params={"format": fmt, **query}, headers=api.auth(who))


async def correct(api: Api, room: str, base: int, edits: list[dict[str, Any]],
                  who: str = "host") -> Any:
    return await api.call("POST", f"/rooms/{room}/transcript/corrections", who,
                          {"base": base, "edits": edits})


async def search(api: Api, q: str, who: str = "host") -> list[dict[str, Any]]:
    response = await api.http.get("/api/v1/search", params={"q": q}, headers=api.auth(who))
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


async def duet(api: Api) -> tuple[str, dict[str, float]]:
    """Ada speaks, then Bob, in a recorded room that then ends and settles. Returns the room and
    the room time just before each began to send."""
    room = await recorded_room(api, "ada", "bob")
    await api.account("lis")
    listener = await api.listen(room, "lis")
    live = api.app.state.rooms.live.get(room)
    began = {}
    for who, words in (("ada", ADA), ("bob", BOB)):
        began[who] = live.room_time()
        speak(api, room, who, say(words)[0])
        await listener.caption_from(who, "final")
    await end_and_settle(api, room)
    return room, began


def stored(api: Api, room: str) -> tuple[Transcript | None, list[TranscriptSegment]]:
    with Session(api.app.state.engine) as session:
        return session.get(Transcript, room), list(session.exec(
            select(TranscriptSegment).where(TranscriptSegment.room_id == room)).all())


@contextmanager
def write_lock(engine: Engine, settings: Settings) -> Iterator[None]:
    """SQLite's one write lock, or on PostgreSQL an exclusive lock on the segments table."""
    if engine.dialect.name == "sqlite":
        lock = sqlite3.connect(settings.data_dir / "roomscribe.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("LOCK TABLE transcriptsegment IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            conn.rollback()


async def test_finals_are_saved_before_listeners_receive_them(api: Api,
                                                              settings: Settings) -> None:
    room = await recorded_room(api, "ada")
    await api.account("lis")
    listener = await api.listen(room, "lis")
    # Another connection holds the lock a save needs: saving a final has to wait for it.
    with write_lock(api.app.state.engine, settings):
        speak(api, room, "ada", say(ADA)[0])
        # Unblocked, the final arrives well within this (the engine hears 4 s of audio at once).
        with pytest.raises(TimeoutError):
            await listener.next_of("final", within=3.0)
    final = await listener.next_of("final")
    _, rows = await asyncio.to_thread(stored, api, room)
    assert [(r.version, r.seq, r.speaker_id, r.text) for r in rows] == [
        (0, final["seq"], "ada", final["text"])]


async def test_only_recorded_rooms_keep_a_transcript(api: Api) -> None:
    await api.account("host")
    await api.account("ada")
    room = await api.room("host")
    await api.speaker(room, "host", "ada")
    listener = await api.listen(room, "host")
    speak(api, room, "ada", say(ADA)[0])
    await listener.next_of("final")
    await end_and_settle(api, room)
    assert await asyncio.to_thread(stored, api, room) == (None, [])
    assert (await export(api, room, "vtt")).status_code == 404


async def test_the_final_pass_becomes_the_archived_transcript_beside_the_live_one(
        api: Api) -> None:
    room, began = await duet(api)
    described = await info(api, room)
    assert (described["stage"], described["current"], described["note"]) == ("final", 1, None)
    assert [(v["number"], v["source"], v["segments"]) for v in described["versions"]] == [
        (0, "live", described["versions"][0]["segments"]), (1, "final_pass", 2)]
    final = await segments(api, room)
    assert [(s["index"], s["speaker_id"], s["speaker"], s["text"]) for s in final] == [
        (0, "ada", "Ada", "she had been out with them."),
        (1, "bob", "Bob", "what would you have said more.")]
    # Heard in the tracks where each speaker said it on the room clock: their first word comes
    # after the silence `say` leads with (a frame's length earlier: the first frame's start).
    lead = say(ADA)[1][0].start - 0.1
    for segment in final:
        assert segment["start"] == pytest.approx(began[segment["speaker_id"]] + lead, abs=0.15)
    live = await segments(api, room, version=0)
    for who, words in (("ada", ADA), ("bob", BOB)):
        assert " ".join(s["text"] for s in live if s["speaker_id"] == who) == " ".join(words)


async def test_the_host_downloads_every_format_passing_the_caption_rules(api: Api) -> None:
    room, _ = await duet(api)
    files = {fmt: await export(api, room, fmt) for fmt in ("vtt", "srt", "txt", "json")}
    for fmt, response in files.items():
        assert response.status_code == 200, response.text
        assert (response.headers["content-disposition"]
                == f'attachment; filename="{room}-v1.{fmt}"')
    vtt, srt = files["vtt"].text, files["srt"].text
    assert files["vtt"].headers["content-type"] == "text/vtt; charset=utf-8"
    assert validate_vtt(vtt) == [] and validate_srt(srt) == []
    assert "<v Ada>she had been out with them." in vtt and "<v Bob>what would" in vtt
    assert "Ada: she had been out with them." in srt
    assert files["txt"].text.startswith("[00:00:00] Ada: she had been out with them.")
    assert "] Bob: what would you have said more." in files["txt"].text
    data = json.loads(files["json"].text)
    assert [s["speaker"] for s in data["segments"]] == ["Ada", "Bob"]
    assert [w["text"] for w in data["segments"][1]["words"]][:2] == ["what", "would"]
    live = await export(api, room, "txt", version=0)
    assert "Ada: she had been out with them\n" in live.text  # live finals carry no full stop
    assert (await export(api, room, "txt", version=7)).status_code == 404
    assert (await export(api, room, "docx")).status_code == 400


async def test_corrections_are_new_versions_that_search_follows(api: Api) -> None:
    room, _ = await duet(api)
    assert [h["speaker"] for h in await search(api, "them")] == ["Ada"]
    response = await correct(api, room, 1, [{"index": 0, "text": "  she had been out with her "}])
    assert response.status_code == 201, response.text
    fixed = response.json()
    assert fixed["current"] == 2
    newest = fixed["versions"][-1]
    assert (newest["number"], newest["source"], newest["base"], newest["author"],
            newest["segments"]) == (2, "correction", 1, "host", 2)
    assert [s["text"] for s in await segments(api, room)] == [
        "she had been out with her", "what would you have said more."]
    assert await search(api, "them") == []
    assert [h["text"] for h in await search(api, "her")] == ["she had been out with her"]
    # Earlier versions stay as they were.
    assert (await segments(api, room, version=1))[0]["text"] == "she had been out with them."
    # Empty text removes a segment (a phrase nobody said).
    response = await correct(api, room, 2, [{"index": 1, "text": ""}])
    assert response.status_code == 201
    assert [s["speaker"] for s in await segments(api, room)] == ["Ada"]
    assert await search(api, "would") == []
    vtt = (await export(api, room, "vtt")).text
    assert validate_vtt(vtt) == [] and "with her" in vtt


@pytest.mark.parametrize(("base", "edits", "status"), [
    (0, [{"index": 0, "text": "x"}], 409),
    (1, [{"index": 2, "text": "x"}], 400),
    (1, [{"index": 0, "text": "x"}, {"index": 0, "text": "y"}], 400),
    (1, [{"index": 0, "text": "she had been out with them."}], 400),
    (1, [], 400),
    (1, [{"index": -1, "text": "x"}], 400),
])
async def test_bad_corrections_are_refused_with_the_reason(
        api: Api, base: int, edits: list[dict[str, Any]], status: int) -> None:
    room, _ = await duet(api)
    response = await correct(api, room, base, edits)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert (await info(api, room))["current"] == 1


async def test_only_the_host_and_admins_get_or_correct_a_transcript(api: Api) -> None:
    room, _ = await duet(api)
    await asyncio.to_thread(api.app.state.accounts.make_admin, "boss", password="password1")
    await sign_in(api, "boss")
    edit = {"base": 1, "edits": [{"index": 0, "text": "x"}]}
    for who, status in (("lis", 403), ("ada", 403), (None, 401)):
        for method, path, body in (("GET", "/transcript", None),
                                   ("GET", "/transcript/segments", None),
                                   ("GET", "/transcript/versions", None),
                                   ("POST", "/transcript/corrections", edit)):
            response = await api.call(method, f"/rooms/{room}{path}", who, body)
            assert response.status_code == status, (who, path, response.text)
    assert (await export(api, room, "srt", "boss")).status_code == 200
    assert (await correct(api, room, 1, edit["edits"], "boss")).status_code == 201


async def test_rooms_without_a_transcript_to_give_say_why(api: Api) -> None:
    live = await recorded_room(api, "ada")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = await api.room("host", record=True, scheduled_for=tomorrow)
    unrecorded = await api.room("host")
    for room, status in ((live, 409), (scheduled, 404), (unrecorded, 404), ("nosuchroom", 404)):
        assert (await export(api, room, "vtt")).status_code == status


async def test_without_a_model_the_final_pass_waits_for_a_start_that_has_one(
        settings: Settings) -> None:
    missing = settings.model_copy(update={"asr_model": "no-such-model"})
    async with archive_app(missing, transcriber=False) as api:
        room = await recorded_room(api, "ada")
        listener = await api.listen(room, "host")
        speak(api, room, "ada", say(ADA)[0])
        await listener.next_of("final")
        await end_and_settle(api, room)
        assert ((await info(api, room))["stage"], (await info(api, room))["current"]) == (
            "pending", 0)
        # The live transcript is the one there is meanwhile; it cannot be edited yet.
        assert [s["text"] for s in await segments(api, room)] == [" ".join(ADA)]
        assert (await correct(api, room, 0, [{"index": 0, "text": "x"}])).status_code == 409
    async with archive_app(settings) as api:
        await sign_in(api, "host")
        await settle(api)
        assert ((await info(api, room))["stage"], (await info(api, room))["current"]) == (
            "final", 1)
        assert [h["text"] for h in await search(api, "them")] == ["she had been out with them."]
