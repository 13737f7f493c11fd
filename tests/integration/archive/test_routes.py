"""GET /api/v1/search: who finds what, the query language's refusals, and what a hit says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integration.rooms.harness import Api
from integration.transcripts.harness import archive_app, settle, sign_in
from roomscribe.archive.documents import SegmentDoc
from roomscribe.config import Settings
from roomscribe.db import session_scope
from roomscribe.rooms.tables import Room
from roomscribe.transcripts.tables import TranscriptSegment
from roomscribe.visibility import Visibility

DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

Line = tuple[str, float, str]
"""(speaker name, start, text): a segment whose words are 0.5 s apart from `start`."""


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with archive_app(settings) as api:
        for handle in ("hana", "moe"):
            await api.account(handle)
        await asyncio.to_thread(api.app.state.accounts.make_admin, "boss", password="password1")
        await sign_in(api, "boss")
        yield api


async def archived(api: Api, title: str, lines: Sequence[Line], *, visibility: str = "members",
                   date: datetime = DAY, host: str = "hana") -> str:
    """An ended recorded room of `host` whose transcript is `lines`, indexed."""
    room = await api.room(host, title=title, record=True, visibility=visibility)
    await api.ok("POST", f"/rooms/{room}/end", host)
    await settle(api)  # no audio: the live version (empty so far) stays the archived one

    def store() -> None:
        with session_scope(api.app.state.engine) as session:
            row = session.get(Room, room)
            assert row is not None
            row.started_at = date
            session.add(row)
            for i, (name, start, text) in enumerate(lines):
                words = [{"start": start + 0.5 * k, "end": start + 0.5 * k + 0.4, "text": w,
                          "p": 1.0} for k, w in enumerate(text.split())]
                session.add(TranscriptSegment(
                    room_id=room, version=0, position=i, speaker_id=name.lower(),
                    speaker_name=name, start=start, end=words[-1]["end"], text=text,
                    words=words))

    await asyncio.to_thread(store)
    await api.app.state.archive.reindex(room)
    return room


async def search(api: Api, who: str | None, q: str, **params: Any) -> Any:
    return await api.http.get("/api/v1/search", params={"q": q, **params},
                              headers=api.auth(who))


async def found(api: Api, who: str | None, q: str, **params: Any) -> list[dict[str, Any]]:
    response = await search(api, who, q, **params)
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


async def test_search_never_returns_what_the_asker_may_not_see(api: Api) -> None:
    rooms = {v: await archived(api, f"{v} budget", [("Ada", 1.0, f"the {v} budget")],
                               visibility=v) for v in ("public", "members", "private")}
    seen = {who: {h["room_id"] for h in await found(api, who, "budget")}
            for who in (None, "moe", "hana", "boss")}
    assert seen == {
        None: {rooms["public"]},
        "moe": {rooms["public"], rooms["members"]},
        "hana": set(rooms.values()),
        "boss": set(rooms.values()),
    }
    totals = {who: (await search(api, who, "budget")).json()["total"] for who in (None, "moe")}
    assert totals == {None: 1, "moe": 2}


async def test_the_host_changes_who_finds_a_room_at_any_time(api: Api) -> None:
    room = await archived(api, "Planning", [("Ada", 1.0, "the launch budget")])
    assert [h["room_id"] for h in await found(api, "moe", "launch")] == [room]
    made = await api.ok("PATCH", f"/rooms/{room}", "hana", {"visibility": "private"})
    assert made["visibility"] == "private" and made["state"] == "ended"
    assert await found(api, "moe", "launch") == []
    assert [h["room_id"] for h in await found(api, "hana", "launch")] == [room]
    await api.ok("PATCH", f"/rooms/{room}", "hana", {"visibility": "public"})
    assert [h["room_id"] for h in await found(api, None, "launch")] == [room]
    refused = await api.call("PATCH", f"/rooms/{room}", "moe", {"visibility": "members"})
    assert refused.status_code == 403
    # Everything else about an ended room stays fixed.
    fixed = await api.call("PATCH", f"/rooms/{room}", "hana", {"title": "Renamed"})
    assert fixed.status_code == 409


async def test_a_stale_index_entry_never_shows_a_room_more_widely_than_its_host_allows(
        api: Api) -> None:
    room = await archived(api, "Secret", [("Ada", 1.0, "the hidden budget")],
                          visibility="private")
    # The index as it would be for a moment if the host's change had not reached it yet.
    await api.app.state.archive.index.add([SegmentDoc(
        segment_id=f"{room}/0/0", room_id=room, room_title="Secret", room_date=DAY,
        visibility=Visibility.PUBLIC, host_id="1", speaker="Ada", start=1.0, end=2.4,
        text="the hidden budget")])
    assert await found(api, None, "hidden") == []
    assert [h["room_id"] for h in await found(api, "hana", "hidden")] == [room]


async def test_a_hit_says_where_and_who_with_the_match_marked(api: Api) -> None:
    room = await archived(api, "Quarterly review", [
        ("Ada Lovelace", 10.0, "so the <b> quarterly budget is late"),
        ("Bob", 20.0, "nothing to add")])
    response = await search(api, "moe", '"quarterly budget"')
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"hits", "total", "page", "pages"} and body["total"] == 1
    (hit,) = body["hits"]
    assert set(hit) == {"room_id", "room_title", "speaker", "start", "end", "text", "highlight",
                        "lang", "translated"}
    assert (hit["lang"], hit["translated"]) == ("en", False)
    assert (hit["room_id"], hit["room_title"], hit["speaker"]) == (
        room, "Quarterly review", "Ada Lovelace")
    assert hit["text"] == "so the <b> quarterly budget is late"
    assert "&lt;b&gt;" in hit["highlight"] and "<b>" not in hit["highlight"]
    assert "<mark>quarterly</mark>" in hit["highlight"]
    # Replay starts where the phrase is said, not where the sentence began.
    assert hit["start"] == pytest.approx(11.5) and hit["end"] == pytest.approx(13.4)
    (by_word,) = await found(api, "moe", "late speaker:ada")
    assert by_word["start"] == pytest.approx(13.0)
    assert await found(api, "moe", "late speaker:bob") == []
    assert [h["speaker"] for h in await found(api, "moe", "room:quarterly nothing")] == ["Bob"]


async def test_hits_come_newest_first_or_by_relevance_a_page_at_a_time(api: Api) -> None:
    older = await archived(api, "Old", [("Ada", float(i), f"budget line {i}") for i in range(15)],
                           date=DAY - timedelta(days=30))
    newer = await archived(api, "New", [("Bob", float(i), f"budget item {i}") for i in range(10)]
                           + [("Bob", 99.0, "budget budget budget")])
    first = (await search(api, "moe", "budget", per_page=10)).json()
    assert (first["total"], first["page"], first["pages"]) == (26, 1, 3)
    assert {h["room_id"] for h in first["hits"]} == {newer}
    assert [h["start"] for h in first["hits"]] == [float(i) for i in range(10)]
    last = (await search(api, "moe", "budget", per_page=10, page=3)).json()
    assert [h["room_id"] for h in last["hits"]] == [older] * 6
    assert (await search(api, "moe", "budget", page=9)).json()["hits"] == []
    ranked = await found(api, "moe", "budget", order="relevance", per_page=1)
    assert ranked[0]["text"] == "budget budget budget"
    dated = await found(api, "moe", "budget date:2026-01-31", per_page=100)
    assert {h["room_id"] for h in dated} == {older}


@pytest.mark.parametrize("params", [
    {"q": '"unclosed phrase'},
    {"q": "speaker:"},
    {"q": "nosuchfield:x"},
    {"q": "(budget"},
    {"q": "budget AND"},
    {"q": "date:[2026-13-01 TO 2026-14-01]"},
    {"q": "x" * 501},
    {"q": ""},
    {"q": "budget", "page": 0},
    {"q": "budget", "per_page": 101},
    {"q": "budget", "order": "sideways"},
    {"q": "budget", "page": "two"},
    {},
])
async def test_malformed_queries_are_400_with_the_reason(api: Api, params: dict[str, Any]) -> None:
    await archived(api, "Any", [("Ada", 1.0, "the budget")])
    response = await api.http.get("/api/v1/search", params=params, headers=api.auth("moe"))
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


async def test_the_index_follows_transcripts_the_database_holds(api: Api) -> None:
    room = await archived(api, "Kept", [("Ada", 1.0, "the budget")])
    await api.app.state.archive.delete_room(room)
    assert await found(api, "moe", "budget") == []
    reconciled = await api.app.state.archive.reconcile()
    assert reconciled.reindexed == (room,)
    assert [h["room_id"] for h in await found(api, "moe", "budget")] == [room]
