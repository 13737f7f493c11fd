"""Caption `seq` numbers: each room's events are numbered 0, 1, 2, … across all its speakers'
streams, and across web processes when they share Redis.

A listener's client skips a final whose `seq` it has already shown (a reconnect replays the
recent ones), so two events of one room must never share a number, wherever their speakers
are connected. A numbering that starts again from 0 (a restarted process, a Redis that lost its
data) comes with a new `epoch`, sent in the `room` event, so clients forget the numbers they
saw instead of dropping new captions as repeats.

- `MemoryNumbering`: one process (the embedded profile); counts live as long as the process.
- `RedisNumbering`: an atomic `INCR` per event and one shared epoch per room, so every process
  agrees; the keys expire a while after the room's last event rather than being deleted, since
  no single process knows when the others are done with a room.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEEP = timedelta(hours=13)
"""How long a room's shared numbering outlives its last event (rooms run at most 12 hours)."""


class Numbering(Protocol):
    async def next(self, room: str) -> int:
        """The room's next number."""

    async def epoch(self, room: str) -> str:
        """Names the room's current numbering; changes whenever it restarts from 0."""

    def forget(self, room: str) -> None:
        """The room has ended: what was kept for it may go."""

    async def close(self) -> None:
        """The application is stopping."""


def _new_epoch() -> str:
    return secrets.token_hex(4)


class MemoryNumbering:
    """Counts in this process: a room's count outlives its streams (a speaker who mutes and
    unmutes gets a new stream), until `forget`."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._epochs: dict[str, str] = {}

    async def next(self, room: str) -> int:
        seq = self._next.get(room, 0)
        self._next[room] = seq + 1
        return seq

    async def epoch(self, room: str) -> str:
        return self._epochs.setdefault(room, _new_epoch())

    def forget(self, room: str) -> None:
        self._next.pop(room, None)
        self._epochs.pop(room, None)

    async def close(self) -> None:
        pass


class RedisNumbering:
    """Counts in Redis, shared by every process of the deployment."""

    def __init__(self, redis: Redis, *, prefix: str = "roomscribe", keep: timedelta = KEEP) -> None:
        self.redis = redis
        self.prefix = prefix
        self.keep = keep

    async def next(self, room: str) -> int:
        key = f"{self.prefix}:seq:{room}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.keep)
            pipe.expire(f"{self.prefix}:epoch:{room}", self.keep)
            count, *_ = await pipe.execute()
        return int(count) - 1

    async def epoch(self, room: str) -> str:
        # The epoch is set once (NX); if Redis lost it, it lost the count too, and the
        # fresh epoch set here tells clients so.
        key = f"{self.prefix}:epoch:{room}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, _new_epoch(), nx=True, ex=self.keep)
            pipe.get(key)
            _, value = await pipe.execute()
        return value.decode() if isinstance(value, bytes) else str(value)

    def forget(self, room: str) -> None:
        pass  # the keys expire; another process may still be delivering the room's last events

    async def close(self) -> None:
        await self.redis.aclose()
