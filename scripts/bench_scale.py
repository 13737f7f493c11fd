"""Scale-out benchmark: the embedded profile against the scale-out one, side by side in one run.
Prints JSON.

fanout: caption delivery across web processes. One room with public captions; a speaker reads
  a human recording (real time, 100 ms frames) into web process A, transcribed there by the real
  model; N anonymous WebSocket listeners take every caption event. Two arms, alternated
  --rounds times:
  - one_process: `roomscribe serve` embedded (SQLite, in-memory channels), every listener on it;
  - two_processes: two `roomscribe serve` sharing PostgreSQL and Redis (started here), the
    speaker on A and the listeners split evenly between A and B.
  Figures: delivery lag (an event's arrival at a listener minus its earliest arrival at any
  listener, the closest observable to its publish; all listeners are in this process and stamp
  with one monotonic clock), p50/p99 over every delivery; and the speaker's final latency (room
  time of a final's arrival minus its last word's end) at a listener on A and one on B.

transcript_writer: finals stored per second by the transcript writer (one transaction per final,
  then indexed), on SQLite and on PostgreSQL: the app in this process, --rooms live recorded
  rooms each saving --finals finals one after another (as live rooms do), all rooms at once.

asr: concurrent live speaker streams (--streams, e.g. 4,8,12), each a different human recording
  pushed in real time, captioned three ways in turn: `embedded`, the live engine in this process
  (2 model threads, as `roomscribe serve` runs it); `one_worker`, one `roomscribe worker`
  (2 threads) reached through Redis; `two_workers`, two workers of 1 thread each (the same 2
  cores). Figures: final latency p50/p95 (a final's arrival minus its last word's end, in room
  time) and whether p95 is within the 2.5 s target; the split's overhead is the workers'
  latency against the embedded engine's at the same load.

    .venv/bin/python scripts/bench_scale.py [--listeners 400] [--rounds 1] [--rooms 20]
        [--finals 50] [--streams 4,8,12] [--parts fanout,writer,asr]

Uses only 127.0.0.1; every server it starts (PostgreSQL, Redis, the web processes) is its own
child in a temporary folder, stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.servers import create_database, postgres, redis  # noqa: E402
from helpers.speech import SPEECH_DIR, clips, manifest  # noqa: E402
from integration.transcripts.harness import archive_app, recorded_room  # noqa: E402
from integration.transcripts.live_server import Client, Server, serving  # noqa: E402
from roomscribe.captions import asr_jobs  # noqa: E402
from roomscribe.captions.events import CaptionEvent, Speaker  # noqa: E402
from roomscribe.captions.live_engine import LiveEngine  # noqa: E402
from roomscribe.captions.remote import RemoteCaptions  # noqa: E402
from roomscribe.config import Settings  # noqa: E402
from roomscribe.db import make_engine, migrate  # noqa: E402
from roomscribe.media.ffmpeg import decode  # noqa: E402
from roomscribe.redis_pool import redis_client  # noqa: E402

CLIP = SPEECH_DIR / "librispeech_test_clean" / "1320-122617-0001.flac"
"""14 s of human speech, 40 words."""
CROWD_ENV = {
    # Every benchmark listener comes from 127.0.0.1; the per-address cap is for strangers.
    "ROOMSCRIBE_MAX_CAPTION_CONNECTIONS_PER_ADDRESS": "100000",
}


def percentiles(values: list[float], scale: float = 1.0) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * scale, 1)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99),
            "max": round(ordered[-1] * scale, 1)}


# -- fan-out --------------------------------------------------------------------------------------

@dataclass
class Listener:
    arrivals: dict[int, float] = field(default_factory=dict)
    """seq → monotonic arrival."""
    final_ends: dict[int, float] = field(default_factory=dict)
    """seq → the final's `end` (room time)."""
    final_room_times: dict[int, float] = field(default_factory=dict)
    """seq → room time of arrival."""
    close: int | None = None


async def listen(url: str, listener: Listener, started: float, joined: asyncio.Event) -> None:
    try:
        async with connect(url, max_size=2**20, compression=None, open_timeout=60) as ws:
            async for message in ws:
                now = time.monotonic()
                event = msgspec.json.decode(message)
                joined.set()
                if event["type"] in ("partial", "final"):
                    listener.arrivals.setdefault(event["seq"], now)
                    if event["type"] == "final":
                        listener.final_ends[event["seq"]] = event["end"]
                        listener.final_room_times[event["seq"]] = time.time() - started
            listener.close = ws.close_code
    except ConnectionClosed as closed:
        listener.close = closed.rcvd.code if closed.rcvd else None


async def fanout_arm(servers: list[Server], listeners: int) -> dict[str, Any]:
    """One room on servers[0], `listeners` spread over `servers`; the figures."""
    async with contextlib.AsyncExitStack() as stack:
        https = [await stack.enter_async_context(httpx.AsyncClient(base_url=s.url, timeout=60))
                 for s in servers]
        api = Client(https[0])
        for handle in ("host", "speaker"):
            await api.account(handle, handle.title())
        room = await api.post("/rooms", "host", {"title": "Scale", "captions_public": True})
        await api.post(f"/rooms/{room['id']}/invitations", "host", {"handle": "speaker"})
        await api.post(f"/rooms/{room['id']}/invitations/accept", "speaker", {"consent": True})
        room_id = room["id"]
        api.started[room_id] = datetime.fromisoformat(room["started_at"]).timestamp()
        crowd = [Listener() for _ in range(listeners)]
        tasks = []
        for n, listener in enumerate(crowd):
            base = servers[n % len(servers)].url.replace("http://", "ws://")
            joined = asyncio.Event()
            tasks.append(asyncio.create_task(listen(
                f"{base}/api/v1/rooms/{room_id}/captions", listener,
                api.started[room_id], joined)))
            await asyncio.wait_for(joined.wait(), 60)
        await asyncio.sleep(3.0)  # the joins' roster updates are over
        spoken = await api.speak(room_id, "speaker", decode(CLIP))
        assert spoken.socket is not None
        await asyncio.sleep(2.0)  # trailing silence: the last words end as speech does
        await spoken.socket.close()
        await asyncio.sleep(3.0)
        await api.post(f"/rooms/{room_id}/end", "host")
        await asyncio.wait(tasks, timeout=60)
        for task in tasks:
            task.cancel()
    first: dict[int, float] = {}
    for listener in crowd:
        for seq, at in listener.arrivals.items():
            first[seq] = min(at, first.get(seq, at))
    lags = [at - first[seq] for listener in crowd for seq, at in listener.arrivals.items()]
    expected = set(first)
    complete = sum(1 for listener in crowd if set(listener.arrivals) == expected)

    def latency(listener: Listener) -> dict[str, float | int]:
        return percentiles([listener.final_room_times[s] - listener.final_ends[s]
                            for s in listener.final_ends], 1.0)

    return {"listeners": listeners, "events": len(expected),
            "listeners_with_every_event": complete,
            "lag_ms": percentiles(lags, 1000.0),
            "final_latency_s_on_speaker_process": latency(crowd[0]),
            "final_latency_s_on_other_process": (latency(crowd[1]) if len(servers) > 1
                                                 else None)}


@contextmanager
def embedded(where: Path) -> Iterator[list[Server]]:
    where.mkdir(parents=True, exist_ok=True)
    with serving(where / "one", where / "one.log", **CROWD_ENV) as one:
        yield [one]


@contextmanager
def scaled_out(where: Path, admin_url: str, redis_url: str) -> Iterator[list[Server]]:
    where.mkdir(parents=True, exist_ok=True)
    url = create_database(admin_url, f"bench_{os.getpid()}_{int(time.time() * 1000)}")
    engine = make_engine(Settings(database_url=url))
    migrate(engine)
    engine.dispose()
    shared = {"ROOMSCRIBE_DATABASE_URL": url, "ROOMSCRIBE_REDIS_URL": redis_url, **CROWD_ENV}
    with serving(where / "a", where / "a.log", **shared) as a, \
            serving(where / "b", where / "b.log", **shared) as b:
        yield [a, b]


# -- transcript writer ----------------------------------------------------------------------------

def writer_settings(data_dir: Path, **database: str) -> Settings:
    # One client signs every benchmark account up.
    return Settings(data_dir=data_dir, signup_limit="100000/hour", signin_limit="100000/hour",
                    **database)


async def writer_arm(settings: Settings, rooms: int, finals: int) -> dict[str, Any]:
    words = next(clip.reference for clip in manifest() if clip.path == CLIP).split()
    async with archive_app(settings) as api:
        ids = [await recorded_room(api, f"sp{n}", host=f"host{n}") for n in range(rooms)]
        transcripts = api.app.state.transcripts

        async def room_saves(room: str, n: int) -> None:
            for i in range(finals):
                text = " ".join(words[(i * 7) % len(words):][:8])
                await transcripts.save_final(CaptionEvent(
                    type="final", room=room, seq=i, speaker=Speaker(f"sp{n}", f"Speaker {n}"),
                    start=i * 3.0, end=i * 3.0 + 2.5, text=text))

        began = time.perf_counter()
        await asyncio.gather(*(room_saves(room, n) for n, room in enumerate(ids)))
        took = time.perf_counter() - began
    return {"rooms": rooms, "finals": rooms * finals, "seconds": round(took, 2),
            "finals_per_second": round(rooms * finals / took, 1)}


# -- ASR workers ----------------------------------------------------------------------------------

TARGET_P95 = 2.5


@contextmanager
def asr_workers(redis_url: str, where: Path, threads: list[int]) -> Iterator[None]:
    where.mkdir(parents=True, exist_ok=True)
    procs = []
    for n, count in enumerate(threads):
        env = {**os.environ, "ROOMSCRIBE_REDIS_URL": redis_url, "ROOMSCRIBE_DATA_DIR": str(where),
               "ROOMSCRIBE_ASR_THREADS": str(count)}
        with (where / f"worker{n}.log").open("wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "roomscribe", "worker"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(60)


async def workers_up(redis_url: str, count: int) -> None:
    client = redis_client(redis_url)
    try:
        deadline = time.monotonic() + 120
        while len([k async for k in client.scan_iter(asr_jobs.worker_key("*"))]) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("ASR workers did not start")
            await asyncio.sleep(0.2)
        await asyncio.sleep(2 * asr_jobs.TAKEOVER)  # presence keys of stopped workers expire
    finally:
        await client.aclose()


async def asr_arm(source: Any, audios: list[np.ndarray[Any, Any]]) -> dict[str, Any]:
    """Every clip as its own stream, in real time, at once; final latencies."""
    latencies: list[float] = []

    async def one(n: int, audio: np.ndarray[Any, Any]) -> None:
        began = time.monotonic()

        async def sink(event: CaptionEvent) -> None:
            if event.type == "final":
                latencies.append(time.monotonic() - began - event.end)

        stream = source.open(room=f"bench-{n}-{time.monotonic_ns()}",
                             speaker=Speaker(f"s{n}", f"Speaker {n}"), origin=0.0, sink=sink)
        step = 1600
        for i, offset in enumerate(range(0, len(audio), step)):
            await asyncio.sleep(max(0.0, began + i * 0.1 - time.monotonic()))
            stream.push(audio[offset:offset + step])
        await stream.finish()

    await asyncio.gather(*(one(n, audio) for n, audio in enumerate(audios)))
    figures = percentiles(latencies)
    return {"streams": len(audios), "finals": len(latencies), "latency_s": figures,
            "within_target": bool(figures.get("p95", 99.0) <= TARGET_P95)}


async def asr_bench(args: argparse.Namespace, where: Path, redis_url: str
                    ) -> dict[str, list[dict[str, Any]]]:
    pool = [decode(c.path) for c in clips("librispeech_test_clean") if c.path.suffix == ".flac"]
    # Each stream a different recording, padded with silence to the longest: all end together.
    longest = max(len(a) for a in pool)
    pool = [np.concatenate([a, np.zeros(longest - len(a), np.float32)]) for a in pool]
    runs: dict[str, list[dict[str, Any]]] = {"embedded": [], "one_worker": [], "two_workers": []}
    for count in args.streams:
        audios = [pool[n % len(pool)] for n in range(count)]
        engine = LiveEngine.from_settings(Settings(asr_threads=2))
        async with engine:
            runs["embedded"].append(await asr_arm(engine, audios))
        for arm, threads in (("one_worker", [2]), ("two_workers", [1, 1])):
            with asr_workers(redis_url, where / f"{arm}-{count}", threads):
                await workers_up(redis_url, len(threads))
                source = RemoteCaptions(redis_client(redis_url))
                try:
                    runs[arm].append(await asr_arm(source, audios))
                finally:
                    await source.close()
    return runs


# -- the run --------------------------------------------------------------------------------------

async def bench(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"one_process": [], "two_processes": []}
    writer: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgresql": []}
    asr: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        admin_url = stack.enter_context(postgres())
        redis_url = stack.enter_context(redis())
        if "asr" in args.parts:
            asr = await asr_bench(args, where / "asr", redis_url)
        for n in range(args.rounds):
            if "fanout" in args.parts:
                with embedded(where / f"e{n}") as servers:
                    runs["one_process"].append(await fanout_arm(servers, args.listeners))
                with scaled_out(where / f"s{n}", admin_url, redis_url) as servers:
                    runs["two_processes"].append(await fanout_arm(servers, args.listeners))
            if "writer" not in args.parts:
                continue
            writer["sqlite"].append(await writer_arm(
                writer_settings(where / f"w{n}"), args.rooms, args.finals))
            url = create_database(admin_url, f"writer_{n}")
            engine = make_engine(Settings(database_url=url))
            migrate(engine)
            engine.dispose()
            writer["postgresql"].append(await writer_arm(
                writer_settings(where / f"wp{n}", database_url=url), args.rooms, args.finals))

    def median(values: list[Any]) -> float | None:
        present = [v for v in values if v is not None]
        return round(statistics.median(present), 2) if present else None

    summary = {
        arm: {"lag_p99_ms": median([r["lag_ms"].get("p99") for r in rs]),
              "lag_p50_ms": median([r["lag_ms"].get("p50") for r in rs]),
              "final_latency_p95_s_speaker_process": median(
                  [r["final_latency_s_on_speaker_process"].get("p95") for r in rs]),
              "final_latency_p95_s_other_process": median(
                  [(r["final_latency_s_on_other_process"] or {}).get("p95") for r in rs])}
        for arm, rs in runs.items()}
    summary["transcript_writer_finals_per_second"] = {
        db: median([r["finals_per_second"] for r in rs]) for db, rs in writer.items()}
    summary["asr_final_latency_p95_s"] = {
        arm: {str(r["streams"]): r["latency_s"].get("p95") for r in rs} for arm, rs in asr.items()}
    summary["asr_most_streams_within_target"] = {
        arm: max([r["streams"] for r in rs if r["within_target"]], default=0)
        for arm, rs in asr.items()}
    return {"machine": {"cpus": os.cpu_count()}, "clip": CLIP.name,
            "fanout": runs, "transcript_writer": writer, "asr": asr, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--finals", type=int, default=50, help="finals each room saves")
    parser.add_argument("--streams", type=lambda v: [int(x) for x in v.split(",")],
                        default=[4, 8, 12], help="concurrent speaker streams, e.g. 4,8,12")
    parser.add_argument("--parts", type=lambda v: set(v.split(",")),
                        default={"fanout", "writer", "asr"}, help="fanout,writer,asr")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args)), indent=2))


if __name__ == "__main__":
    main()
