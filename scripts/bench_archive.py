"""Archive benchmark: final-pass speed, indexing throughput, search latency. Prints JSON.

Final pass: a room of three speakers taking turns is built from the human speech in
../shared/speech/ (each speaker's clips placed on the room clock with gaps, written through
`TrackWriter` in 100 ms chunks), mixed down, and every speaker track read back with `TrackReader`
is transcribed again with tiny.en, sequentially and with the batched pipeline. Speed is room
seconds per wall second (× real time); word error rate is reported beside it so speed never hides
a broken pass.

Indexing: synthetic segments (Zipf-distributed words over a 20,000-word vocabulary, 6–25 words
each, 400 per room) through the live path (`await Index.add` in 500-segment batches, each segment
replacing any with its id) and the bulk path (`Index.rebuild`).

Search: realistic queries (words, a phrase, speaker:, room:, a date range, OR, NOT) as an
anonymous visitor, a member and an admin, newest-first and by relevance, over indexes of each
`--sizes` segment count. Indexes are built once into `--cache` and reused (building 1,000,000
segments takes about 15 minutes on 2 cores).

    .venv/bin/python scripts/bench_archive.py [--sizes 100000,1000000] [--repeat 5]
        [--cache .bench/archive] [--skip final_pass,indexing,search]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.speech import SPEECH_DIR, Clip, clips, wer
from roomscribe.archive.index import Index, SegmentDoc, Visibility, schema
from roomscribe.archive.search import Asker, Order, search_sync
from roomscribe.config import Settings
from roomscribe.media import ffmpeg
from roomscribe.recordings.mixdown import mixdown
from roomscribe.recordings.storage import LocalStorage
from roomscribe.recordings.tracks import TrackReader, TrackWriter
from roomscribe.transcription.engine import Transcriber

GOALS = {"final_pass_x_realtime": 20.0, "indexing_segments_per_s": 2000.0,
         "search_p95_ms_at_1000000": 100.0}

# Synthetic corpus ---------------------------------------------------------------------------

def _words(text: str) -> list[str]:
    return text.split()


COMMON = _words(
    "the and to of a i you it that in is we this so for on what be have but not with are they "
    "was do just like can about if know there all at my think our one going yeah as or get your "
    "would right need because out from up then well people them now okay how more when time "
    "make see will really some want go here which who these also by were had their could should "
    "us other an been much any way thing work team next week budget review plan launch customer "
    "release meeting question point data product design"
)
SYLLABLES = _words("ka lo mi ne ru sa ti vo ze pa dor len mar qui bel tas fen gor hil jun")
NAMES = _words("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia Peggy "
               "Rupert Sybil Trent Victor Walter Yolanda")
TOPICS = ("weekly planning", "budget review", "design critique", "customer call", "launch retro",
          "hiring sync", "roadmap", "all hands", "incident review", "book club")
PER_ROOM = 400
CORPUS_VERSION = 1  # bump when the generator changes, so cached indexes are rebuilt


def vocabulary(size: int = 20_000, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    words = list(dict.fromkeys(COMMON))
    reference = " ".join(c.reference for s in ("librispeech_test_clean", "jfk") for c in clips(s))
    words += [w for w in dict.fromkeys(re.findall(r"[a-z']+", reference.lower()))
              if w not in words]
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def synthetic(count: int, seed: int = 7) -> Iterator[SegmentDoc]:
    """`count` segments in rooms of 400, Zipf words, dates over 2025–2026, visibility 1/3 each."""
    rng = np.random.default_rng(seed)
    words = vocabulary()
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.07
    weights /= weights.sum()
    base = datetime(2025, 1, 1, tzinfo=UTC)
    visibilities = list(Visibility)
    block = 100_000
    title, date, speakers, start = "", base, NAMES[:4], 0.0
    for first in range(0, count, block):
        n = min(block, count - first)
        tokens = rng.choice(len(words), size=n * 25, p=weights)
        lengths = rng.integers(6, 26, size=n)
        pos = 0
        for j in range(n):
            i = first + j
            room = i // PER_ROOM
            if i % PER_ROOM == 0:
                title = f"{TOPICS[room % len(TOPICS)].title()} #{room}"
                date = base + timedelta(hours=int(rng.integers(0, 2 * 365 * 24)))
                speakers = [NAMES[k] for k in rng.choice(len(NAMES), 4, replace=False)]
                start = 0.0
            length = int(lengths[j])
            text = " ".join(words[k] for k in tokens[pos:pos + length])
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
    chunk = ffmpeg.SAMPLE_RATE // 10
    for i, clip in enumerate(pool):
        name = f"s{i % 3}"
        speakers[name].append(clip)
        audio = ffmpeg.decode(clip.path)
        for k in range(0, audio.size, chunk):
            writers[name].append(audio[k:k + chunk], at=at + k / ffmpeg.SAMPLE_RATE)
        at += audio.size / ffmpeg.SAMPLE_RATE + 0.8  # a pause between turns
    for writer in writers.values():
        writer.close()
    return at, speakers


def final_pass(repeat: int, batch_size: int) -> dict[str, Any]:
    tr = Transcriber.from_settings(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(Path(tmp))
        room_seconds, speakers = build_room(storage, "bench")
        t0 = time.perf_counter()
        mix = mixdown(storage, "bench")
        mix_seconds = time.perf_counter() - t0
        tracks = {name: TrackReader(storage, "bench", name) for name in speakers}
        audio = {name: r.read().astype(np.float32) / 32768.0 for name, r in tracks.items()}
    speech = sum(c.seconds for cs in speakers.values() for c in cs)
    refs = [" ".join(c.reference for c in speakers[name]) for name in speakers]
    runs: dict[str, list[float]] = {"sequential": [], "batched": []}
    texts: dict[str, list[str]] = {}
    tr.transcribe(audio["s0"][: ffmpeg.SAMPLE_RATE * 5])  # load and warm the model
    for _ in range(repeat):
        for mode in runs:
            t0 = time.perf_counter()
            out = [tr.transcribe(audio[name], batch_size=batch_size if mode == "batched" else 0)
                   for name in speakers]
            runs[mode].append(time.perf_counter() - t0)
            texts[mode] = [" ".join(s.text for s in segs) for segs in out]
    report: dict[str, Any] = {
        "room_seconds": round(room_seconds, 1),
        "speech_seconds": round(speech, 1),
        "track_seconds": round(sum(a.size for a in audio.values()) / ffmpeg.SAMPLE_RATE, 1),
        "speakers": len(speakers),
        "mixdown_x_realtime": round(room_seconds / mix_seconds, 1),
        "mix_duration": mix.duration,
    }
    for mode, times in runs.items():
        wall = statistics.median(times)
        report[mode] = {"wall_seconds": round(wall, 2),
                        "x_realtime": round(room_seconds / wall, 1),
                        "x_realtime_speech": round(speech / wall, 1),
                        "wer": round(wer(refs, texts[mode]), 4)}
    best = max(report["sequential"]["x_realtime"], report["batched"]["x_realtime"])
    report["goal_x_realtime"] = GOALS["final_pass_x_realtime"]
    report["meets_goal"] = best >= GOALS["final_pass_x_realtime"]
    return report


# Indexing -----------------------------------------------------------------------------------

def indexing(live_count: int, bulk_count: int) -> dict[str, Any]:
    docs = list(synthetic(max(live_count, bulk_count), seed=11))
    with tempfile.TemporaryDirectory() as tmp:
        index = Index(Path(tmp) / "live")

        async def live() -> float:
            t0 = time.perf_counter()
            for i in range(0, live_count, 500):
                await index.add(docs[i:i + 500])
            return time.perf_counter() - t0

        live_seconds = asyncio.run(live())
        index.close()
        index = Index(Path(tmp) / "bulk")
        t0 = time.perf_counter()
        index.rebuild(docs[:bulk_count])
        bulk_seconds = time.perf_counter() - t0
        index.close()
    live_rate, bulk_rate = live_count / live_seconds, bulk_count / bulk_seconds
    return {
        "live_add_segments_per_s": round(live_rate),
        "live_add_segments": live_count,
        "rebuild_segments_per_s": round(bulk_rate),
        "rebuild_segments": bulk_count,
        "goal_segments_per_s": GOALS["indexing_segments_per_s"],
        "meets_goal": min(live_rate, bulk_rate) >= GOALS["indexing_segments_per_s"],
    }


# Search -------------------------------------------------------------------------------------

QUERIES = (
    "budget review",
    '"next week"',
    "customer AND release",
    "speaker:alice launch",
    "room:planning question",
    "date:[2025-03-01 TO 2025-06-30] design",
    "release OR launch",
    "product NOT budget",
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
    per_query: dict[str, list[float]] = {q: [] for q in QUERIES}
    totals: dict[str, int] = {}
    try:
        for q in QUERIES:  # warm the page cache and whoosh's lexicons
            search_sync(index, q, asker=ASKERS["member"])
        for _ in range(repeat):
            for order in Order:
                for asker_name, asker in ASKERS.items():
                    for q in QUERIES:
                        t0 = time.perf_counter()
                        page = search_sync(index, q, asker=asker, order=order)
                        elapsed = (time.perf_counter() - t0) * 1000
                        samples.append(elapsed)
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
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=Path(".bench/archive"))
    parser.add_argument("--skip", default="", help="comma-separated: final_pass,indexing,search")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if not SPEECH_DIR.exists():
        sys.exit(f"the speech corpus is missing at {SPEECH_DIR}")
    report: dict[str, Any] = {"goals": GOALS}
    if "final_pass" not in skip:
        report["final_pass"] = final_pass(max(1, min(args.repeat, 3)), args.batch_size)
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
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
