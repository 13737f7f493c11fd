"""Slow work done one room at a time: mixes, final passes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class RoomJobs:
    """Rooms waiting for one kind of slow work (a mix, a final pass), done one room at a time.

    One at a time so that rooms ending together never take every core from live captions; a room
    queued again while it waits is done once. Use on the event loop.
    """

    def __init__(self, name: str, work: Callable[[str], Awaitable[object]]) -> None:
        self.name = name
        self._work = work
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def add(self, room_id: str) -> None:
        if room_id not in self._queued:
            self._queued.add(room_id)
            self._queue.put_nowait(room_id)

    async def join(self) -> None:
        """Wait until every room queued so far is done."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop; a room being worked on is left to the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            room_id = await self._queue.get()
            try:
                await self._work(room_id)
            except Exception:
                log.exception("%s of room %s failed", self.name, room_id)
            finally:
                self._queued.discard(room_id)
                self._queue.task_done()
