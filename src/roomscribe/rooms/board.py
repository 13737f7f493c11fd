"""The live state of a room that every web process serving it must agree on: its pins and who
is present where.

- `MemoryBoard`: one process (the embedded profile).
- `RedisBoard`: shared through Redis, so a room's listeners and speakers may be spread over
  web processes. Pins are a hash per room, added by one script so that two hosts pinning at once
  never pass the limit or share an id. Presence is one entry per web process per room (its
  listeners, its speakers' open microphones), stamped with the time it was written: a process
  that dies stops refreshing its entry, and the others leave it out once it is PRESENCE_TTL old.

The keys expire a while after their last write rather than being deleted by one process, as
`captions.numbering`'s do; `forget` (the room ended) deletes them at once.

(Who holds a voice and who is muted are mirrored by `rooms.live_rooms` as they change, since each
process must also act on them: close the sockets it holds. The rate limits, reactions' included,
count in `ratelimit`'s storage, Redis when there is one.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEEP = timedelta(hours=13)
"""How long a room's shared state outlives its last write (rooms run at most 12 hours)."""
PRESENCE_TTL = 30.0
"""A process's presence older than this is left out: the process has died (each live process
refreshes its entries every PRESENCE_REFRESH seconds, `rooms.live_rooms`)."""
PRESENCE_REFRESH = 10.0


@dataclass(frozen=True, slots=True)
class Pin:
    id: int
    url: str
    title: str
    pinned_at: datetime

    def to_json(self) -> dict[str, Any]:
        # The same form as the REST API's datetimes (pydantic writes UTC as "Z").
        return {"id": self.id, "url": self.url, "title": self.title,
                "pinned_at": self.pinned_at.isoformat().replace("+00:00", "Z")}


class Listener(msgspec.Struct, frozen=True):
    id: str
    name: str


class Presence(msgspec.Struct):
    """Who one web process holds in a room."""

    listeners: list[Listener] = []
    """Signed-in listeners by name, at most `live_room.ROSTER_LISTENERS`."""
    listener_count: int = 0
    anonymous: int = 0
    streaming: list[str] = []
    """Handles of the speakers whose microphones are open on that process."""
    at: float = 0.0
    """When it was written (seconds since the epoch)."""


@dataclass(frozen=True, slots=True)
class Audience:
    """Every process's presence in a room, merged. A listener connected to two processes at
    once is counted by each (as two tabs on one process are not): counts stay additive."""

    listeners: list[Listener]
    listener_count: int
    anonymous: int
    streaming: frozenset[str]

    @classmethod
    def merge(cls, entries: list[Presence], *, named: int) -> Audience:
        listeners = {who.id: who for entry in entries for who in entry.listeners}
        return cls(listeners=sorted(listeners.values(), key=lambda w: w.name)[:named],
                   listener_count=sum(e.listener_count for e in entries),
                   anonymous=sum(e.anonymous for e in entries),
                   streaming=frozenset(h for e in entries for h in e.streaming))


class Board(Protocol):
    async def pins(self, room: str) -> list[Pin]:
        """The room's pins, oldest first."""

    async def pin(self, room: str, url: str, title: str, *, limit: int) -> Pin | None:
        """Pin a link, or None when `limit` links are pinned already."""

    async def unpin(self, room: str, pin_id: int) -> bool:
        """False when there was no such pin."""

    async def present(self, room: str, origin: str, presence: Presence) -> list[Presence]:
        """Record who process `origin` holds in the room; every live process's entry."""

    async def forget(self, room: str) -> None:
        """The room has ended."""

    async def close(self) -> None:
        """The application is stopping."""


class MemoryBoard:
    def __init__(self) -> None:
        self._pins: dict[str, list[Pin]] = {}
        self._next: dict[str, int] = {}

    async def pins(self, room: str) -> list[Pin]:
        return list(self._pins.get(room, []))

    async def pin(self, room: str, url: str, title: str, *, limit: int) -> Pin | None:
        pins = self._pins.setdefault(room, [])
        if len(pins) >= limit:
            return None
        pin_id = self._next.get(room, 0) + 1
        self._next[room] = pin_id
        pin = Pin(id=pin_id, url=url, title=title, pinned_at=datetime.now(UTC))
        pins.append(pin)
        return pin

    async def unpin(self, room: str, pin_id: int) -> bool:
        pins = self._pins.get(room, [])
        kept = [p for p in pins if p.id != pin_id]
        self._pins[room] = kept
        return len(kept) < len(pins)

    async def present(self, room: str, origin: str, presence: Presence) -> list[Presence]:
        return [presence]

    async def forget(self, room: str) -> None:
        self._pins.pop(room, None)
        self._next.pop(room, None)

    async def close(self) -> None:
        pass


class _StoredPin(msgspec.Struct):
    url: str
    title: str
    pinned_at: str


# Checks the limit, takes the next id and stores the pin in one step, so two hosts pinning
# at once through two processes can neither pass the limit nor share an id.
_PIN = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end
local id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], id, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return id
"""

_encode = msgspec.json.Encoder().encode
_decode_pin = msgspec.json.Decoder(_StoredPin).decode
_decode_presence = msgspec.json.Decoder(Presence).decode


class RedisBoard:
    def __init__(self, redis: Redis, *, prefix: str = "roomscribe", keep: timedelta = KEEP,
                 presence_ttl: float = PRESENCE_TTL) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keep = keep
        self.presence_ttl = presence_ttl
        self._pin = redis.register_script(_PIN)

    def _keys(self, room: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:room:{room}"
        return f"{base}:pins", f"{base}:pin-id", f"{base}:presence"

    async def pins(self, room: str) -> list[Pin]:
        stored = await self.redis.hgetall(self._keys(room)[0])
        pins = []
        for key, value in stored.items():
            pin = _decode_pin(value)
            pins.append(Pin(id=int(key), url=pin.url, title=pin.title,
                            pinned_at=datetime.fromisoformat(pin.pinned_at)))
        return sorted(pins, key=lambda p: p.id)

    async def pin(self, room: str, url: str, title: str, *, limit: int) -> Pin | None:
        pins, next_id, _ = self._keys(room)
        now = datetime.now(UTC)
        stored = _encode(_StoredPin(url=url, title=title, pinned_at=now.isoformat()))
        pin_id = int(await self._pin(keys=[pins, next_id],
                                     args=[limit, stored, int(self.keep.total_seconds() * 1000)]))
        return None if pin_id < 0 else Pin(id=pin_id, url=url, title=title, pinned_at=now)

    async def unpin(self, room: str, pin_id: int) -> bool:
        return bool(await self.redis.hdel(self._keys(room)[0], str(pin_id)))

    async def present(self, room: str, origin: str, presence: Presence) -> list[Presence]:
        key = self._keys(room)[2]
        presence.at = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, origin, _encode(presence))
            pipe.expire(key, self.keep)
            pipe.hgetall(key)
            *_, stored = await pipe.execute()
        entries, dead = [], []
        for field, value in stored.items():
            entry = _decode_presence(value)
            if presence.at - entry.at > self.presence_ttl:
                dead.append(field)
            else:
                entries.append(entry)
        if dead:
            await self.redis.hdel(key, *dead)
        return entries

    async def forget(self, room: str) -> None:
        await self.redis.delete(*self._keys(room))

    async def close(self) -> None:
        await self.redis.aclose()
