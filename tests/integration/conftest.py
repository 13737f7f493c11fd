from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.servers import have_redis, redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis server of the module's own (Debian's redis-server, on a loopback port)."""
    if not have_redis():
        pytest.fail("redis-server is not installed: scripts/test installs it (as root)")
    with redis() as url:
        yield url
