"""Downloads under the retention policy, through the real routes, database and storage, with the
app's clock moved: kept for 30 days after the end (every download says until when), then 410 Gone
with the purge date; the host's download page links work with the browser's session cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from integration.rooms.harness import Api
from integration.transcripts.harness import archive_app, end_and_settle, recorded_room, say, speak
from roomscribe.accounts.security import SESSION_COOKIE
from roomscribe.clock import ManualClock
from roomscribe.config import Settings
from roomscribe.retention.outcomes import PURGE_DATE_HEADER, RETAIN_UNTIL_HEADER
from roomscribe.rooms.tables import Room

DOWNLOADS = ["/recording", "/transcript?format=vtt", "/transcript?format=srt",
             "/transcript?format=txt", "/transcript?format=json"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now().astimezone())


@pytest.fixture
async def api(settings: Settings, clock: ManualClock) -> AsyncIterator[Api]:
    async with archive_app(settings, clock=clock) as api:
        yield api


async def ended_room(api: Api) -> tuple[str, datetime]:
    room = await recorded_room(api, "ada")
    listener = await api.listen(room, "host")
    speak(api, room, "ada", say(["she", "had", "been", "out"])[0])
    await listener.caption_from("ada", "final")
    await end_and_settle(api, room)
    with Session(api.app.state.engine) as session:
        row = session.get(Room, room)
        assert row is not None and row.ended_at is not None
        ended = row.ended_at
    return room, ended


async def test_kept_for_30_days_then_gone_with_the_purge_date(
        api: Api, clock: ManualClock) -> None:
    room, ended = await ended_room(api)
    clock.set(ended + timedelta(days=29))
    for path in DOWNLOADS:
        response = await api.http.get(f"/api/v1/rooms/{room}{path}", headers=api.auth("host"))
        assert response.status_code == 200, (path, response.text)
        until = datetime.fromisoformat(response.headers[RETAIN_UNTIL_HEADER])
        assert abs(until - (ended + timedelta(days=30))) < timedelta(seconds=1)
    ranged = await api.http.get(f"/api/v1/rooms/{room}/recording",
                                headers={**api.auth("host"), "Range": "bytes=0-9"})
    assert ranged.status_code == 206 and RETAIN_UNTIL_HEADER in ranged.headers

    clock.set(ended + timedelta(days=30, seconds=1))
    for path in DOWNLOADS:
        response = await api.http.get(f"/api/v1/rooms/{room}{path}", headers=api.auth("host"))
        assert response.status_code == 410, (path, response.text)
        assert PURGE_DATE_HEADER in response.headers


async def test_the_page_cookie_downloads_but_only_for_the_host(api: Api) -> None:
    room, _ = await ended_room(api)
    for who, status in (("host", 200), ("ada", 403)):
        api.http.cookies.set(SESSION_COOKIE, api.tokens[who])
        response = await api.http.get(f"/api/v1/rooms/{room}/transcript?format=txt")
        assert response.status_code == status, (who, response.text)
    api.http.cookies.clear()
    anonymous = await api.http.get(f"/api/v1/rooms/{room}/transcript?format=txt")
    assert anonymous.status_code == 401
