"""One open socket in a live room, and how it ends.

WebSocket close codes, shared by the audio and caption sockets. Refusals mirror the REST API:
4000 + the HTTP status the same refusal gets there.

    4000  room ended (the host ended it)
    4001  replaced: the same speaker opened a newer audio connection
    4002  removed from the room by a host or co-host
    4003  blocked from the room by a host or co-host
    4004  no longer a speaker (revoked or demoted)
    4008  too slow: fell more than SUBSCRIBER_BACKLOG events behind
    4400  bad frame: text, empty, odd length, short before the last, or an audio container
    4401  not signed in, or an unknown or expired token
    4403  not allowed: not a speaker (audio), blocked (captions)
    4404  unknown room
    4409  room not live (scheduled, ended or cancelled)
    4413  frame longer than 200 ms
    4429  over a limit: audio faster than real time, too many connections from one account or
          address, too many microphones for one account
    4503  live captions unavailable (the speech model could not load, or captions cannot keep
          up with this speaker: too much audio not yet heard)
    1011  unexpected server error on this connection; the room and other streams carry on
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from roomscribe.errors import RoomscribeError


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


ENDED = Close(4000, "room ended")
REPLACED = Close(4001, "replaced by a newer audio connection")
REMOVED = Close(4002, "removed from the room")
BLOCKED = Close(4003, "blocked from the room")
REVOKED = Close(4004, "no longer a speaker")
TOO_SLOW = Close(4008, "too slow: fell too far behind the room's events")
LEFT = Close(1000, "client left")
SHUTDOWN = Close(1001, "server shutting down")
INTERNAL = Close(1011, "unexpected server error")


def close_for(err: RoomscribeError) -> Close:
    return Close(4000 + int(err.status), str(err) or type(err).__name__)


class Connection:
    """One open socket in a live room, and the way to end it from anywhere: a host action, the
    end of the room, a full backlog, or the client leaving."""

    def __init__(self, *, account_id: int | None, address: str | None = None) -> None:
        self.account_id = account_id
        self.address = address
        """The client's address, which connection limits count by (None: not limited)."""
        self._muted = False
        self._on_mute: list[Callable[[bool], None]] = []
        self._language: str | None = None
        self._on_language: list[Callable[[str], None]] = []
        self._stop: asyncio.Future[Close] = asyncio.get_running_loop().create_future()
        self._on_stop: list[Callable[[], None]] = []
        self.finished = asyncio.Event()
        """Set by the socket's owner once its cleanup (flushing captions) is complete."""

    def stop(self, close: Close) -> None:
        """Ask the connection to end; the first reason given wins."""
        if self._stop.done():
            return
        self._stop.set_result(close)
        for callback in self._on_stop:
            callback()

    @property
    def muted(self) -> bool:
        """A speaker's connection whose audio must reach no one (they or a moderator muted)."""
        return self._muted

    @muted.setter
    def muted(self, muted: bool) -> None:
        if muted != self._muted:
            self._muted = muted
            for callback in list(self._on_mute):
                callback(muted)

    def on_mute(self, callback: Callable[[bool], None]) -> None:
        """Be told each time the connection is muted or unmuted."""
        self._on_mute.append(callback)

    @property
    def language(self) -> str | None:
        """What a speaker's connection is heard as, once they or a moderator set it."""
        return self._language

    @language.setter
    def language(self, language: str) -> None:
        if language != self._language:
            self._language = language
            for callback in list(self._on_language):
                callback(language)

    def on_language(self, callback: Callable[[str], None]) -> None:
        """Be told each time the speaker's language is set."""
        self._on_language.append(callback)

    def on_stop(self, callback: Callable[[], None]) -> None:
        if self._stop.done():
            callback()
        else:
            self._on_stop.append(callback)

    @property
    def stopping(self) -> bool:
        return self._stop.done()

    async def stopped(self) -> Close:
        return await asyncio.shield(self._stop)

