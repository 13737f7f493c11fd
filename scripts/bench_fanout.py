"""Caption fan-out benchmark: N WebSocket listeners on loopback while a live stream is transcribed.

One server process (uvicorn serving `create_app()` on 127.0.0.1, the real LiveEngine, SQLite in a
temporary dir) and one room with public captions. A speaker streams a human recording as 100 ms
frames paced in real time, then two seconds of silence, and the host ends the room. Each phase
has a fresh room; phases alternate N=0 and N=--listeners (--rounds pairs) in this one run, so both
see the same machine.

Who listens, and what is measured:
- The crowd: N anonymous listeners in --clients processes of their own (the `websockets` client,
  --batch connects in flight per process), stamping each caption event's `seq` on arrival.
- The reference listener, in this process, joins first. Its finals give the speaker's caption
  latency as the live engine defines it: the room time a final arrives minus the room time its
  last word ends (`end`); room time is counted from the room's `started_at`.
- Delivery lag (`lag_ms.vs_first`, the goal's figure): an event's arrival at a listener minus its
  earliest arrival at any listener. Events carry no publish timestamp, and the channels plugin
  keeps a channel's subscribers in a set, so no listener is reliably served first; the earliest
  arrival is the closest observable to the publish. `lag_ms.vs_reference` measures against the
  reference listener instead (it can be negative). Every process stamps with CLOCK_MONOTONIC,
  which the whole host shares. The crowd reads 5,000 sockets on the same cores as the server, so
  the lag includes the clients' own queueing: an upper bound on the server's share.
- A listener is dropped unless it joined, received every event the reference listener received,
  and was closed with 4000 (room ended; 4008 is "too slow").
- CPU: seconds of CPU the server and the crowd processes used while listeners joined and while
  the recording streamed; `fanout_cpu_us_per_delivery` is the server's streaming CPU above the
  N=0 phase of the same round, per event delivered to a listener, a figure the machine's load
  does not change much: capacity in listener-events per CPU-second is 10^6 divided by it.

    .venv/bin/python scripts/bench_fanout.py --listeners 5000 --quick
    .venv/bin/python scripts/bench_fanout.py --listeners 5000 --quick --no-deflate

Server settings are uvicorn options (--ws, --backlog, --no-deflate); --roster-delay is an
experiment, not a setting: it patches how often the server sends roster updates, to measure a
proposed change without editing the rooms code. Prints one JSON object; stops by itself (every
wait has a deadline); uses only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.speech import SPEECH_DIR  # noqa: E402
from helpers.waiting import free_port  # noqa: E402
from roomscribe.media.ffmpeg import decode  # noqa: E402

HOST = "127.0.0.1"
FRAME = 0.1
"""Seconds of audio a frame, sent at real-time pace."""
TRAILING_SILENCE = 2.0
"""Silence after the recording: the last utterance ends as speech does, not by the room ending."""
SETTLE = 3.0
"""Seconds between the last listener joining and the speaker starting: the joins' roster
updates are over before anything is measured."""
GOAL = {"lag_p99_ms": 250.0, "final_latency_p50_s": 1.5, "final_latency_p95_s": 2.5}
RECORDINGS = {"quick": SPEECH_DIR / "longform" / "ls_1089_134686_0000-0004.wav",
              "full": SPEECH_DIR / "longform" / "test_clean_multispeaker.wav"}
ENDED = 4000
CAPTION_PREFIXES = ('{"type":"partial"', '{"type":"final"')


def raise_fd_limit() -> int:
    """Soft fd limit up to the hard one (child processes inherit it); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def seq_of(message: str) -> int | None:
    """The `seq` of a caption event without decoding the rest; None for other events.

    The server encodes events with msgspec in `CaptionEvent.to_json` order: type, room, seq.
    """
    if not message.startswith(CAPTION_PREFIXES):
        return None
    at = message.index('"seq":') + 6
    return int(message[at: message.index(",", at)])


def percentiles(values: list[float], scale: float = 1.0) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    q = np.percentile(np.asarray(values) * scale, [50, 95, 99])
    return {"n": len(values), "p50": round(float(q[0]), 3), "p95": round(float(q[1]), 3),
            "p99": round(float(q[2]), 3), "max": round(max(values) * scale, 3)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the server (a child process) ------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    """`create_app()` under uvicorn with the benchmark's options (settings from the environment)."""
    import uvicorn

    from roomscribe import app
    from roomscribe.rooms.live_rooms import LiveRooms

    if args.roster_delay is not None:
        # The experiment: the rooms lifespan builds LiveRooms with the default delay.
        setattr(app, "LiveRooms", functools.partial(LiveRooms, roster_delay=args.roster_delay))  # noqa: B010
    uvicorn.run(app.create_app(), host=HOST, port=args.port, ws=args.ws, backlog=args.backlog,
                ws_per_message_deflate=args.deflate, log_level="warning")


# -- crowd listeners (a child process) --------------------------------------------------------

@dataclass
class Crowd:
    connect_ms: list[float] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)
    stamps: list[array[float]] = field(default_factory=list)
    """Per listener: seq, arrival, seq, arrival, …"""
    failed: int = 0
    other_messages: int = 0
    """Room, roster and other non-caption events received (most are roster updates)."""


async def crowd_listener(url: str, deflate: bool, crowd: Crowd, deadline: float,
                         joined: asyncio.Event) -> None:
    stamps: array[float] = array("d")
    started = time.monotonic()
    try:
        ws = await connect(url, compression="deflate" if deflate else None, open_timeout=120,
                           max_queue=None)
    except (OSError, TimeoutError, WebSocketException):  # refused, timed out, or an HTTP error
        crowd.failed += 1
        joined.set()
        return
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            async for message in ws:
                now = time.monotonic()
                if not joined.is_set():
                    crowd.connect_ms.append((now - started) * 1000)
                    joined.set()
                seq = seq_of(message) if isinstance(message, str) else None
                if seq is None:
                    crowd.other_messages += 1
                else:
                    stamps.append(seq)
                    stamps.append(now)
    except (ConnectionClosed, TimeoutError):
        pass  # the close code says how it ended
    finally:
        joined.set()
        await ws.close()
    crowd.closes.append(ws.close_code)
    crowd.stamps.append(stamps)


async def run_crowd(args: argparse.Namespace) -> None:
    """Connect `count` listeners in batches, report on stdout, listen until the room ends."""
    crowd = Crowd()
    tasks: list[asyncio.Task[None]] = []
    begun = time.monotonic()
    for start in range(0, args.count, args.batch):
        joins = []
        for _ in range(min(args.batch, args.count - start)):
            joined = asyncio.Event()
            joins.append(joined)
            tasks.append(asyncio.create_task(
                crowd_listener(args.url, args.deflate, crowd, args.deadline, joined)))
        try:
            await asyncio.wait_for(asyncio.gather(*(j.wait() for j in joins)),
                                   max(1.0, args.join_by - time.monotonic()))
        except TimeoutError:
            break  # report who made it; the rest keep trying until the listening deadline
        print(f"crowd {os.getpid()}: {len(crowd.connect_ms)} joined, {crowd.failed} failed, "
              f"{time.monotonic() - begun:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps({"joined": len(crowd.connect_ms), "begun": begun,
                      "done": time.monotonic()}), flush=True)
    await asyncio.gather(*tasks)
    result = json.dumps({"connect_ms": crowd.connect_ms, "closes": crowd.closes,
                         "failed": crowd.failed, "other_messages": crowd.other_messages,
                         "stamps": [s.tolist() for s in crowd.stamps]})
    await asyncio.to_thread(Path(args.out).write_text, result)


# -- the room, the speaker, the reference listener -------------------------------------------

@dataclass
class Api:
    http: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    async def account(self, handle: str, name: str) -> None:
        body = {"handle": handle, "display_name": name, "password": "bench-password"}
        (await self.http.post("/api/v1/accounts", json=body)).raise_for_status()
        session = await self.http.post("/api/v1/sessions", json=body)
        session.raise_for_status()
        self.tokens[handle] = session.json()["token"]

    async def post(self, path: str, who: str, body: Any = None) -> Any:
        response = await self.http.post(f"/api/v1/rooms{path}", json=body,
                                        headers={"Authorization": f"Bearer {self.tokens[who]}"})
        response.raise_for_status()
        return response.json()

    async def room(self) -> tuple[str, float]:
        """A new live room with public captions and `speaker` on stage; its id and start time."""
        room = await self.post("", "host", {"title": "Fan-out", "captions_public": True})
        await self.post(f"/{room['id']}/invitations", "host", {"handle": "speaker"})
        await self.post(f"/{room['id']}/invitations/accept", "speaker", {"consent": True})
        return room["id"], datetime.fromisoformat(room["started_at"]).timestamp()


@dataclass
class Reference:
    """The first listener: (arrival, wall clock) of each caption event, and finals' `end`."""

    stamps: dict[int, tuple[float, float]] = field(default_factory=dict)
    final_ends: dict[int, float] = field(default_factory=dict)
    close: int | None = None


async def reference_listener(url: str, ref: Reference, joined: asyncio.Event,
                             deadline: float) -> None:
    async with connect(url) as ws:
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                async for message in ws:
                    now, wall = time.monotonic(), time.time()
                    joined.set()
                    assert isinstance(message, str)
                    seq = seq_of(message)
                    if seq is None:
                        continue
                    ref.stamps[seq] = (now, wall)
                    if message.startswith(CAPTION_PREFIXES[1]):
                        ref.final_ends[seq] = float(json.loads(message)["end"])
        except (ConnectionClosed, TimeoutError):
            pass
    ref.close = ws.close_code


async def speak(url: str, pcm: bytes) -> ClientConnection:
    """Send `pcm` as 100 ms frames on a fixed schedule (no drift); the socket stays open."""
    step = round(16_000 * FRAME) * 2
    ws = await connect(url, compression=None, open_timeout=60)
    start = time.monotonic()
    for n, offset in enumerate(range(0, len(pcm), step)):
        await asyncio.sleep(max(0.0, start + n * FRAME - time.monotonic()))
        await ws.send(pcm[offset: offset + step])
    return ws


async def spawn_crowd(args: argparse.Namespace, url: str, count: int, join_by: float,
                      deadline: float, out: Path) -> tuple[asyncio.subprocess.Process,
                                                           dict[str, Any]]:
    """A crowd process whose listeners have joined (or ran out of time); what it reported."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--crowd", "--url", url, "--count", str(count),
        "--batch", str(args.batch), "--join-by", str(join_by), "--deadline", str(deadline),
        "--out", str(out), *([] if args.deflate else ["--no-deflate"]),
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(),
                                  max(1.0, join_by - time.monotonic()) + 10)
    if not line:
        raise RuntimeError("a crowd process ended before reporting its listeners")
    ready: dict[str, Any] = json.loads(line)
    return proc, ready


@dataclass
class Meter:
    """CPU seconds of a set of processes between two points in time."""

    pids: list[int]
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = sum(cpu_seconds(p) for p in self.pids)

    def read(self) -> float:
        return round(sum(cpu_seconds(p) for p in self.pids) - self.start, 2)


async def phase(args: argparse.Namespace, api: Api, server: int, port: int, listeners: int,
                pcm: bytes, work: Path) -> dict[str, Any]:
    """One room, `listeners` in the crowd, the recording streamed once; the figures."""
    room, started = await api.room()
    ws_base = f"ws://{HOST}:{port}/api/v1/rooms/{room}"
    seconds = len(pcm) / 32_000
    deadline = time.monotonic() + args.connect_timeout + seconds + 120
    ref, joined = Reference(), asyncio.Event()
    reference = asyncio.create_task(
        reference_listener(f"{ws_base}/captions", ref, joined, deadline))
    await asyncio.wait_for(joined.wait(), 30)

    per = [listeners // args.clients + (i < listeners % args.clients)
           for i in range(args.clients)] if listeners else []
    outs = [work / f"crowd-{room}-{i}.json" for i in range(len(per))]
    join_by = time.monotonic() + args.connect_timeout
    server_joins = Meter([server])
    spawned = await asyncio.gather(*(
        spawn_crowd(args, f"{ws_base}/captions", n, join_by, deadline, o)
        for n, o in zip(per, outs, strict=True)))
    procs = [p for p, _ in spawned]
    connect_window = (max((r["done"] for _, r in spawned), default=0.0)
                      - min((r["begun"] for _, r in spawned), default=0.0))
    await asyncio.sleep(SETTLE if listeners else 0.0)
    cpu = {"server_joining": server_joins.read()}
    load = os.getloadavg()
    server_meter, crowd_meter = Meter([server]), Meter([p.pid for p in procs])
    t0 = time.monotonic()
    problems = []
    try:
        speaker = await speak(f"{ws_base}/audio?token={api.tokens['speaker']}", pcm)
    except (OSError, TimeoutError, WebSocketException) as err:
        # A server too busy to let the speaker in is a finding, not a crash of the benchmark.
        problems.append(f"speaker: {type(err).__name__}: {err}")
        speaker = None
    cpu.update(server_streaming=server_meter.read(), crowd_streaming=crowd_meter.read(),
               streaming_wall=round(time.monotonic() - t0, 2))
    try:
        await api.post(f"/{room}/end", "host")
        if speaker is not None:
            await asyncio.wait_for(speaker.wait_closed(), 60)
        await asyncio.wait_for(reference, 60)
    except (httpx.HTTPError, TimeoutError) as err:
        problems.append(f"ending the room: {type(err).__name__}: {err}")
    try:
        # Every crowd listener stops by `deadline` at the latest, then its process reports.
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)),
                               max(1.0, deadline - time.monotonic()) + 30)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    crowds = [json.loads(o.read_text()) for o in outs if o.exists()]
    if len(crowds) < len(outs):
        problems.append(f"{len(outs) - len(crowds)} crowd processes reported nothing")
    report = figures(listeners, ref, started, crowds)
    report.update(connect_s=round(connect_window, 2), load_avg_1m=round(load[0], 2),
                  cpu_s=cpu, problems=problems)
    return report


def figures(listeners: int, ref: Reference, started: float,
            crowds: list[dict[str, Any]]) -> dict[str, Any]:
    first = {seq: mono for seq, (mono, _) in ref.stamps.items()}
    received: list[tuple[int | None, dict[int, float]]] = []
    connect_ms: list[float] = []
    failed = other = 0
    for crowd in crowds:
        connect_ms += crowd["connect_ms"]
        failed += crowd["failed"]
        other += crowd["other_messages"]
        for code, flat in zip(crowd["closes"], crowd["stamps"], strict=True):
            got = dict(zip(map(int, flat[0::2]), flat[1::2], strict=True))
            received.append((code, got))
            for seq, t in got.items():
                first[seq] = min(first.get(seq, t), t)
    # Wall time of a monotonic stamp, from the reference listener's pairs of both.
    offset = statistics.median(w - m for m, w in ref.stamps.values()) if ref.stamps else 0.0
    vs_first: list[float] = []
    vs_reference: list[float] = []
    final_at_listeners: list[float] = []
    closes: dict[str, int] = {}
    missed = served = 0
    for code, got in received:
        closes[str(code)] = closes.get(str(code), 0) + 1
        complete = all(seq in got for seq in ref.stamps)
        missed += not complete
        served += complete and code == ENDED
        for seq, t in got.items():
            vs_first.append(t - first[seq])
            if seq in ref.stamps:
                vs_reference.append(t - ref.stamps[seq][0])
            if seq in ref.final_ends:
                final_at_listeners.append(t + offset - started - ref.final_ends[seq])
    latency = [ref.stamps[seq][1] - started - end for seq, end in ref.final_ends.items()]
    return {
        "listeners": listeners,
        "joined": len(connect_ms),
        "connect_ms": percentiles(connect_ms),
        "events": len(ref.stamps),
        "finals": len(ref.final_ends),
        "deliveries": len(vs_first),
        "other_messages": other,
        # Everyone who did not get every event and the room's end: never in, thrown out, or short.
        "dropped": listeners - served,
        "dropped_detail": {"never_connected": listeners - len(received), "connect_failed": failed,
                           "closes": closes, "missed_events": missed},
        "lag_ms": {"vs_first": percentiles(vs_first, 1000),
                   "vs_reference": percentiles(vs_reference, 1000)},
        "final_latency_s": {"reference": percentiles(latency),
                            "listeners": percentiles(final_at_listeners)},
        "reference_close": ref.close,
    }


def verdict(run: dict[str, Any]) -> dict[str, bool]:
    """The goal, item by item; a figure that could not be measured does not meet it."""
    lag = run["lag_ms"]["vs_first"].get("p99", math.inf) if run["listeners"] else 0.0
    latency = run["final_latency_s"]["reference"]
    return {"all_joined": run["joined"] == run["listeners"],
            "lag_p99": lag <= GOAL["lag_p99_ms"],
            "final_latency_p50": latency.get("p50", math.inf) <= GOAL["final_latency_p50_s"],
            "final_latency_p95": latency.get("p95", math.inf) <= GOAL["final_latency_p95_s"],
            "no_drops": run["dropped"] == 0, "no_problems": not run["problems"]}


def median(values: list[float | None]) -> float | None:
    """Median of the figures that were measured; None when none was."""
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds, per N, and the fan-out CPU per delivery of each round."""
    out: dict[str, Any] = {}
    for n in sorted({r["listeners"] for r in runs}):
        rs = [r for r in runs if r["listeners"] == n]
        out[str(n)] = {
            "joined": min(r["joined"] for r in rs),
            "connect_s": median([r["connect_s"] for r in rs]),
            "lag_p99_ms": median([r["lag_ms"]["vs_first"].get("p99") for r in rs]),
            "final_latency_p50_s": median(
                [r["final_latency_s"]["reference"].get("p50") for r in rs]),
            "final_latency_p95_s": median(
                [r["final_latency_s"]["reference"].get("p95") for r in rs]),
            "dropped": max(r["dropped"] for r in rs),
        }
    per_delivery: list[float | None] = [
        (crowd["cpu_s"]["server_streaming"] - alone["cpu_s"]["server_streaming"])
        / crowd["deliveries"] * 1e6
        for alone, crowd in zip(runs[0::2], runs[1::2], strict=True) if crowd["deliveries"]]
    out["fanout_cpu_us_per_delivery"] = median(per_delivery)
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    recording = RECORDINGS["quick" if args.quick else "full"]
    audio = decode(recording)
    samples = np.concatenate([audio, np.zeros(round(TRAILING_SILENCE * 16_000), np.float32)])
    pcm = (np.clip(samples, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        work = Path(tmp)
        with (work / "server.log").open("wb") as log:
            server = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--serve", "--port", str(port), "--ws", args.ws,
                "--backlog", str(args.backlog), *([] if args.deflate else ["--no-deflate"]),
                *([] if args.roster_delay is None else
                  ["--roster-delay", str(args.roster_delay)]),
                env={**os.environ, "ROOMSCRIBE_DATA_DIR": str(work)},
                stdout=log, stderr=subprocess.STDOUT)
        try:
            async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=60) as http:
                up_by = time.monotonic() + 120
                while True:
                    try:
                        (await http.get("/health")).raise_for_status()
                        break
                    except httpx.TransportError:
                        if server.returncode is not None or time.monotonic() > up_by:
                            raise RuntimeError((work / "server.log").read_text()) from None
                        await asyncio.sleep(0.3)
                api = Api(http)
                await api.account("host", "Host")
                await api.account("speaker", "Speaker")
                runs = []
                for _ in range(args.rounds):
                    for n in (0, args.listeners):
                        runs.append(await phase(args, api, server.pid, port, n, pcm, work))
        finally:
            server.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()
        errors = [line for line in (work / "server.log").read_text().splitlines()
                  if "Traceback" in line or "ERROR" in line]
    crowd_runs = [r for r in runs if r["listeners"] == args.listeners]
    return {
        "recording": recording.name, "seconds": round(audio.size / 16_000, 2),
        "server": {"ws": args.ws, "per_message_deflate": args.deflate, "backlog": args.backlog,
                   "roster_delay_experiment": args.roster_delay,
                   "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                   "log_errors": errors[:5]},
        "clients": args.clients, "batch": args.batch, "cpus": os.cpu_count(),
        "goal": GOAL, "median_over_rounds": summary(runs),
        "meets_goal": {k: all(verdict(r)[k] for r in crowd_runs) for k in verdict(runs[-1])},
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=5000)
    parser.add_argument("--quick", action="store_true",
                        help="the 30 s recording instead of the 122 s one")
    parser.add_argument("--rounds", type=int, default=1, help="N=0 / N=listeners pairs to run")
    parser.add_argument("--clients", type=int, default=2, help="crowd processes")
    parser.add_argument("--batch", type=int, default=200, help="connects in flight per process")
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument("--ws", default="auto", help="uvicorn --ws implementation")
    parser.add_argument("--backlog", type=int, default=2048, help="uvicorn --backlog")
    parser.add_argument("--no-deflate", dest="deflate", action="store_false",
                        help="server without permessage-deflate (the crowd stops offering it)")
    parser.add_argument("--roster-delay", type=float,
                        help="experiment: seconds between roster updates (the server's is 0.2)")
    # The child processes' own arguments.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--crowd", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--join-by", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    limit = raise_fd_limit()
    if args.serve:
        serve(args)
    elif args.crowd:
        # uvloop, as uvicorn uses on the server: less of the measured lag is the client's own.
        uvloop.run(run_crowd(args))
    else:
        needed = args.listeners + 100  # the server holds every listener
        if limit < needed:
            parser.error(f"fd limit {limit} is below the {needed} the server needs")
        print(json.dumps(asyncio.run(bench(args)), indent=2))


if __name__ == "__main__":
    main()
