"""Shared by the reports, retention API, admin and page tests: the app on a clock the test moves,
a recorded room that ended with a host, a speaker and a listener who followed it, and page
visitors signed in by cookie with the CSRF token their forms need.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar import Litestar
from sqlmodel import Session

from integration.rooms.harness import Api, FakeCaptionSource, RecordingAudioSink
from roomscribe.accounts.security import SESSION_COOKIE
from roomscribe.app import create_app
from roomscribe.clock import ManualClock
from roomscribe.config import Settings
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import Retention, RetentionCreate
from roomscribe.rooms.tables import Room
from roomscribe.web.security import CSRF_COOKIE

PASSWORD = "password1"
DAY = timedelta(days=1)
_META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def start_clock() -> ManualClock:
    """The policy's clock, at the wall clock's time (rooms end on the wall clock)."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def clocked_app(settings: Settings, clock: ManualClock) -> Litestar:
    return create_app(settings, caption_source=FakeCaptionSource(),
                      audio_sink=RecordingAudioSink(),
                      password_hasher=PasswordHasher.from_parameters(CHEAPEST), clock=clock)


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def moment(text: str) -> datetime:
    """A datetime from the API (ISO 8601, `Z` or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def ended_room(api: Api, *, host: str = "host", speaker: str | None = "speaker",
                     listener: str | None = "listener") -> str:
    """A recorded room `host` ran: `speaker` spoke, `listener` followed the captions; ended and
    kept by the retention policy. The accounts must exist."""
    room = await api.room(host, record=True)
    if speaker is not None:
        await api.speaker(room, host, speaker)
    if listener is not None:
        await api.listen(room, listener)
    await api.ok("POST", f"/rooms/{room}/end", host)
    await keep(api.app, room)
    return room


async def keep(app: Litestar, room: str) -> Retention:
    """The room's retention row. The recordings domain registers ended recorded rooms; doing it
    here too (registering is idempotent) keeps these tests about retention alone."""
    def register() -> Retention:
        with Session(app.state.engine) as session:
            row = session.get(Room, room)
            assert row is not None and row.ended_at is not None
            service: RetentionService = app.state.retention
            return service.register(RetentionCreate(room_id=row.id, room_title=row.title,
                                                    host_id=row.host_id, ended_at=row.ended_at))

    return await asyncio.to_thread(register)


@dataclass
class Visitor:
    """One person's browser, without a browser: a page session cookie and the CSRF token."""

    http: httpx.Client
    cookies: dict[str, str]
    token: str

    @classmethod
    def arrive(cls, http: httpx.Client, handle: str | None) -> Visitor:
        cookies: dict[str, str] = {}
        if handle is not None:
            signed = http.post("/api/v1/sessions/cookie",
                               json={"handle": handle, "password": PASSWORD})
            assert signed.status_code == 204, signed.text
            cookies[SESSION_COOKIE] = signed.cookies[SESSION_COOKIE]
            http.cookies.clear()
        visitor = cls(http, cookies, "")
        first = visitor.get("/signin")
        visitor.cookies[CSRF_COOKIE] = first.cookies[CSRF_COOKIE]
        match = _META_TOKEN.search(first.text)
        assert match is not None
        visitor.token = match.group(1)
        return visitor

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        # The cookies go in a header: the client's own jar would mix everyone's sessions.
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = self.http.request(method, path, headers={"Cookie": cookie} if cookie else {},
                                     follow_redirects=False, **options)
        self.http.cookies.clear()
        return response

    def get(self, path: str) -> httpx.Response:
        return self._send("GET", path)

    def post(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        return self._send("POST", path, data={"_csrf_token": self.token, **(data or {})})
