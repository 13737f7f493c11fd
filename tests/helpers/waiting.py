"""Waiting on events rather than sleeping, and picking ports: the one copy of each for tests
and benchmarks."""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nothing listens on now (for a server a test starts, stops and restarts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T], within: float = 15.0, what: str = "the condition",
             *, every: float = 0.02) -> T:
    """Poll `condition` (made true by another thread or process) until it returns something
    truthy, and return that; `TimeoutError` naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        time.sleep(every)
    return value


async def until(check: Callable[[], Awaitable[T] | T], within: float = 15.0,
                what: str = "the condition", *, every: float = 0.05) -> T:
    """`wait_for` on the event loop: call (and await, if it is a coroutine function) `check()`
    until it returns something truthy, letting the loop run in between."""
    deadline = time.monotonic() + within

    async def value_now() -> T:
        value = check()
        return await value if inspect.isawaitable(value) else value

    while not (value := await value_now()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(every)
    return value
