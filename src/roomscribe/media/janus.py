"""The Janus WebRTC server: the only module that starts it or speaks its API.

Janus does what a media server must (ICE, DTLS-SRTP, jitter buffers, Opus, mixing) in its own
process; Roomscribe drives it over its HTTP API on loopback, with a secret only Roomscribe knows.

- `JanusServer` writes Janus's configuration (from `janus_config/`, fresh secrets each start),
  runs it as a child process, and starts it again if it dies.
- `Janus` is the API client: one Janus session holding every handle, one long poll bringing the
  events of all of them (answers to asynchronous requests are matched by transaction), and the
  plugin requests Roomscribe uses. When Janus goes away it says so (`on_change`), and keeps
  trying until a Janus answers again; its rooms and peers are gone then, and the caller rebuilds
  what it needs.

Everything here is async and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from roomscribe.errors import RoomscribeError, Unavailable

log = logging.getLogger(__name__)

CONFIG_TEMPLATES = Path(__file__).parent / "janus_config"
PLUGIN = {"audiobridge": "janus.plugin.audiobridge", "streaming": "janus.plugin.streaming",
          "videoroom": "janus.plugin.videoroom"}
REQUEST_TIMEOUT = 10.0
EVENT_TIMEOUT = 15.0
"""Seconds an asynchronous request (a join, a watch) may take to answer with its event."""
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0)
"""Seconds before starting a dead Janus again, growing while it keeps dying."""


class JanusError(RoomscribeError):
    """Janus refused a request (its error code and reason)."""

    def __init__(self, message: str, *, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


# The server process ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class JanusConfig:
    """What Roomscribe tells the Janus it runs, and how to reach it."""

    api_url: str
    api_secret: str
    admin_key: str
    """For the plugins: only holders may create rooms and mountpoints, and forward RTP."""


def find_janus() -> tuple[Path, Path] | None:
    """The janus binary and its library folder (plugins, transports), when installed."""
    binary = shutil.which("janus")
    if binary is None:
        return None
    for lib in (Path("/usr/lib/x86_64-linux-gnu/janus"), Path("/usr/lib/aarch64-linux-gnu/janus"),
                Path("/usr/lib/janus"), Path("/usr/local/lib/janus"), Path("/opt/janus/lib/janus")):
        if (lib / "plugins").is_dir():
            return Path(binary), lib
    return None


def render(template: str, values: dict[str, str]) -> str:
    """`{name}` placeholders filled; Janus's own braces (its sections) left alone."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


class JanusServer:
    """Janus as a child process, configured and kept running; see the module docstring."""

    def __init__(self, folder: Path, *, api_port: int, rtp_ports: str = "20000-40000",
                 public_ip: str | None = None) -> None:
        self.folder = folder
        self.api_port = api_port
        self.rtp_ports = rtp_ports
        self.public_ip = public_ip
        self.config = JanusConfig(api_url=f"http://127.0.0.1:{api_port}/janus",
                                  api_secret=secrets.token_urlsafe(24),
                                  admin_key=secrets.token_urlsafe(24))
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self.restarts = 0

    def write_config(self, janus_lib: Path) -> Path:
        etc = self.folder / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        nat = f'\tnat_1_1_mapping = "{self.public_ip}"' if self.public_ip else ""
        values = {
            "configs": str(etc), "plugins": str(janus_lib / "plugins"),
            "transports": str(janus_lib / "transports"), "events": str(janus_lib / "events"),
            "loggers": str(janus_lib / "loggers"), "api_secret": self.config.api_secret,
            "admin_secret": secrets.token_urlsafe(24), "admin_key": self.config.admin_key,
            "api_port": str(self.api_port), "api_ip": "127.0.0.1", "rtp_ports": self.rtp_ports,
            "nat_1_1": nat, "event_loops": str(max(1, os.cpu_count() or 1)),
        }
        for template in CONFIG_TEMPLATES.glob("*.jcfg"):
            target = etc / template.name
            target.write_text(render(template.read_text(), values))
            os.chmod(target, 0o600)  # it holds the secrets
        return etc

    async def start(self) -> None:
        found = find_janus()
        if found is None:
            raise Unavailable("the Janus media server is not installed (Debian package janus)")
        binary, lib = found
        etc = self.write_config(lib)
        self._task = asyncio.create_task(self._keep_running(binary, etc), name="janus")

    async def _keep_running(self, binary: Path, etc: Path) -> None:
        log_path = self.folder / "janus.log"
        while True:
            with log_path.open("ab") as out:
                self._proc = await asyncio.create_subprocess_exec(
                    str(binary), "--configs-folder", str(etc), "--config",
                    str(etc / "janus.jcfg"), "--disable-colors", "--log-stdout",
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            code = await self._proc.wait()
            delay = RESTART_DELAYS[min(self.restarts, len(RESTART_DELAYS) - 1)]
            self.restarts += 1
            log.warning("Janus exited with %s; starting it again in %.1f s (see %s)", code,
                        delay, log_path)
            await asyncio.sleep(delay)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None \
            else None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# The API ---------------------------------------------------------------------------------------

EventHandler = Callable[[int, dict[str, Any]], None]
"""Told of an event Janus sent for a handle on its own (hangup, webrtcup, a participant's news)."""


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    handle: int


@dataclass(slots=True)
class Janus:
    """The API client; see the module docstring. `start()` it, then `await ready()`."""

    config: JanusConfig
    on_event: EventHandler = field(default=lambda handle, event: None)
    on_change: Callable[[bool], Awaitable[None]] | None = None
    """Awaited with True when a (new) Janus answers, False when it stops answering."""
    up: bool = False
    _http: httpx.AsyncClient | None = None
    _session: int | None = None
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT)
        self._task = asyncio.create_task(self._run(), name="janus-events")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            if self._session is not None and self.up:
                with contextlib.suppress(Exception):
                    await self._post("", {"janus": "destroy"})
            await self._http.aclose()

    async def ready(self, within: float) -> bool:
        """Wait until Janus answers (True), or `within` seconds (False)."""
        try:
            await asyncio.wait_for(self._ready.wait(), within)
        except TimeoutError:
            return False
        return True

    # Requests

    async def attach(self, plugin: str) -> int:
        answer = await self._post(f"/{self._live_session()}",
                                  {"janus": "attach", "plugin": PLUGIN[plugin]})
        return int(answer["data"]["id"])

    async def detach(self, handle: int) -> None:
        with contextlib.suppress(JanusError, httpx.HTTPError, Unavailable):
            await self._post(f"/{self._live_session()}/{handle}", {"janus": "detach"})

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request (create, destroy, mute, rtp_forward…): its answer."""
        answer = await self._post(f"/{self._live_session()}/{handle}",
                                  {"janus": "message", "body": body})
        return _plugin_data(answer)

    async def call(self, handle: int, body: dict[str, Any],
                   jsep: dict[str, Any] | None = None) -> tuple[dict[str, Any],
                                                                dict[str, Any] | None]:
        """An asynchronous plugin request (join, watch, start): the event that answers it, and
        its SDP when it carries one."""
        transaction = secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future(), handle)
        self._pending[transaction] = pending
        message: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            await self._post(f"/{self._live_session()}/{handle}", message,
                             transaction=transaction)
            event = await asyncio.wait_for(pending.future, EVENT_TIMEOUT)
        except TimeoutError:
            raise Unavailable("the media server did not answer in time", retry_after=5) from None
        finally:
            self._pending.pop(transaction, None)
        return _plugin_data(event), event.get("jsep")

    def _live_session(self) -> int:
        if not self.up or self._session is None:
            raise Unavailable("live audio is unavailable: the media server is not running",
                              retry_after=5)
        return self._session

    async def _post(self, path: str, message: dict[str, Any], *,
                    transaction: str | None = None) -> dict[str, Any]:
        assert self._http is not None
        body = {**message, "transaction": transaction or secrets.token_hex(8),
                "apisecret": self.config.api_secret}
        response = await self._http.post(self.config.api_url + path, json=body)
        answer: dict[str, Any] = response.json()
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise JanusError(f"media server: {error.get('reason', 'error')}",
                             code=int(error.get("code", 0)))
        return answer

    # The session and its events

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                answer = await self._post("", {"janus": "create"})
                self._session = int(answer["data"]["id"])
            except (httpx.HTTPError, JanusError, ValueError, KeyError):
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                continue
            delay = 0.2
            await self._changed(True)
            try:
                await self._poll()
            except (httpx.HTTPError, JanusError, ValueError) as err:
                log.warning("the media server stopped answering: %s", err)
            await self._changed(False)

    async def _changed(self, up: bool) -> None:
        self.up = up
        if up:
            self._ready.set()
        else:
            self._ready.clear()
            self._session = None
            for pending in list(self._pending.values()):
                if not pending.future.done():
                    pending.future.set_exception(
                        Unavailable("the media server went away", retry_after=5))
        if self.on_change is not None:
            try:
                await self.on_change(up)
            except Exception:
                log.exception("reacting to the media server going %s failed",
                              "up" if up else "down")

    async def _poll(self) -> None:
        assert self._http is not None and self._session is not None
        url = f"{self.config.api_url}/{self._session}"
        params = {"maxev": "20", "apisecret": self.config.api_secret}
        while True:
            response = await self._http.get(url, params=params, timeout=45.0)
            batch = response.json()
            for event in batch if isinstance(batch, list) else [batch]:
                if event.get("janus") == "error":
                    raise JanusError(f"media server session lost: {event.get('error')}")
                self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        pending = self._pending.get(str(event.get("transaction", "")))
        if kind == "event" and pending is not None and not pending.future.done():
            pending.future.set_result(event)
            return
        handle = int(event.get("sender", 0))
        try:
            self.on_event(handle, event)
        except Exception:
            log.exception("handling a media server event failed")


def _plugin_data(answer: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = answer.get("plugindata", {}).get("data", {})
    if "error" in data:
        raise JanusError(f"media server: {data['error']}", code=int(data.get("error_code", 0)))
    return data
