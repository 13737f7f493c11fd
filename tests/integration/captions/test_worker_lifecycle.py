"""An ASR worker's streams when their web process goes away, and when the worker stops: on a
real Redis (started by the test), with the tone-burst engine of the unit tests (the real model's
takeover is `test_workers.py`)."""

from __future__ import annotations

import asyncio
import time

from helpers.fake_asr import FakeTranscriber, LoudnessVad
from helpers.waiting import until
from roomscribe.captions import asr_jobs
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.captions.remote import RemoteCaptions
from roomscribe.captions.worker import CaptionWorker
from roomscribe.redis_pool import redis_client


async def pending(redis_url: str) -> int:
    client = redis_client(redis_url)
    try:
        info = await client.xpending(asr_jobs.jobs_key(), asr_jobs.GROUP)
        return int(info["pending"])
    finally:
        await client.aclose()


async def test_a_stream_its_web_process_left_is_finished_and_a_stopping_worker_lets_go(
        redis_url: str) -> None:
    model = FakeTranscriber()
    audio, _ = model.say(["he", "was", "at", "the", "one"])
    got: list[CaptionEvent] = []

    async def sink(event: CaptionEvent) -> None:
        got.append(event)

    web = RemoteCaptions(redis_client(redis_url))
    async with LiveEngine(model, detector=LoudnessVad) as engine:
        worker = CaptionWorker(redis_client(redis_url), engine, abandoned_after=1.0,
                               stop_grace=0.5)
        serving = asyncio.create_task(worker.run())
        # A web process that dies mid-speech never ends its stream: the worker flushes what it
        # heard once the audio has stopped for `abandoned_after`, and lets the job go.
        left = web.open(room="r1", speaker=Speaker("ana", "Ana"), origin=0.0, sink=sink)
        left.push(audio)
        await until(lambda: got, within=10, what="captions of the stream")
        await left.cancel()  # the web process's side stops, with no end sent
        await until(lambda: pending(redis_url), within=1, what="the job owned")
        await until(lambda: not worker._jobs, within=10, what="the abandoned stream finished")
        assert await pending(redis_url) == 0
        # A worker told to stop leaves a stream still talking unacknowledged after its grace,
        # for another worker to take over, instead of waiting for it forever.
        talking = web.open(room="r2", speaker=Speaker("bo", "Bo"), origin=0.0, sink=sink)
        talking.push(audio)
        await until(lambda: worker._jobs, within=10, what="the second stream served")
        worker.stop()
        began = time.monotonic()
        await asyncio.wait_for(serving, 10)
        assert time.monotonic() - began < 5
        assert await pending(redis_url) == 1
        await talking.cancel()
    await worker.redis.aclose()
    await web.close()


async def test_a_corrected_language_reaches_the_workers_open_stream(redis_url: str) -> None:
    """The host corrects a speaker's language while a worker captions them: the worker's
    stream hears it from the audio sent after the correction, without a new stream."""
    model = FakeTranscriber()
    model.multilingual = True  # type: ignore[attr-defined]  # stands in for `base`
    first, _ = model.say(["he", "was", "at", "the", "one"])
    then, _ = model.say(["one", "at", "the", "he"])
    got: list[CaptionEvent] = []

    async def sink(event: CaptionEvent) -> None:
        got.append(event)

    web = RemoteCaptions(redis_client(redis_url))
    async with LiveEngine(model, detector=LoudnessVad) as engine:
        worker = CaptionWorker(redis_client(redis_url), engine)
        serving = asyncio.create_task(worker.run())
        stream = web.open(room="r3", speaker=Speaker("ana", "Ana"), origin=0.0, sink=sink,
                          language="es")
        stream.push(first)
        await until(lambda: [e for e in got if e.type == "final"], within=10,
                    what="a final in Spanish")
        stream.set_language("pt")
        stream.push(then)
        await stream.finish()
        finals = [e for e in got if e.type == "final"]
        assert finals[0].lang == "es" and finals[-1].lang == "pt", [e.lang for e in finals]
        assert len(worker._jobs) <= 1  # one stream all along
        worker.stop()
        await asyncio.wait_for(serving, 10)
    await worker.redis.aclose()
    await web.close()
