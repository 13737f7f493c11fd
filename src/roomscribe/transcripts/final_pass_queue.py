"""Final passes as jobs on a SAQ queue in Redis, run by the ASR workers (the scale-out profile).

The web process that ends a room enqueues its final pass keyed by the room, so a room queued
twice (two processes resuming after a restart) runs once, and waits for the outcome to re-index
its search. A worker runs one final pass at a time (`roomscribe worker`, next to its live
streams) and settles the transcript in the shared database itself, so a web process that dies
while waiting loses nothing: the job finishes, and the index catches up at that process's next
start (`archive.reconcile`).

A worker that dies mid-pass stops touching its job; a job untouched for HEARTBEAT seconds is
swept (every SWEEP seconds, by whichever worker sweeps first) and retried on another worker,
up to RETRIES runs in all. The tracks are in storage, so a retry starts the pass again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol, cast

from saq import Queue, Worker
from saq.job import Status
from saq.types import Context, PartialTimersDict

from roomscribe.errors import ModelUnavailable

log = logging.getLogger(__name__)

QUEUE = "roomscribe-final-passes"
HEARTBEAT = 15
"""Seconds a running final pass may go untouched before its worker is taken for dead."""
TOUCH = 3.0
"""Seconds between a running pass's touches."""
SWEEP = 5
"""Seconds between looks for dead workers' passes."""
RETRIES = 3
WAIT_AGAIN = 0.5
"""Seconds before waiting again on a job that was swept and queued again."""
KEEP_RESULT = 24 * 3600
"""Seconds a finished pass's outcome stays readable by the process that queued it."""


class Completes(Protocol):
    """What a worker runs (`final_pass.FinalPass`)."""

    def complete(self, room_id: str) -> bool:
        """Run and settle the room's final pass; True when a new version was written."""


class FinalPassFailed(Exception):
    """The final pass did not complete on any worker (each try failed or the model is missing);
    the room stays pending, and the next start of a web process queues it again."""


def final_pass_queue(redis_url: str) -> Queue:
    return Queue.from_url(redis_url, name=QUEUE)


class FinalPassQueue:
    """The web process's side: queue a room's final pass and wait for it."""

    def __init__(self, queue: Queue, *, heartbeat: int = HEARTBEAT) -> None:
        self.queue = queue
        self.heartbeat = heartbeat

    async def run(self, room_id: str) -> bool:
        """True when the pass wrote a new version (to re-index)."""
        job = await self.queue.enqueue("final_pass", room_id=room_id, key=room_id, timeout=0,
                                       heartbeat=self.heartbeat, retries=RETRIES, ttl=KEEP_RESULT)
        if job is None:  # queued already (another process resumed it too): wait for that one
            job = await self.queue.job(room_id)
            if job is None:
                return False  # finished in between; its queuer re-indexes
        # A swept job (its worker died) is aborted and queued again: not its end.
        await job.refresh(until_complete=0)
        while job.status in (Status.QUEUED, Status.ACTIVE, Status.ABORTING):
            await asyncio.sleep(WAIT_AGAIN)
            await job.refresh(until_complete=0)
        if job.status is not Status.COMPLETE:
            raise FinalPassFailed(f"the final pass of room {room_id} ended {job.status}: "
                                  f"{job.error}")
        return bool(job.result)

    async def close(self) -> None:
        await self.queue.disconnect()


def final_pass_worker(queue: Queue, final_pass: Completes, *, touch: float = TOUCH,
                      sweep: int = SWEEP) -> Worker[Context]:
    """The worker's side: runs queued final passes one at a time."""

    async def run(ctx: Context, *, room_id: str) -> bool:
        job = ctx["job"]
        work = asyncio.ensure_future(asyncio.to_thread(final_pass.complete, room_id))
        try:
            while not work.done():
                await asyncio.wait([work], timeout=touch)
                if not work.done():
                    await job.update()  # alive: the sweep leaves it to us
            return work.result()
        except ModelUnavailable:
            log.error("worker has no model for the final pass of room %s", room_id)
            raise
        finally:
            if not work.done():  # aborted: the thread finishes on its own, unheard
                with contextlib.suppress(Exception):
                    work.cancel()

    return Worker(queue, functions=[("final_pass", run)], concurrency=1,
                  timers=cast(PartialTimersDict, {"sweep": sweep}))
