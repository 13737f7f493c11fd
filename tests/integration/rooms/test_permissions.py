"""Who may do what in a room: every cell of roles × actions, each its own test.

The stage: a room hosted by `host`, with `cohost`, `speaker`, a plain signed-in `listener`, a site
`admin` with no role in the room, a `blocked` account, and anonymous visitors. The actions work on
three bystanders: `target` (a speaker), `asker` (a pending request) and `bystander` (a listener).
A site admin is deliberately no room superuser: their row equals the listener's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from integration.rooms.harness import Api, Closed, pcm

ROLES = ("host", "cohost", "speaker", "listener", "admin", "blocked", "anonymous")
ACCEPTED = 0
"""For socket actions: the connection was accepted and works."""


def row(allowed: set[str], ok: int, *, refused: int = 403, anonymous: int = 401) -> dict[str, int]:
    return {role: ok if role in allowed else anonymous if role == "anonymous" else refused
            for role in ROLES}


HOST = {"host"}
MODERATORS = {"host", "cohost"}
VOICES = {"host", "cohost", "speaker"}
PRESENT = {"host", "cohost", "speaker", "listener", "admin"}

MATRIX: dict[str, dict[str, int]] = {
    "start": row(HOST, 200),
    "end": row(HOST, 200),
    "approve request": row(MODERATORS, 200),
    "revoke": row(MODERATORS, 200),
    "mute": row(MODERATORS, 200),
    "remove": row(MODERATORS, 200),
    "block": row(MODERATORS, 200),
    "pin": row(HOST, 201),
    "react": row(PRESENT, 204),
    "invite": row(MODERATORS, 201),
    "set roles": row(HOST, 200),
    "send audio": row(VOICES, ACCEPTED, refused=4403, anonymous=4401),
    "read captions (private)": row(PRESENT, ACCEPTED, refused=4403, anonymous=4401),
    "read captions (public)": row(PRESENT | {"anonymous"}, ACCEPTED, refused=4403),
}

HTTP_ACTIONS: dict[str, tuple[str, str, object]] = {
    "start": ("POST", "/start", None),
    "end": ("POST", "/end", None),
    "approve request": ("POST", "/requests/asker/approve", None),
    "revoke": ("POST", "/members/target/revoke", None),
    "mute": ("POST", "/members/target/mute", None),
    "remove": ("POST", "/members/bystander/remove", None),
    "block": ("POST", "/members/bystander/block", None),
    "pin": ("POST", "/pins", {"url": "https://example.org/notes"}),
    "react": ("POST", "/reactions", {"emoji": "👏"}),
    "invite": ("POST", "/invitations", {"handle": "bystander"}),
    "set roles": ("PUT", "/roles/target", {"role": "cohost"}),
}


async def stage(api: Api, *, scheduled: bool = False, public: bool = False) -> str:
    for handle in ("host", "cohost", "speaker", "listener", "admin", "blocked", "target", "asker",
                   "bystander"):
        await api.account(handle)
    await asyncio.to_thread(api.app.state.accounts.make_admin, "admin", password=None)
    fields: dict[str, object] = {"captions_public": public}
    if scheduled:
        fields["scheduled_for"] = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    room = await api.room("host", **fields)
    await api.cohost(room, "host", "cohost")
    await api.speaker(room, "host", "speaker")
    await api.speaker(room, "host", "target")
    await api.ok("POST", f"/rooms/{room}/members/blocked/block", "host")
    if not scheduled:
        await api.ok("POST", f"/rooms/{room}/requests", "asker", {})
    return room


async def http_cell(api: Api, action: str, who: str | None) -> int:
    method, path, body = HTTP_ACTIONS[action]
    room = await stage(api, scheduled=action == "start")
    response = await api.call(method, f"/rooms/{room}{path}", who, body)
    if response.status_code >= 400:
        assert response.json()["detail"], response.text
    return response.status_code


async def send_audio(api: Api, who: str | None) -> int:
    room = await stage(api)
    watcher = await api.listen(room, "bystander")
    sock = api.socket(room, "audio", who)
    sock.send_bytes(pcm(200))
    done = asyncio.ensure_future(sock.closed())
    heard = asyncio.ensure_future(watcher.next_of("partial"))
    finished, _ = await asyncio.wait((done, heard), timeout=5,
                                     return_when=asyncio.FIRST_COMPLETED)
    if heard in finished:
        done.cancel()
        assert heard.result()["speaker"]["id"] == who
        return ACCEPTED
    heard.cancel()
    code, reason = done.result()
    assert reason
    return code


async def read_captions(api: Api, who: str | None, *, public: bool) -> int:
    room = await stage(api, public=public)
    sock = api.socket(room, "captions", who)
    try:
        first = await sock.receive_json()
    except Closed as closed:
        assert closed.reason
        return closed.code
    assert first["type"] == "room"
    return ACCEPTED


CELLS: dict[str, Callable[[Api, str | None], Awaitable[int]]] = {
    **{action: (lambda a, w, action=action: http_cell(a, action, w)) for action in HTTP_ACTIONS},
    "send audio": send_audio,
    "read captions (private)": lambda a, w: read_captions(a, w, public=False),
    "read captions (public)": lambda a, w: read_captions(a, w, public=True),
}


@pytest.mark.parametrize(("action", "role", "expected"), [
    pytest.param(action, role, expected, id=f"{action}-{role}")
    for action, cells in MATRIX.items() for role, expected in cells.items()
])
async def test_permission(api: Api, action: str, role: str, expected: int) -> None:
    who = None if role == "anonymous" else role
    assert await CELLS[action](api, who) == expected
