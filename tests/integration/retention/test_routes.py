"""The admin retention API in the running app: holds, upcoming purges, "purge now", the overview
with storage used, the audit log, the room's API object and the scheduler's life with the app.

Time is the app's `ManualClock`; rooms registered here have deadlines ahead of the wall clock, so
the scheduler's own jobs never fire during a test unless it is the point of the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar

from helpers.console import DAY, clocked_app, ended_room, iso, moment, start_clock
from helpers.waiting import wait_for
from integration.rooms.harness import Api, running
from roomscribe.clock import ManualClock
from roomscribe.config import Settings
from roomscribe.recordings.storage import open_storage
from roomscribe.retention.tables import Retention, RetentionCreate


@pytest.fixture
def clock() -> ManualClock:
    return start_clock()


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> Litestar:
    return clocked_app(settings, clock)


@pytest.fixture
async def api(app: Litestar) -> AsyncIterator[Api]:
    async with running(app) as api:
        for handle in ("host", "speaker", "listener", "admin"):
            await api.account(handle)
        await asyncio.to_thread(app.state.accounts.make_admin, "admin", password=None)
        yield api


async def kept(api: Api, room: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", f"/admin/retention/{room}", "admin")
    return result


async def register(app: Litestar, room: str, *, deadline_in: timedelta) -> Retention:
    """A room whose deadline is `deadline_in` from the app's clock."""
    ended = app.state.clock() - 30 * DAY + deadline_in
    row: Retention = await asyncio.to_thread(app.state.retention.register, RetentionCreate(
        room_id=room, room_title=f"Room {room}", host_id=1, ended_at=ended))
    return row


async def admin_id(app: Litestar) -> int:
    account = await asyncio.to_thread(app.state.accounts.get, "admin")
    return int(account.id)


async def test_a_hold_keeps_a_room_past_its_deadline_until_it_is_released(
        api: Api, app: Litestar, clock: ManualClock) -> None:
    room = await ended_room(api)
    deadline = moment((await kept(api, room))["retain_until"])

    held = await api.ok("PUT", f"/admin/holds/{room}", "admin", {"note": "Police request."})

    assert (held["hold"], held["hold_by"]) == (True, await admin_id(app))
    assert [r["room_id"] for r in await api.ok("GET", "/admin/holds", "admin")] == [room]
    assert app.state.retention_scheduler.next_run(room) is None
    clock.set(deadline + DAY)
    assert await api.ok("GET", "/admin/purges", "admin") == []
    refused = await api.call("POST", f"/admin/purges/{room}", "admin")
    assert (refused.status_code, refused.json()["detail"]) == (
        409, f"room {room} is on hold; release the hold first")

    released = await api.ok("DELETE", f"/admin/holds/{room}?note=Case%20closed", "admin")

    assert released["hold"] is False
    assert await api.ok("GET", "/admin/holds", "admin") == []
    # Past its deadline, the released room is purged at once by the scheduler.
    await asyncio.to_thread(wait_for, lambda: app.state.retention.get(room).state == "purged")
    log = (await api.ok("GET", f"/admin/audit?room_id={room}", "admin"))["items"]
    assert [(e["action"], e["detail"].get("note")) for e in log][:3] == [
        ("purge", None), ("hold.released", "Case closed"), ("hold.placed", "Police request.")]


async def test_purge_now_is_only_for_what_is_past_its_deadline(
        api: Api, app: Litestar, clock: ManualClock, settings: Settings) -> None:
    room = await ended_room(api)
    storage = open_storage(settings)
    await asyncio.to_thread(storage.put, f"{room}/tracks/speaker.pcm", b"\0" * 5000)
    deadline = moment((await kept(api, room))["retain_until"])
    used = (await api.ok("GET", "/admin/retention", "admin"))["storage_bytes"]
    assert used >= 5000

    early = await api.call("POST", f"/admin/purges/{room}", "admin")
    assert (early.status_code, early.json()["detail"]) == (
        409, f"room {room} is retained until {iso(deadline)}")

    clock.set(deadline + timedelta(minutes=1))
    purged = await api.ok("POST", f"/admin/purges/{room}", "admin")

    assert (purged["state"], purged["purge_reason"]) == ("purged", "admin")
    assert moment(purged["purged_at"]) == clock()
    assert purged["bytes_removed"] >= 5000
    overview = await api.ok("GET", "/admin/retention", "admin")
    assert overview["storage_bytes"] == used - 5000
    assert (overview["purged"], overview["bytes_removed"]) == (1, purged["bytes_removed"])
    assert await api.ok("POST", f"/admin/purges/{room}", "admin") == purged
    log = await api.ok("GET", f"/admin/audit?room_id={room}&action=purge.now", "admin")
    assert [e["actor_id"] for e in log["items"]] == [await admin_id(app)]


async def test_upcoming_purges_are_the_next_seven_days_overdue_first(
        api: Api, app: Litestar, clock: ManualClock) -> None:
    await register(app, "soon", deadline_in=5 * DAY)
    await register(app, "later", deadline_in=10 * DAY)
    await register(app, "first", deadline_in=DAY)
    await register(app, "held", deadline_in=DAY)
    await api.ok("PUT", "/admin/holds/held", "admin", {})
    clock.advance(2 * DAY)

    upcoming = await api.ok("GET", "/admin/purges", "admin")
    assert [r["room_id"] for r in upcoming] == ["first", "soon"]
    fortnight = await api.ok("GET", "/admin/purges?days=14", "admin")
    assert [r["room_id"] for r in fortnight] == ["first", "soon", "later"]
    assert (await api.call("GET", "/admin/purges?days=0", "admin")).status_code == 400
    overview = await api.ok("GET", "/admin/retention", "admin")
    assert {k: overview[k] for k in ("retained", "held", "due", "upcoming")} == {
        "retained": 4, "held": 1, "due": 1, "upcoming": 2}
    assert overview["next_deadline"] == upcoming[0]["retain_until"]


async def test_the_audit_log_filters_and_pages(api: Api, app: Litestar,
                                               clock: ManualClock) -> None:
    for room in ("a", "b"):
        await register(app, room, deadline_in=DAY)
    start = clock()
    for step, (method, room) in enumerate([("PUT", "a"), ("DELETE", "a"), ("PUT", "b")]):
        clock.set(start + (step + 1) * timedelta(hours=1))
        await api.ok(method, f"/admin/holds/{room}", "admin", {} if method == "PUT" else None)

    everything = await api.ok("GET", "/admin/audit", "admin")
    assert [(e["action"], e["room_id"]) for e in everything["items"]] == [
        ("hold.placed", "b"), ("hold.released", "a"), ("hold.placed", "a")]
    assert {e["actor_id"] for e in everything["items"]} == {await admin_id(app)}

    async def rooms(query: str) -> list[str | None]:
        page = await api.ok("GET", f"/admin/audit?{query}", "admin")
        return [e["room_id"] for e in page["items"]]

    assert await rooms("room_id=a") == ["a", "a"]
    assert await rooms("action=hold.placed") == ["b", "a"]
    assert await rooms("action=hold.placed&action=hold.released&room_id=b") == ["b"]
    def hour(n: int) -> str:
        return iso(start + n * timedelta(hours=1)).replace("+", "%2B")

    assert await rooms(f"since={hour(2)}&until={hour(3)}") == ["a"]
    assert await rooms(f"actor_id={await admin_id(app) + 100}") == []
    first = await api.ok("GET", "/admin/audit?limit=2", "admin")
    older = await api.ok("GET", f"/admin/audit?limit=2&before={first['next_before']}", "admin")
    assert ([e["room_id"] for e in older["items"]], older["next_before"]) == (["a"], None)
    naive = await api.call("GET", "/admin/audit?since=2025-01-01T00:00:00", "admin")
    assert naive.status_code == 400
    assert (await api.call("GET", "/admin/audit?limit=0", "admin")).status_code == 400


async def test_the_room_object_states_the_deadline_to_its_host_and_admins_only(
        api: Api, clock: ManualClock) -> None:
    room = await ended_room(api)
    deadline = (await kept(api, room))["retain_until"]
    seen = {who: await api.ok("GET", f"/rooms/{room}", who)
            for who in ("host", "admin", "speaker", "listener")}
    assert {who: r["retain_until"] for who, r in seen.items()} == {
        "host": deadline, "admin": deadline, "speaker": None, "listener": None}
    assert {r["purged_at"] for r in seen.values()} == {None}

    clock.set(moment(deadline) + DAY)
    await api.ok("POST", f"/admin/purges/{room}", "admin")
    after = await api.ok("GET", f"/rooms/{room}", "listener")
    assert moment(after["purged_at"]) == clock()


async def test_the_scheduler_starts_and_stops_with_the_app(settings: Settings) -> None:
    app = clocked_app(settings, start_clock())
    async with running(app) as api:
        scheduler = app.state.retention_scheduler
        assert scheduler.running
        await api.account("host")
        row = await register(app, "r1", deadline_in=3 * DAY)
        job = scheduler.next_run("r1")
        assert job is not None and abs(job - row.retain_until) < timedelta(milliseconds=1)
    assert not scheduler.running
