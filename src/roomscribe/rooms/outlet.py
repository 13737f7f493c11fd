"""One listener's socket as a room's fan-out sees it: each send started on the spot, a bounded
backlog only while the socket is slow.

A room's events reach thousands of listeners. Giving each its own queue and task, as a channel
subscriber per listener does, costs a queue put, a task wake-up and a trip round the event loop
per listener per event: about half the CPU of a delivery (profiled with scripts/bench_fanout.py).
Here the room's one feed calls `offer` on every outlet in turn, and the send runs right there up
to its first real wait. A socket that can take the bytes (nearly every one, nearly always) never
waits, so the send is done before `offer` returns, with no task at all. One that must wait (the
client reads slowly, the kernel buffer is full) gets a task that finishes that send and then
works through a backlog; past `limit` unsent events the outlet gives up on it (`on_overflow`)
rather than hold memory or anyone else's captions.
"""

from __future__ import annotations

import asyncio
import types
from collections import deque
from collections.abc import Callable, Coroutine, Generator, Iterable
from typing import Any

Send = Callable[[bytes], Coroutine[Any, Any, None]]


class Outlet:
    """Sends events to one listener in order; see the module docstring."""

    def __init__(self, send: Send, *, limit: int, on_last: Callable[[], None],
                 on_error: Callable[[Exception], None], on_overflow: Callable[[], None]) -> None:
        self._send = send
        self._limit = limit
        self._on_last = on_last
        self._on_error = on_error
        self._on_overflow = on_overflow
        self._backlog: deque[tuple[bytes, bool]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._owed = 0
        """How many of the backlog's first items were primed: they do not count to `limit`."""

    @property
    def backlog(self) -> int:
        """Events offered and not yet sent."""
        return len(self._backlog)

    def prime(self, items: Iterable[bytes]) -> None:
        """Queue what a joiner is owed first (the room as it is, recent captions), whatever its
        length, to be sent before anything offered later. Call it before any `offer`."""
        before = len(self._backlog)
        self._backlog.extend((data, False) for data in items)
        self._owed += len(self._backlog) - before
        if self._task is None and self._backlog and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._drain(None, False))

    def offer(self, data: bytes, *, last: bool = False) -> None:
        """Send `data` now if the socket takes it, else after what is already waiting. `last`:
        nothing follows it; once it is sent, `on_last` is called."""
        if self._closed:
            return
        if self._task is not None:
            if len(self._backlog) - self._owed >= self._limit:
                self.close()
                self._on_overflow()
                return
            self._backlog.append((data, last))
            return
        try:
            waiting = _start(self._send(data))
        except Exception as err:
            self.close()
            self._on_error(err)
            return
        if waiting is not None:
            self._task = asyncio.get_running_loop().create_task(self._drain(waiting, last))
        elif last:
            self._closed = True
            self._on_last()

    def close(self) -> None:
        """Send nothing more; a send in progress is cancelled (a client that stopped reading)."""
        self._closed = True
        self._backlog.clear()
        self._owed = 0
        if self._task is not None:
            self._task.cancel()

    async def _drain(self, waiting: Coroutine[Any, Any, None] | None, last: bool) -> None:
        try:
            if waiting is not None:
                await waiting
            while not last and self._backlog and not self._closed:
                data, last = self._backlog.popleft()
                self._owed = max(0, self._owed - 1)
                await self._send(data)
            if last:
                self._closed = True
                self._on_last()
        except Exception as err:
            self._closed = True
            self._backlog.clear()
            self._on_error(err)
        finally:
            self._task = None


def _start(coro: Coroutine[Any, Any, None]) -> Coroutine[Any, Any, None] | None:
    """Run `coro` up to its first wait: None when it finished, else an awaitable of the rest.

    What Python 3.12's eager tasks do, for one coroutine: the common case (the socket takes the
    bytes at once) costs no task and no turn of the event loop.
    """
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return _rest(coro, waiting_on)


async def _rest(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    await _resume(coro, waiting_on)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    """Hand what `coro` waits on to the running task, and the task's answers back to `coro`.

    `waiting_on` is the future `coro` yielded (already marked as awaited), so the task treats
    it exactly as if `coro` had been its own from the start; a cancellation is thrown into it.
    """
    while True:
        try:
            answer = yield waiting_on
        except BaseException as err:
            try:
                waiting_on = coro.throw(err)
            except StopIteration:
                return
            continue
        try:
            waiting_on = coro.send(answer)
        except StopIteration:
            return
