"""The room board on a real Redis (started by the test): what several web processes share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from roomscribe.redis_pool import redis_client
from roomscribe.rooms.board import Audience, Listener, Presence, RedisBoard


@pytest.fixture
async def boards(redis_url: str) -> AsyncIterator[tuple[RedisBoard, RedisBoard]]:
    """Two processes' boards on one Redis."""
    one = RedisBoard(redis_client(redis_url), presence_ttl=0.5)
    two = RedisBoard(redis_client(redis_url), presence_ttl=0.5)
    yield one, two
    await one.close()
    await two.close()


async def test_pins_at_once_from_two_processes_stay_within_the_limit(
        boards: tuple[RedisBoard, RedisBoard]) -> None:
    one, two = boards
    pinned = await asyncio.gather(*(board.pin("r1", f"https://x.org/{i}", f"link {i}", limit=5)
                                    for i, board in enumerate([one, two] * 10)))
    made = [p for p in pinned if p is not None]
    assert len(made) == 5 and sorted(p.id for p in made) == [1, 2, 3, 4, 5]
    listed = await two.pins("r1")
    assert listed == sorted(made, key=lambda p: p.id)  # the same pins, times included
    assert await one.unpin("r1", 3) and not await two.unpin("r1", 3)
    assert [p.id for p in await two.pins("r1")] == [1, 2, 4, 5]
    assert (await one.pin("r1", "https://x.org/n", "", limit=5)).id == 6  # ids never reused
    assert await one.pins("other") == []
    await two.forget("r1")
    assert await one.pins("r1") == []
    assert not await one.redis.keys("roomscribe:room:r1:*")


async def test_presence_counts_every_live_process_and_forgets_a_dead_one(
        boards: tuple[RedisBoard, RedisBoard]) -> None:
    one, two = boards
    await one.present("r2", "a", Presence(listeners=[Listener("zed", "Zed")], listener_count=1,
                                          anonymous=2, streaming=["ada"]))
    entries = await two.present("r2", "b", Presence(
        listeners=[Listener("amy", "Amy"), Listener("zed", "Zed")], listener_count=2,
        anonymous=1))
    audience = Audience.merge(entries, named=100)
    assert [w.id for w in audience.listeners] == ["amy", "zed"]
    assert (audience.listener_count, audience.anonymous) == (3, 3)
    assert audience.streaming == {"ada"}
    # "a" stops refreshing (its process died): after the time to live, "b" counts alone.
    await asyncio.sleep(0.6)
    entries = await two.present("r2", "b", Presence(listener_count=1))
    assert [e.listener_count for e in entries] == [1]
    assert await one.redis.hkeys("roomscribe:room:r2:presence") == [b"b"]

