"""Archive benchmark: final-pass speed, indexing throughput, search latency. Prints JSON.

Final pass: a room of three speakers taking turns is built from the human speech in
../shared/speech/ (each speaker's clips placed on the room clock with gaps, written through
`TrackWriter` in 100 ms chunks), mixed down, and every speaker track read back with `TrackReader`
is transcribed again with tiny.en: sequentially (each whole track through faster-whisper's VAD)
and by the product's final pass (`transcribe_track`: clips at pauses, decoded in batches, each
padded only to its length). Speed is room seconds per wall
second (× real time); word error rate is reported beside it so speed never hides a broken pass.

Indexing: synthetic segments (Zipf-distributed words over a 20,000-word vocabulary in which the
words people search for sit at their English frequency rank; 6–25 words a segment, 400 segments a
room) through the live path (each segment replacing any with its id), once as one caller awaiting
`Index.add` of 500-segment batches in turn and once as 200 rooms handing over one final at a
time each (`Index.add_soon`, which live captions use), timed until every one is searchable; and
through the bulk path (`Index.rebuild`).

Search: realistic queries (words, a phrase, speaker:, room:, a date range, OR, NOT) as an
anonymous visitor, a member and an admin, newest-first and by relevance, over indexes of each
`--sizes` segment count. Indexes are built once into `--cache` and reused (building 1,000,000
segments takes about 15 minutes on 2 cores).

The machine is shared, so beside every wall-clock figure is one from CPU time (this process's
threads; for the final pass divided by the cores, as if it had them to itself), and the load
average before and after.

    .venv/bin/python scripts/bench_archive.py [--sizes 100000,1000000] [--repeat 5]
        [--cache .bench/archive] [--skip final_pass,indexing,search]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.speech import SPEECH_DIR, Clip, clips, wer
from roomscribe.archive.audience import Asker
from roomscribe.archive.documents import SegmentDoc, schema
from roomscribe.archive.index import Index
from roomscribe.archive.search import Order, search_sync
from roomscribe.asr.engine import Transcriber
from roomscribe.asr.offline import transcribe_track
from roomscribe.config import Settings
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE
from roomscribe.recordings.mixdown import mixdown
from roomscribe.recordings.storage import LocalStorage
from roomscribe.recordings.tracks import TrackReader, TrackWriter
from roomscribe.visibility import Visibility

SR = SAMPLE_RATE

GOALS = {"final_pass_x_realtime": 20.0, "indexing_segments_per_s": 2000.0,
         "search_p95_ms_at_1000000": 100.0}

# Synthetic corpus ---------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = _words(
    "the and to of a i you it that in is we this so for on what be have but not with are they "
    "was do just like can about if know there all at my think our one going yeah as or get your "
    "would right need because out from up then well people them now okay how more when time "
    "make see will really some want go here which who these also by were had their could should "
    "us other an been much any way"
)
# Words people search meeting transcripts for, at about their rank in English word-frequency
# lists, so a query for them matches about as much of the corpus as it would in real speech.
WORD_RANKS = {"thing": 150, "work": 160, "next": 200, "call": 300, "read": 350, "week": 400,
              "point": 420, "team": 500, "data": 520, "company": 560, "question": 600,
              "update": 650, "design": 700, "meeting": 720, "story": 780, "product": 800,
              "plan": 820, "book": 850, "issue": 900, "user": 950, "review": 1000,
              "support": 1100, "role": 1200, "fix": 1300, "quarter": 1400, "customer": 1500,
              "release": 1550, "feature": 1700, "cost": 1800, "offer": 1900, "chapter": 2000,
              "feedback": 2200, "author": 2300, "budget": 2500, "priority": 2700,
              "interview": 2800, "launch": 3000, "character": 3200, "candidate": 3500,
              "alert": 4000, "forecast": 4500, "hiring": 5000, "layout": 5500, "deadline": 6000,
              "incident": 6500, "outage": 9000, "roadmap": 12000}
# A room's topic makes its words several times more common there than elsewhere, as in real
# meetings: "budget" and "review" meet in budget reviews, not at random.
TOPICS = {
    "weekly planning": _words("plan week next deadline team priority"),
    "budget review": _words("budget review cost quarter forecast data"),
    "design critique": _words("design review feedback layout user feature"),
    "customer call": _words("customer question issue product support call"),
    "launch retro": _words("launch release team feedback next issue"),
    "hiring sync": _words("hiring candidate interview offer team role"),
    "roadmap": _words("roadmap product quarter plan priority feature"),
    "all hands": _words("team company update question quarter product"),
    "incident review": _words("incident outage data alert fix review"),
    "book club": _words("book chapter read character story author"),
}
TOPIC_SHARE = 0.04  # of a segment's words, drawn from its room's topic
SYLLABLES = _words("ka lo mi ne ru sa ti vo ze pa dor len mar qui bel tas fen gor hil jun")
NAMES = _words("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy "
               "Rupert Sybil Trent Victor Walter Yolanda")
PER_ROOM = 400
CORPUS_VERSION = 3  # bump when the generator changes, so cached indexes are rebuilt


def vocabulary(size: int = 20_000, seed: int = 1) -> list[str]:
    """Words in frequency rank order: function words, words of the speech corpus, made-up words,
    with the words of `WORD_RANKS` moved to their ranks."""
    rng = random.Random(seed)
    words = list(dict.fromkeys(FUNCTION_WORDS))
    reference = " ".join(c.reference for s in ("librispeech_test_clean", "jfk") for c in clips(s))
    words += [w for w in dict.fromkeys(re.findall(r"[a-z']+", reference.lower()))
              if w not in words and w not in WORD_RANKS]
    seen = set(words) | set(WORD_RANKS)
    while len(words) < size - len(WORD_RANKS):
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    for word, rank in sorted(WORD_RANKS.items(), key=lambda item: item[1]):
        words.insert(rank - 1, word)
    return words


def synthetic(count: int, seed: int = 7) -> Iterator[SegmentDoc]:
    """`count` segments in rooms of 400: Zipf words plus the room's topic words, dates over
    2025–2026, a third of the rooms each public, members-only and private."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    index_of = {w: i for i, w in enumerate(words)}
    topics = [(title, np.array([index_of[w] for w in ws])) for title, ws in TOPICS.items()]
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.07
    weights /= weights.sum()
    base = datetime(2025, 1, 1, tzinfo=UTC)
    visibilities = list(Visibility)
    block = 100_000
    title, date, speakers, start, topic = "", base, NAMES[:4], 0.0, topics[0][1]
    for first in range(0, count, block):
        n = min(block, count - first)
        tokens = rng.choice(len(words), size=n * 25, p=weights)
        on_topic = rng.random(size=n * 25) < TOPIC_SHARE
        picks = rng.integers(0, 6, size=n * 25)
        lengths = rng.integers(6, 26, size=n)
        pos = 0
        for j in range(n):
            i = first + j
            room = i // PER_ROOM
            if i % PER_ROOM == 0:
                name, topic = topics[room % len(topics)]
                title = f"{name.title()} #{room}"
                date = base + timedelta(hours=int(rng.integers(0, 2 * 365 * 24)))
                speakers = [NAMES[k] for k in rng.choice(len(NAMES), 4, replace=False)]
                start = 0.0
            length = int(lengths[j])
            span = slice(pos, pos + length)
            chosen = np.where(on_topic[span], topic[picks[span]], tokens[span])
            text = " ".join(words[k] for k in chosen)
            pos += length
            seconds = length * 0.35
            yield SegmentDoc(
                segment_id=f"{room}-{i}", room_id=str(room), room_title=title, room_date=date,
                visibility=visibilities[room % 3], host_id=f"u{room % 50}",
                speaker=speakers[i % 4], start=start, end=start + seconds,
                text=text.capitalize() + ".")
            start += seconds + 0.4


# Final pass ---------------------------------------------------------------------------------

def build_room(storage: LocalStorage, room_id: str) -> tuple[float, dict[str, list[Clip]]]:
    """Three speakers taking turns over the librispeech clips; returns room seconds, clips."""
    pool = clips("librispeech_test_clean") + clips("librivox_sense_sensibility")
    speakers: dict[str, list[Clip]] = {"s0": [], "s1": [], "s2": []}
    writers = {name: TrackWriter(storage, room_id, name) for name in speakers}
    at = 0.5
    chunk = SR // 10
    for i, clip in enumerate(pool):
        name = f"s{i % 3}"
        speakers[name].append(clip)
        audio = ffmpeg.decode(clip.path)
        for k in range(0, audio.size, chunk):
            writers[name].append(audio[k:k + chunk], at=at + k / SR)
        at += audio.size / SR + 0.8  # a pause between turns
    for writer in writers.values():
        writer.close()
    return at, speakers


def sequential_pass(tr: Transcriber, tracks: dict[str, TrackReader]) -> dict[str, str]:
    """Each whole track (silence included) through faster-whisper's VAD and beam search."""
    return {name: " ".join(s.text for s in tr.transcribe(_floats(reader.read())))
            for name, reader in tracks.items()}


def final_pass_of(tr: Transcriber, tracks: dict[str, TrackReader]) -> dict[str, str]:
    """What the product's final pass runs on each track (`transcripts.service.transcribe_track`):
    voice activity cuts the track into clips at pauses, which are decoded several at a time, each
    padded only to its own length. The room's silence is never decoded."""
    return {name: " ".join(s.text for s in transcribe_track(tr, reader))
            for name, reader in tracks.items()}


def _floats(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0


def final_pass(repeat: int) -> dict[str, Any]:
    tr = Transcriber.from_settings(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(Path(tmp))
        room_seconds, speakers = build_room(storage, "bench")
        t0 = time.perf_counter()
        mix = mixdown(storage, "bench", until=room_seconds)
        mix_seconds = time.perf_counter() - t0
        tracks = {name: TrackReader(storage, "bench", name) for name in speakers}
        speech = sum(c.seconds for cs in speakers.values() for c in cs)
        refs = [" ".join(c.reference for c in speakers[name]) for name in speakers]
        passes: dict[str, Callable[[], dict[str, str]]] = {
            "sequential": lambda: sequential_pass(tr, tracks),
            "final_pass": lambda: final_pass_of(tr, tracks),
        }
        times: dict[str, list[float]] = {mode: [] for mode in passes}
        cpu: dict[str, list[float]] = {mode: [] for mode in passes}
        texts: dict[str, dict[str, str]] = {}
        tr.transcribe(_floats(tracks["s0"].read(0.0, 5.0)))  # load and warm the model
        for _ in range(repeat):
            for mode, run in passes.items():
                wall, used = timed(lambda run=run, mode=mode: texts.update({mode: run()}))
                times[mode].append(wall)
                cpu[mode].append(used)
    report: dict[str, Any] = {
        "room_seconds": round(room_seconds, 1),
        "speech_seconds": round(speech, 1),
        "speakers": len(speakers),
        "x_realtime_is": "room seconds per wall second",
        "mixdown_x_realtime": round(room_seconds / mix_seconds, 1),
        "mix_duration": mix.duration,
    }
    for mode, measured in times.items():
        wall = statistics.median(measured)
        cores = len(os.sched_getaffinity(0))
        report[mode] = {"wall_seconds": round(wall, 2),
                        "x_realtime": round(room_seconds / wall, 1),
                        # What the pass would take with the cores to itself.
                        "x_realtime_from_cpu": round(
                            room_seconds / (statistics.median(cpu[mode]) / cores), 1),
                        "x_realtime_speech": round(speech / wall, 1),
                        "wer": round(wer(refs, [texts[mode][name] for name in speakers]), 4)}
    report["speedup"] = round(report["final_pass"]["x_realtime"]
                              / report["sequential"]["x_realtime"], 2)
    report["goal_x_realtime"] = GOALS["final_pass_x_realtime"]
    report["meets_goal"] = report["final_pass"]["x_realtime"] >= GOALS["final_pass_x_realtime"]
    return report


# Indexing -----------------------------------------------------------------------------------

ROOMS_AT_ONCE = 200

def indexing(live_count: int, bulk_count: int) -> dict[str, Any]:
    docs = list(synthetic(max(live_count, bulk_count), seed=11))
    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp) / "live")

        async def live() -> None:
            for i in range(0, live_count, 500):
                await index.add(docs[i:i + 500])

        live_wall, live_cpu = timed(lambda: asyncio.run(live()))
        index.close()
        index = Index(Path(tmp) / "rooms")
        per_room = live_count // ROOMS_AT_ONCE

        async def rooms_at_once() -> None:
            # What live captions meet in service: many rooms' finals, one segment at a time
            # (`add_soon`, as the archive service calls it), timed until all are searchable.
            async def room(k: int) -> None:
                for doc in docs[k * per_room:(k + 1) * per_room]:
                    index.add_soon([doc])
                    await asyncio.sleep(0)

            await asyncio.gather(*(room(k) for k in range(ROOMS_AT_ONCE)))
            await index.flush()

        rooms_wall, rooms_cpu = timed(lambda: asyncio.run(rooms_at_once()))
        index.close()
        index = Index(Path(tmp) / "bulk")
        bulk_wall, bulk_cpu = timed(lambda: index.rebuild(docs[:bulk_count]))
        index.close()
    rates = {
        "live_add_segments_per_s": live_count / live_wall,
        "live_add_segments_per_cpu_s": live_count / live_cpu,
        "live_rooms_at_once_segments_per_s": per_room * ROOMS_AT_ONCE / rooms_wall,
        "live_rooms_at_once_segments_per_cpu_s": per_room * ROOMS_AT_ONCE / rooms_cpu,
        "rebuild_segments_per_s": bulk_count / bulk_wall,
        "rebuild_segments_per_cpu_s": bulk_count / bulk_cpu,
    }
    return {
        **{k: round(v) for k, v in rates.items()},
        "live_add_segments": live_count,
        "live_rooms_at_once": ROOMS_AT_ONCE,
        "rebuild_segments": bulk_count,
        "goal_segments_per_s": GOALS["indexing_segments_per_s"],
        # The service's two ways in: finals as rooms produce them, and rebuilds. The 500-a-commit
        # figure is one caller waiting on each commit in turn, the writer's worst case.
        "meets_goal": min(rates["live_rooms_at_once_segments_per_s"],
                          rates["rebuild_segments_per_s"]) >= GOALS["indexing_segments_per_s"],
    }


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (every thread of this process) that `work` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


# Search -------------------------------------------------------------------------------------

QUERIES = (
    "budget review",
    '"next week"',
    "customer AND release",
    "speaker:alice launch",
    "room:planning deadline",
    "date:[2025-03-01 TO 2025-06-30] design",
    "release OR launch",
    "incident NOT outage",
    "roadmap",
    "product feedback",
)
ASKERS = {"anonymous": Asker(), "member": Asker("u7"), "admin": Asker("root", admin=True)}


def cached_index(cache: Path, size: int) -> tuple[Index, float | None]:
    """The index of `size` synthetic segments, built on first use, and its build rate if built."""
    fields = sorted((name, type(field).__name__) for name, field in schema().items())
    key = hashlib.sha256(f"{CORPUS_VERSION}{fields}{size}".encode()).hexdigest()[:12]
    folder = cache / f"{size}-{key}"
    done = folder / "BUILT"
    built_rate = None
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        index = Index(folder)
        t0 = time.perf_counter()
        index.rebuild(synthetic(size))
        built_rate = size / (time.perf_counter() - t0)
        index.close()
        done.write_text(json.dumps({"segments": size, "segments_per_s": built_rate}))
    return Index(folder), built_rate


def search_latency(cache: Path, size: int, repeat: int) -> dict[str, Any]:
    index, built_rate = cached_index(cache, size)
    samples: list[float] = []
    cpu_samples: list[float] = []
    per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
    totals: dict[str, int] = {}
    try:
        for q in QUERIES:  # warm the page cache and whoosh's lexicons
            search_sync(index, q, asker=ASKERS["member"])
        for _ in range(repeat):
            for order in Order:
                for asker_name, asker in ASKERS.items():
                    for q in QUERIES:
                        t0, c0 = time.perf_counter(), time.thread_time()
                        page = search_sync(index, q, asker=asker, order=order)
                        elapsed = (time.perf_counter() - t0) * 1000
                        samples.append(elapsed)
                        cpu_samples.append((time.thread_time() - c0) * 1000)
                        per_query[q].append(elapsed)
                        if asker_name == "admin":
                            totals[q] = page.total
        segments = index.doc_count()
    finally:
        index.close()
    quantiles = statistics.quantiles(samples, n=100)
    report: dict[str, Any] = {
        "segments": segments,
        "searches": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(quantiles[94], 1),
        "max_ms": round(max(samples), 1),
        "cpu_p50_ms": round(statistics.median(cpu_samples), 1),
        "cpu_p95_ms": round(statistics.quantiles(cpu_samples, n=100)[94], 1),
        "per_query_p50_ms": {q: round(statistics.median(v), 1) for q, v in per_query.items()},
        "matches_for_admin": totals,
    }
    if built_rate is not None:
        report["built_segments_per_s"] = round(built_rate)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(".bench/archive"))
    parser.add_argument("--skip", default="", help="comma-separated: final_pass,indexing,search")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if not SPEECH_DIR.exists():
        sys.exit(f"the speech corpus is missing at {SPEECH_DIR}")
    # Other work on the machine slows every wall-clock figure; CPU figures are beside them.
    report: dict[str, Any] = {"goals": GOALS, "cpus": os.cpu_count(),
                              "load_average_at_start": os.getloadavg()}
    if "final_pass" not in skip:
        report["final_pass"] = final_pass(max(1, min(args.repeat, 3)))
    if "indexing" not in skip:
        report["indexing"] = indexing(live_count=20_000, bulk_count=50_000)
    if "search" not in skip:
        args.cache.mkdir(parents=True, exist_ok=True)
        report["search"] = {}
        for size in (int(s) for s in args.sizes.split(",") if s):
            report["search"][str(size)] = search_latency(args.cache, size, args.repeat)
        big = report["search"].get("1000000")
        if big:
            big["meets_goal"] = big["p95_ms"] <= GOALS["search_p95_ms_at_1000000"]
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
