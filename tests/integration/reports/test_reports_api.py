"""Filing reports of a recorded room, and the admins' workflow, through the API.

The room: `host` ran it recorded, `speaker` spoke, `listener` followed the captions, `stranger`
never came. Time is the app's `ManualClock`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from helpers.console import DAY, ended_room, iso, moment
from integration.rooms.harness import Api
from roomscribe.clock import ManualClock

REASON = "Slurs at minute 12."


async def report(api: Api, room: str, who: str | None, reason: Any = REASON) -> httpx.Response:
    return await api.call("POST", f"/rooms/{room}/reports", who, {"reason": reason})


async def kept(api: Api, room: str) -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", f"/admin/retention/{room}", "admin")
    return result


async def events(api: Api, room: str, action: str) -> list[dict[str, Any]]:
    page = await api.ok("GET", f"/admin/audit?room_id={room}&action={action}", "admin")
    items: list[dict[str, Any]] = page["items"]
    return items


async def account_id(app: Litestar, handle: str) -> int:
    account = await asyncio.to_thread(app.state.accounts.get, handle)
    assert account.id is not None
    return int(account.id)


def close_to(a: datetime | None, b: datetime) -> bool:
    # The job store keeps run times as float timestamps.
    return a is not None and abs(a - b) < timedelta(milliseconds=1)


async def test_a_listener_who_followed_the_room_reports_it_and_the_recording_is_kept_longer(
        api: Api, app: Litestar) -> None:
    room = await ended_room(api)
    before = await kept(api, room)
    ended = moment(before["ended_at"])
    assert moment(before["retain_until"]) == ended + 30 * DAY

    filed = await report(api, room, "listener")

    assert filed.status_code == 201, filed.text
    assert {k: filed.json()[k] for k in ("room_id", "reason", "status", "outcome")} == {
        "room_id": room, "reason": REASON, "status": "open", "outcome": None}
    assert moment((await kept(api, room))["retain_until"]) == ended + 120 * DAY
    host_view = await api.ok("GET", f"/rooms/{room}", "host")
    assert moment(host_view["retain_until"]) == ended + 120 * DAY
    assert close_to(app.state.retention_scheduler.next_run(room), ended + 120 * DAY)
    [event] = await events(api, room, "report.filed")
    assert event["actor_id"] == await account_id(app, "listener")
    assert event["detail"]["report_id"] == filed.json()["id"]


@pytest.mark.parametrize("who", ["host", "speaker"])
async def test_the_host_and_speakers_may_report(api: Api, who: str) -> None:
    room = await ended_room(api)
    filed = await report(api, room, who)
    assert filed.status_code == 201, filed.text


async def test_someone_who_was_not_in_the_room_is_refused(api: Api) -> None:
    room = await ended_room(api)
    before = await kept(api, room)
    refused = await report(api, room, "stranger")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "only the host and people who were in the room may report it"
    assert await kept(api, room) == before
    assert await events(api, room, "report.filed") == []


async def test_anonymous_visitors_are_refused(api: Api) -> None:
    room = await ended_room(api)
    assert (await report(api, room, None)).status_code == 401


@pytest.mark.parametrize("reason", ["", "   ", "x" * 2001, None])
async def test_a_report_needs_a_reason(api: Api, reason: Any) -> None:
    room = await ended_room(api)
    assert (await report(api, room, "listener", reason)).status_code == 400


async def test_a_room_that_was_not_recorded_cannot_be_reported(api: Api) -> None:
    room = await api.room("host")
    await api.listen(room, "listener")
    await api.ok("POST", f"/rooms/{room}/end", "host")
    refused = await report(api, room, "listener")
    assert refused.status_code == 404


async def test_a_report_after_the_deadline_is_refused_with_the_date(
        api: Api, clock: ManualClock) -> None:
    room = await ended_room(api)
    deadline = moment((await kept(api, room))["retain_until"])
    clock.set(deadline)

    refused = await report(api, room, "listener")

    assert refused.status_code == 410
    assert refused.headers["Purge-Date"] == iso(deadline)
    assert refused.json()["detail"] == (
        f"room {room} can no longer be reported: its retention ended on {iso(deadline)}; "
        "deletion is pending")
    assert moment((await kept(api, room))["retain_until"]) == deadline
    # A hold keeps the recording, but does not reopen reporting.
    await api.ok("PUT", f"/admin/holds/{room}", "admin", {})
    assert (await report(api, room, "listener")).status_code == 410


async def test_a_report_after_the_purge_states_when_it_was_deleted(
        api: Api, clock: ManualClock) -> None:
    room = await ended_room(api)
    clock.set(moment((await kept(api, room))["retain_until"]) + DAY)
    purged = await api.ok("POST", f"/admin/purges/{room}", "admin")

    refused = await report(api, room, "listener")

    assert refused.status_code == 410
    assert refused.headers["Purge-Date"] == iso(moment(purged["purged_at"])) == iso(clock())
    assert f"its recording was deleted on {iso(clock())}" in refused.json()["detail"]


async def test_one_waiting_report_per_person_and_room(api: Api) -> None:
    room = await ended_room(api)
    first = (await report(api, room, "listener")).json()
    again = await report(api, room, "listener")
    assert again.status_code == 409
    assert again.json()["detail"] == "you have already reported this room; an admin is on it"
    await api.ok("PATCH", f"/admin/reports/{first['id']}", "admin",
                 {"status": "resolved", "outcome": "no_violation"})
    assert (await report(api, room, "listener")).status_code == 201


async def test_admins_investigate_note_and_resolve(api: Api, app: Litestar,
                                                   clock: ManualClock) -> None:
    room = await ended_room(api)
    filed = (await report(api, room, "listener")).json()
    deadline = (await kept(api, room))["retain_until"]
    path = f"/admin/reports/{filed['id']}"

    clock.advance(timedelta(hours=1))
    moved = await api.ok("PATCH", path, "admin",
                         {"status": "investigating", "note": "Listening to the recording."})
    assert (moved["status"], moved["updated_at"]) == ("investigating", iso(clock()).replace(
        "+00:00", "Z"))
    await api.ok("POST", f"{path}/notes", "admin", {"text": "Minute 12 confirmed."})
    unresolved = await api.call("PATCH", path, "admin", {"status": "resolved"})
    assert unresolved.status_code == 400
    done = await api.ok("PATCH", path, "admin", {"status": "resolved", "outcome": "violation"})
    assert (done["status"], done["outcome"]) == ("resolved", "violation")
    assert done["resolved_by"] == await account_id(app, "admin")

    found = await api.ok("GET", path, "admin")
    assert [n["text"] for n in found["notes"]] == ["Listening to the recording.",
                                                   "Minute 12 confirmed."]
    final = await api.call("PATCH", path, "admin", {"status": "investigating"})
    assert final.status_code == 409
    assert [r["id"] for r in (await api.ok("GET", "/admin/reports", "admin"))["items"]] == []
    resolved = await api.ok("GET", "/admin/reports?status=resolved", "admin")
    assert [r["id"] for r in resolved["items"]] == [filed["id"]]
    # The report's extension stands whatever the outcome.
    assert (await kept(api, room))["retain_until"] == deadline
    steps = [(e["detail"]["from"], e["detail"]["to"], e["detail"]["note_id"] is not None)
             for e in reversed(await events(api, room, "report.status"))]
    # A note given with a step is logged with the step; one added on its own, on its own.
    assert steps == [("open", "investigating", True), ("investigating", "resolved", False)]
    assert len(await events(api, room, "report.note")) == 1


async def test_the_queue_is_oldest_first_in_pages(api: Api) -> None:
    room = await ended_room(api)
    other = await ended_room(api)
    ids = [(await report(api, r, who)).json()["id"]
           for r, who in ((room, "listener"), (other, "speaker"), (room, "host"))]
    first = await api.ok("GET", "/admin/reports?limit=2", "admin")
    assert [r["id"] for r in first["items"]] == ids[:2]
    rest = await api.ok("GET", f"/admin/reports?limit=2&after={first['next_after']}", "admin")
    assert ([r["id"] for r in rest["items"]], rest["next_after"]) == (ids[2:], None)
    only = await api.ok("GET", f"/admin/reports?room_id={room}", "admin")
    assert [r["id"] for r in only["items"]] == [ids[0], ids[2]]
