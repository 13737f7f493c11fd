"""Keeping every web process's copy of the search index in step (the scale-out profile).

The index is a whoosh folder per process. Each write one process makes (live finals added, a
room reindexed, a room deleted or purged) is announced on a Redis channel, and every other
process makes the same write to its own copy, reading the rows from the shared database (the
announcement carries only what changed, never the text). So search is answered by whichever
process a request reaches, and a purge empties every copy, as retention requires.

Redis pub/sub keeps nothing for a process that is not listening: a process that (re)starts
reconciles its copy with the database (`ArchiveService.reconcile`, segment by segment when copies
are shared), and so does one whose subscription broke, once it is back. Purges are announced
from retention's thread (`announce_blocking`); everything else from the event loop.

- `NoReplication`: one process (the embedded profile).
- `RedisReplication`: the channel `{prefix}:archive`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

if TYPE_CHECKING:
    import redis
    from redis.asyncio import Redis

    from roomscribe.config import Settings

log = logging.getLogger(__name__)

Op = Literal["live", "room", "delete", "purge"]
"""live: finals added (their live positions); room: reindexed from the database; delete,
purge: the room's segments removed."""

RETRY_AFTER = 1.0
"""Seconds before following again after the subscription broke."""


class Change(msgspec.Struct, frozen=True):
    origin: str
    op: Op
    room: str
    positions: list[int] = []


class Follower(Protocol):
    """What applies another process's change to this process's copy (`ArchiveService`)."""

    async def apply(self, change: Change) -> None: ...

    async def reconcile(self) -> object: ...


class Replication(Protocol):
    async def announce(self, op: Op, room: str, positions: Sequence[int] = ()) -> None:
        """Tell the other processes of a write made to this process's copy."""

    def announce_blocking(self, op: Op, room: str) -> None:
        """The same, from a worker thread."""

    async def follow(self, follower: Follower) -> None:
        """Apply the other processes' writes until cancelled."""

    @property
    def shared(self) -> bool:
        """Other processes keep copies of the index."""

    async def close(self) -> None: ...

    def close_blocking(self) -> None:
        """`close` for an operator command, which announced from its own thread."""


def replication_for(settings: Settings) -> Replication:
    """Through Redis when `ROOMSCRIBE_REDIS_URL` is set (every process then keeps a copy)."""
    if settings.redis_url is None:
        return NoReplication()
    return RedisReplication.from_url(settings.redis_url)


class NoReplication:
    shared = False

    async def announce(self, op: Op, room: str, positions: Sequence[int] = ()) -> None:
        return None

    def announce_blocking(self, op: Op, room: str) -> None:
        return None

    async def follow(self, follower: Follower) -> None:
        return None

    async def close(self) -> None:
        return None

    def close_blocking(self) -> None:
        return None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Change).decode


class RedisReplication:
    shared = True

    def __init__(self, client: Redis, blocking: Callable[[], redis.Redis], *,
                 prefix: str = "roomscribe", retry_after: float = RETRY_AFTER) -> None:
        self.client = client
        self._blocking_factory = blocking
        self._blocking: redis.Redis | None = None
        self.channel = f"{prefix}:archive"
        self.origin = secrets.token_hex(4)
        self.retry_after = retry_after
        self.listening = asyncio.Event()
        """Set while subscribed (tests wait for it)."""

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "roomscribe") -> RedisReplication:
        import redis as sync_redis

        from roomscribe.redis_pool import redis_client

        return cls(redis_client(url), lambda: sync_redis.Redis.from_url(url), prefix=prefix)

    def _message(self, op: Op, room: str, positions: Sequence[int]) -> bytes:
        return _encode(Change(self.origin, op, room, list(positions)))

    async def announce(self, op: Op, room: str, positions: Sequence[int] = ()) -> None:
        try:
            await self.client.publish(self.channel, self._message(op, room, positions))
        except Exception:  # the others' copies catch up when they next reconcile
            log.warning("announcing an index change of room %s failed", room, exc_info=True)

    def announce_blocking(self, op: Op, room: str) -> None:
        if self._blocking is None:
            self._blocking = self._blocking_factory()
        try:
            self._blocking.publish(self.channel, self._message(op, room, ()))
        except Exception:
            log.warning("announcing an index change of room %s failed", room, exc_info=True)

    async def follow(self, follower: Follower) -> None:
        broke = False
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.listening.set()
                    if broke:  # changes announced meanwhile were missed
                        await follower.reconcile()
                    async for message in pubsub.listen():
                        if message["type"] != "message":
                            continue
                        change = _decode(message["data"])
                        if change.origin != self.origin:
                            await self._apply(follower, change)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("following the index changes broke; following again",
                            exc_info=True)
            self.listening.clear()
            broke = True
            await asyncio.sleep(self.retry_after)

    @staticmethod
    async def _apply(follower: Follower, change: Change) -> None:
        try:
            await follower.apply(change)
        except Exception:  # one change failed: this copy is fixed at its next reconcile
            log.exception("applying an index change of room %s failed", change.room)

    async def close(self) -> None:
        await self.client.aclose()
        self.close_blocking()

    def close_blocking(self) -> None:
        if self._blocking is not None:
            self._blocking.close()
            self._blocking = None

