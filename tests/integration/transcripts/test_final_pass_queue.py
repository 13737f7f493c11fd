"""Final passes as jobs on the ASR workers' SAQ queue, on a real Redis started by the test.

The pass itself is a stand-in here (its real run on real speech through `roomscribe worker` is in
the scale-out journey, `integration/test_scale_out.py`); what is tested is the queue: one run per
room however often it is queued, the outcome reaching the process that queued it, a failure
reported, and a pass whose worker was SIGKILLed taken over by another worker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from helpers.waiting import until
from roomscribe.transcripts.final_pass_queue import (
    FinalPassFailed,
    FinalPassQueue,
    final_pass_queue,
    final_pass_worker,
)

HELPER = Path(__file__).parents[2] / "helpers" / "final_pass_process.py"


class Pass:
    """Counts its runs; takes `seconds`; fails when told to."""

    def __init__(self, seconds: float = 0.3, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.runs: list[str] = []
        self.lock = threading.Lock()

    def complete(self, room_id: str) -> bool:
        with self.lock:
            self.runs.append(room_id)
        time.sleep(self.seconds)
        if self.fail:
            raise ValueError("the tracks are unreadable")
        return True


@asynccontextmanager
async def worker(url: str, work: Pass, *, sweep: int = 1) -> AsyncIterator[None]:
    runner = final_pass_worker(final_pass_queue(url), work, touch=0.2, sweep=sweep)
    runner.SIGNALS = []
    task = asyncio.create_task(runner.start())
    try:
        yield
    finally:
        await runner.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.queue.disconnect()


@pytest.fixture
async def queuer(redis_url: str) -> AsyncIterator[FinalPassQueue]:
    queue = FinalPassQueue(final_pass_queue(redis_url), heartbeat=2)
    # Each test on an empty Redis: SAQ keeps its sweep lock for as long as the sweep period
    # of the worker that took it (60 s in the first test), which would hold off the next
    # test's sweeps.
    await queue.queue.redis.flushdb()
    yield queue
    await queue.close()


async def test_a_room_queued_twice_runs_once_and_both_hear_the_outcome(
        redis_url: str, queuer: FinalPassQueue) -> None:
    work = Pass()
    # Swept only as the worker starts: SAQ's sweep may take a job caught between being moved to
    # the active list and marked active for a dead worker's, and run it again (a known window,
    # docs/scaling.md); what is tested here is the queue's one job per room.
    async with worker(redis_url, work, sweep=60):
        await asyncio.sleep(0.5)  # past that first sweep
        outcomes = await asyncio.wait_for(
            asyncio.gather(queuer.run("r1"), queuer.run("r1"), queuer.run("r2")), 30)
    assert outcomes == [True, True, True]
    assert sorted(work.runs) == ["r1", "r2"]


async def test_a_pass_that_fails_on_every_try_is_reported(
        redis_url: str, queuer: FinalPassQueue) -> None:
    work = Pass(seconds=0, fail=True)
    async with worker(redis_url, work):
        with pytest.raises(FinalPassFailed, match="unreadable"):
            await asyncio.wait_for(queuer.run("r3"), 30)
    assert work.runs == ["r3"] * 3  # RETRIES tries


async def test_a_pass_whose_worker_is_killed_is_taken_over(
        redis_url: str, queuer: FinalPassQueue, tmp_path: Path) -> None:
    marker = tmp_path / "running"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    stuck = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
        [sys.executable, str(HELPER), redis_url, str(marker)], env=env)
    try:
        waiting = asyncio.create_task(queuer.run("r4"))
        await until(marker.exists, within=30, what="the first worker running the pass")
        stuck.kill()
        stuck.wait()
        killed = time.monotonic()
        work = Pass(seconds=0)
        async with worker(redis_url, work):
            assert await asyncio.wait_for(waiting, 30) is True
        took = time.monotonic() - killed
    finally:
        stuck.kill()
    assert work.runs == ["r4"]
    # Heartbeat 2 s (touched every 0.2 s), swept every 1 s, and SAQ's sweep waits 5 s for a
    # dead worker to acknowledge the abort: about 7 s after the kill.
    print(f"final pass taken over and finished {took:.2f} s after its worker's SIGKILL")
    assert took < 20
