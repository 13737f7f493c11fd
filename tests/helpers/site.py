"""A real Roomscribe server for browser tests: uvicorn on 127.0.0.1 in a thread, real SQLite.

The app runs in the server thread's own event loop, as in production. Tests drive it from outside,
over HTTP (httpx), WebSockets (websockets) and Chromium (Playwright), and look inside only at the
fakes they passed to `create_app` (a caption source, an audio sink).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from playwright.sync_api import Browser, BrowserContext, Page, expect

from helpers.waiting import wait_for
from roomscribe.accounts.security import SESSION_COOKIE
from roomscribe.app import SERVER_OPTIONS, create_app
from roomscribe.config import Settings

PASSWORD = "password1"
START_TIMEOUT = 15.0
WAIT_MS = 10_000
"""How long a page may take to show what a test waits for: generous, because shared CI machines
stall for seconds; a passing wait returns as soon as its condition holds."""

expect.set_options(timeout=WAIT_MS)


@dataclass
class Site:
    url: str
    http: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)
    _made: int = 0

    def handle(self, prefix: str) -> str:
        """A handle no other test on this server has used."""
        self._made += 1
        return f"{prefix}{self._made}"

    def account(self, handle: str, *, name: str | None = None) -> str:
        """Register `handle` (display name `name`, else the handle titled); its API token."""
        registered = self.http.post("/api/v1/accounts", json={
            "handle": handle, "display_name": name or handle.title(), "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        session = self.http.post("/api/v1/sessions", json={"handle": handle, "password": PASSWORD})
        assert session.status_code == 201, session.text
        self.tokens[handle] = session.json()["token"]
        return self.tokens[handle]

    def api(self, method: str, path: str, who: str | None = None, json: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        response = self.http.request(method, f"/api/v1{path}", headers=headers, json=json)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json() if response.content else None

    def room(self, host: str, **fields: Any) -> str:
        return str(self.api("POST", "/rooms", host, {"title": "A room", **fields})["id"])

    def speaker(self, room: str, host: str, handle: str) -> None:
        """Invite `handle` and have them accept, consenting (which recorded rooms need)."""
        self.api("POST", f"/rooms/{room}/invitations", host, {"handle": handle})
        self.api("POST", f"/rooms/{room}/invitations/accept", handle, {"consent": True})

    def sign_in(self, context: BrowserContext, handle: str) -> None:
        """Give the browser `handle`'s page session cookie, as the sign-in page would."""
        response = self.http.post("/api/v1/sessions/cookie",
                                  json={"handle": handle, "password": PASSWORD})
        assert response.status_code == 204, response.text
        context.add_cookies([{"name": SESSION_COOKIE, "value": response.cookies[SESSION_COOKIE],
                              "url": self.url, "httpOnly": True, "sameSite": "Lax"}])
        self.http.cookies.clear()

    @contextmanager
    def tab(self, browser: Browser, who: str | None = None, **options: Any) -> Iterator[Page]:
        """A page in a fresh browser context, signed in as `who`; fails on any script error."""
        context = browser.new_context(**options)
        errors: list[str] = []
        try:
            if who is not None:
                self.sign_in(context, who)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda err: errors.append(str(err)))
            yield page
        finally:
            context.close()
        assert errors == [], errors

    def socket_url(self, path: str, who: str) -> str:
        return f"{self.url.replace('http', 'ws', 1)}/api/v1{path}?token={self.tokens[who]}"


@contextmanager
def serve(settings: Settings, *, port: int = 0, **app_options: Any) -> Iterator[Site]:
    """The app on `port` (a free one by default) until the block ends; `app_options` go to
    `create_app`."""
    app_options.setdefault("password_hasher", PasswordHasher.from_parameters(CHEAPEST))
    app = create_app(settings, **app_options)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart on the same port
    listener.bind(("127.0.0.1", port))
    port = listener.getsockname()[1]
    # The sans-I/O WebSocket protocol: the default one imports websockets' deprecated legacy API.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio",
                                           **SERVER_OPTIONS))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), START_TIMEOUT, "server start")
        if not server.started:
            raise RuntimeError("the server did not start; see the log above")
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=10) as http:
            yield Site(url, http)
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
        listener.close()


