"""Redis clients, made one way for every part that uses Redis (channels, caption numbering,
ASR jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_CONNECTIONS = 64
"""Connections each Redis client of a process may open (channels, numbering)."""


def redis_client(url: str) -> Redis:
    """A client whose callers wait for a free connection: redis-py's default pool raises "Too
    many connections" past 100 in use, which a busy process's rooms reach at once."""
    from redis.asyncio import BlockingConnectionPool, Redis

    # from_pool: closing the client closes its pool too.
    return Redis.from_pool(BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=10))
