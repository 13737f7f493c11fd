"""ASR workers (`roomscribe worker`, two processes, the real tiny.en model) serving a web
process's speaker stream through a Redis the test starts; the worker that owns the stream is
SIGKILLed mid-speech and the other takes it over, resuming after the last final: captions go on
within seconds, no received audio is skipped and no final repeated."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.speech import manifest, wer
from helpers.waiting import until
from roomscribe.captions import asr_jobs
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.captions.remote import RemoteCaptions
from roomscribe.media.ffmpeg import decode
from roomscribe.redis_pool import redis_client

pytestmark = pytest.mark.model

CLIP = "8463-287645-0007.flac"
"""21.5 s of one reader, 67 words: long enough to lose a worker in the middle."""
FRAME = 0.1



@pytest.fixture
def workers(redis_url: str, tmp_path: Path) -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    procs: dict[int, subprocess.Popen[bytes]] = {}
    env = {**os.environ, "ROOMSCRIBE_REDIS_URL": redis_url, "ROOMSCRIBE_ASR_THREADS": "1",
           "ROOMSCRIBE_DATA_DIR": str(tmp_path)}
    for n in range(2):
        with (tmp_path / f"worker{n}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "roomscribe", "worker", "--streams",
                                     "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
        procs[proc.pid] = proc
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
    for n in range(2):
        log = (tmp_path / f"worker{n}.log").read_text()
        assert "Traceback" not in log, log


async def consumers(client: Any) -> list[str]:
    """The workers alive (each renews its presence key)."""
    return [key async for key in client.scan_iter(asr_jobs.worker_key("*"))]


async def owner(client: Any) -> str | None:
    pending = await client.xpending_range(asr_jobs.jobs_key(), asr_jobs.GROUP, "-", "+", 10)
    if not pending:
        return None
    name = pending[0]["consumer"]
    return str(name.decode() if isinstance(name, bytes) else name)


async def test_a_killed_workers_stream_resumes_on_the_other(
        redis_url: str, workers: dict[int, subprocess.Popen[bytes]]) -> None:
    clip = next(c for c in manifest() if c.path.name == CLIP)
    audio = decode(clip.path)
    client = redis_client(redis_url)
    source = RemoteCaptions(redis_client(redis_url))
    heard: list[tuple[float, CaptionEvent]] = []

    async def sink(event: CaptionEvent) -> None:
        heard.append((time.monotonic(), event))

    try:
        await until(lambda: _count(consumers(client), 2), within=120, what="two workers up")
        stream = source.open(room="r1", speaker=Speaker("ada", "Ada Reader"), origin=0.0,
                             sink=sink)
        step = round(16_000 * FRAME)
        start = time.monotonic()
        killed_at: float | None = None
        taken_at: float | None = None
        first_owner = survivor = None
        for n, offset in enumerate(range(0, len(audio), step)):
            await asyncio.sleep(max(0.0, start + n * FRAME - time.monotonic()))
            stream.push(audio[offset:offset + step])
            if killed_at is not None and taken_at is None and (
                    (now_owner := await owner(client)) not in (None, first_owner)):
                taken_at, survivor = time.monotonic(), now_owner
            if killed_at is None and any(e.type == "final" for _, e in heard):
                first_owner = await owner(client)
                assert first_owner is not None
                pid = int(first_owner.rsplit("-", 1)[1])
                os.kill(pid, signal.SIGKILL)  # mid-speech: its stream is orphaned
                workers[pid].wait(10)
                killed_at = time.monotonic()
        assert killed_at is not None, "no final before the end of the clip"
        assert taken_at is not None, "the stream was not taken over while the speaker spoke"
        takeover = taken_at - killed_at
        await asyncio.wait_for(stream.finish(), 60)
    finally:
        await source.close()
    after = [at for at, _ in heard if at > killed_at]
    assert after, "no caption after the worker died"
    resumed = after[0] - killed_at
    finals = [e for _, e in heard if e.type == "final"]
    text = " ".join(e.text for e in finals)
    assert wer([clip.reference], [text]) <= 0.25, text
    seqs = [e.seq for _, e in heard]
    assert len(set(seqs)) == len(seqs)
    for earlier, later in itertools.pairwise(finals):
        assert later.start >= earlier.end - 0.05, (earlier, later)  # nothing captioned twice
    # The stream moved within 5 s, and captions came from the new worker soon after.
    assert survivor is not None and takeover <= 5.0
    assert resumed < 5.0
    assert not await client.exists(asr_jobs.audio_key(stream.id))  # nothing left in Redis
    await client.aclose()
    print(json.dumps({"takeover_s": round(takeover, 2),
                      "first_caption_after_kill_s": round(resumed, 2),
                      "wer": round(wer([clip.reference], [text]), 3)}))


async def _count(names: Any, n: int) -> bool:
    return len(await names) >= n
