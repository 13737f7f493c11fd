"""Rate limits on what a stranger can make expensive: sign-in, sign-up, search.

Counted with the `limits` library (a moving window per key), in the storage its URL names:
`memory://` keeps the counts in this process; `redis://HOST` shares them between processes.
Services call `hit`; a key over its limit is refused with `RateLimited`, whose `Retry-After`
says when the oldest counted attempt leaves the window.
"""

from __future__ import annotations

import time

from limits import RateLimitItem, parse, storage, strategies

from roomscribe.errors import RateLimited


class RateLimiter:
    def __init__(self, storage_url: str = "memory://") -> None:
        self._limiter = strategies.MovingWindowRateLimiter(
            storage.storage_from_string(storage_url))

    def hit(self, limit: str, *key: str, what: str) -> None:
        """Count one attempt of `key` against `limit` ("20/minute"), or refuse it."""
        item = parse(limit)
        if not self._limiter.hit(item, *key):
            self._refuse(item, key, what)

    def check(self, limit: str, *key: str, what: str) -> None:
        """Refuse if `key` is over `limit` already, without counting an attempt."""
        item = parse(limit)
        if not self._limiter.test(item, *key):
            self._refuse(item, key, what)

    def _refuse(self, item: RateLimitItem, key: tuple[str, ...], what: str) -> None:
        reset, _ = self._limiter.get_window_stats(item, *key)
        wait = max(1.0, reset - time.time())
        raise RateLimited(f"too many {what}; try again in {wait:.0f} seconds", retry_after=wait)
