"""The in-memory side of one live room: who holds a voice, who is present, pins, recent finals.

Everything a listener sees travels on the room's channel (`rooms.live_rooms`) as one JSON text
message with a `type`:

    partial, final   caption events, exactly `CaptionEvent.to_json()` (roomscribe.captions.events)
    room             {"room", "state", "title", "record", "captions_public", "epoch"}
    roster           {"room", "voices": [{"id", "name", "role", "muted", "language", "heard",
                                      "streaming"}],
                      "listeners": [{"id", "name"}] (at most 100), "listener_count", "anonymous"}
    reaction         {"room", "emoji", "from": {"id", "name"}}
    pins             {"room", "pins": [{"id", "url", "title", "pinned_at"}]}

A joiner first receives the current `room`, `roster` and `pins`, then the finals of the last two
minutes, then the live stream. Caption `seq` numbers come from `captions.numbering` (memory, or
Redis shared by every web process) and may count from 0 again (a restarted server), so the `room`
event carries that numbering's `epoch`: a client that sees a new epoch forgets the numbers it has
seen instead of dropping new captions as repeats.
Pins (kept by `rooms.board`, shared by every web process), reactions and that history are gone
when the room ends and never archived.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from roomscribe.rooms.board import Audience, Listener, Pin, Presence
from roomscribe.rooms.connection import Connection
from roomscribe.rooms.outlet import Outlet
from roomscribe.rooms.tables import Role, RoomState

HISTORY_SECONDS = 120.0
"""How far back a joiner's history of finals goes."""
ROSTER_LISTENERS = 100
"""Listeners named in a roster event; the rest are counted."""


@dataclass(slots=True)
class Voice:
    """Someone holding a voice role (host, co-host, speaker), as the roster shows them."""

    handle: str
    name: str
    role: Role
    muted: bool = False
    language: str | None = None
    """Set by them or a moderator (`Member.language`); None: the room's, or detected."""


@dataclass(frozen=True, slots=True)
class Attendee:
    account_id: int
    handle: str
    name: str


@dataclass(slots=True)
class LiveRoom:
    """The in-memory side of one live room."""

    id: str
    title: str
    record: bool
    captions_public: bool
    started_at: datetime
    voices: dict[int, Voice]
    blocked: set[int] = field(default_factory=set)
    """Accounts blocked from the room: no socket of theirs is admitted."""
    state: RoomState = RoomState.LIVE
    pins: list[Pin] = field(default_factory=list)
    """This process's copy of the room's pins (`rooms.board` holds them), for joiners."""
    heard: dict[str, str] = field(default_factory=dict)
    """The language each voice's captions (as spoken) were last in, by handle: what detection
    found, shown so a moderator can correct it."""
    connections: set[Connection] = field(default_factory=set)
    audio: dict[int, Connection] = field(default_factory=dict)
    hearing: set[Connection] = field(default_factory=set)
    """Media sockets (live audio): closed by a removal, a block or the end like the others,
    but not counted in the roster (their caption socket is)."""
    present: dict[int, tuple[Attendee, int]] = field(default_factory=dict)
    """Signed-in accounts with caption connections open, and how many each has open."""
    anonymous: int = 0
    finals: deque[tuple[float, int, bytes]] = field(default_factory=deque)
    """(published at, seq, JSON) of recent finals, in the order they arrived, for late joiners."""
    final_seqs: set[int] = field(default_factory=set)
    """The `seq` of each final in `finals`."""
    roster_task: asyncio.Task[None] | None = None
    roster: bytes | None = None
    """The latest roster event on the room's channel (shared rooms: it counts every process's
    audience, where this process alone knows only its own), for joiners."""
    outlets: dict[Connection, tuple[Outlet, int]] = field(default_factory=dict)
    """WebSocket listeners (`LiveRooms.listen`), each with the last caption `seq` its history
    held: the feed skips captions up to it."""
    feed: asyncio.Future[None] | None = None
    """Resolved once the room's feed is subscribed to its channel."""
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    """Names this run of the room's caption numbering (see the module docstring)."""

    @property
    def channel(self) -> str:
        return f"room:{self.id}"

    def room_time(self) -> float:
        """Seconds since the room started: the time base of every caption."""
        return max(0.0, (datetime.now(UTC) - self.started_at).total_seconds())

    def room_event(self) -> dict[str, Any]:
        return {"type": "room", "room": self.id, "state": str(self.state), "title": self.title,
                "record": self.record, "captions_public": self.captions_public,
                "epoch": self.epoch}

    def roster_event(self, audience: Audience | None = None) -> dict[str, Any]:
        """Who is in the room: this process's view, or every process's `audience` merged."""
        rank = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2}
        voices = sorted(self.voices.items(), key=lambda kv: (rank.get(kv[1].role, 3), kv[1].name))
        if audience is None:
            audience = Audience.merge([self.presence()], named=ROSTER_LISTENERS)
        return {
            "type": "roster", "room": self.id,
            "voices": [{"id": v.handle, "name": v.name, "role": str(v.role), "muted": v.muted,
                        "language": v.language, "heard": self.heard.get(v.handle),
                        "streaming": v.handle in audience.streaming}
                       for _, v in voices],
            "listeners": [{"id": who.id, "name": who.name} for who in audience.listeners],
            "listener_count": audience.listener_count,
            "anonymous": audience.anonymous,
        }

    def presence(self) -> Presence:
        """Who this process holds in the room (listeners who hold a voice are not listed)."""
        listeners = sorted((who for who, _ in self.present.values()
                            if who.account_id not in self.voices), key=lambda w: w.name)
        return Presence(
            listeners=[Listener(w.handle, w.name) for w in listeners[:ROSTER_LISTENERS]],
            listener_count=len(listeners), anonymous=self.anonymous,
            streaming=[self.voices[a].handle for a in self.audio if a in self.voices])

    def pins_event(self) -> dict[str, Any]:
        return {"type": "pins", "room": self.id, "pins": [p.to_json() for p in self.pins]}

    def remember_final(self, now: float, seq: int, data: bytes) -> bool:
        """Keep a final for joiners; False if it was already kept (it arrives once as published
        here and once more through the channel, and a history read may repeat it)."""
        if seq in self.final_seqs:
            return False
        self.finals.append((now, seq, data))
        self.final_seqs.add(seq)
        self._forget_before(now - HISTORY_SECONDS)
        return True

    def recent_finals(self, now: float) -> list[tuple[int, bytes]]:
        self._forget_before(now - HISTORY_SECONDS)
        # By `seq`: finals read from the channel's history may have arrived after newer ones.
        return sorted((seq, data) for _, seq, data in self.finals)

    def _forget_before(self, cutoff: float) -> None:
        while self.finals and self.finals[0][0] < cutoff:
            self.final_seqs.discard(self.finals.popleft()[1])

