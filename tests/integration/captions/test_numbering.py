"""Caption numbering in memory and in Redis (a real server the test starts): gapless per room,
shared by every process on Redis, and a new epoch whenever the count starts again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from roomscribe.captions.numbering import MemoryNumbering, RedisNumbering
from roomscribe.redis_pool import redis_client


@pytest.fixture
async def processes(redis_url: str) -> AsyncIterator[list[RedisNumbering]]:
    """Two web processes' numberings: separate clients of one Redis."""
    numberings = [RedisNumbering(redis_client(redis_url), prefix="test") for _ in range(2)]
    await numberings[0].redis.flushdb()
    yield numberings
    for numbering in numberings:
        await numbering.close()


async def test_memory_counts_per_room_and_starts_anew_after_forget() -> None:
    numbering = MemoryNumbering()
    assert [await numbering.next("r1") for _ in range(3)] == [0, 1, 2]
    assert await numbering.next("r2") == 0
    epoch = await numbering.epoch("r1")
    assert await numbering.epoch("r1") == epoch
    numbering.forget("r1")
    assert await numbering.next("r1") == 0
    assert await numbering.epoch("r1") != epoch


async def test_processes_sharing_redis_never_reuse_a_number(
        processes: list[RedisNumbering]) -> None:
    a, b = processes
    taken = await asyncio.gather(*(p.next("room") for _ in range(200) for p in (a, b)))
    assert sorted(taken) == list(range(400))
    assert await a.next("other") == 0
    assert await a.epoch("room") == await b.epoch("room")


async def test_a_redis_that_lost_its_data_gives_a_new_epoch(
        processes: list[RedisNumbering]) -> None:
    a, b = processes
    epoch = await a.epoch("room")
    await a.next("room")
    await a.redis.flushdb()  # what a Redis restarted without persistence looks like
    assert await b.next("room") == 0
    assert await b.epoch("room") != epoch
