"""Live captions benchmark: latency, accuracy and capacity of the LiveEngine against the common way.

Human recordings from ../shared/speech/ are played into live streams in real time (100 ms chunks on
a wall-clock schedule, streams started a little apart), and every caption event is stamped with the
wall time it reached its sink. Room time t is wall time t0 + t, so:

- final latency: emitted − (t0 + end of the event's last word), over final events; p50 and p95;
- first-partial latency: for each final word, the first event (partial, or final if none came
  before) that showed it, minus the word's end; p50;
- live WER: each stream's finals against the references of the clips it played; offline WER: the
  same clips through `Transcriber.transcribe` with default options, which is what
  `roomscribe transcribe` runs;
- capacity: the most concurrent streams with final p95 ≤ 2.5 s and no audio dropped (every pushed
  sample heard by the end of finish()), found by stepping the stream count up from the target (8)
  until a run fails, or down when 8 fails.

The baseline is whisper_streaming's OnlineASRProcessor as its faster-whisper backend runs it: every
second, transcribe the audio since the last trim, padded by faster-whisper to a 30 s window (beam 5,
word timestamps, previous text as prompt, no VAD), commit by LocalAgreement-2, trim completed
segments past 15 s. It runs on the same model, in the same process and the same run, so the
capacity ratio holds on a noisy machine; its pool is 1 worker of 2 threads, the shape that suits
it (one 30 s window encodes in about 0.45 s on both cores, twice as fast as on one).

    .venv/bin/python scripts/bench_live.py [--quick] [--seconds 30] [--workers 2]
        [--compare-workers] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.speech import Clip, clips, normalize, wer
from roomscribe.asr.engine import Transcriber
from roomscribe.asr.results import Word
from roomscribe.asr.streaming import agreed
from roomscribe.captions.events import CaptionEvent, CaptionSink, LiveStream, Sequencer, Speaker
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.config import Settings
from roomscribe.media import ffmpeg

SR = ffmpeg.SAMPLE_RATE
CHUNK = 0.1  # seconds per push, what a browser client sends
GAP = 0.8  # seconds of silence between the clips a stream plays
TARGET_P95 = 2.5
SETS = ("librispeech_test_clean", "librivox_sense_sensibility", "jfk")

Audio = npt.NDArray[np.float32]


@dataclass
class Track:
    """What one stream plays: clips joined by GAP seconds of silence, and their references."""

    audio: Audio
    clips: list[Clip]


def make_tracks(n: int, seconds: float, pool: list[Clip], audios: dict[Path, Audio],
                *, exact: bool = False) -> list[Track]:
    """n tracks of whole clips, each at least `seconds` long (or, with `exact`, the pool dealt
    out once across the n tracks), starting at different places in the pool."""
    tracks = []
    for i in range(n):
        chosen: list[Clip] = []
        if exact:
            chosen = pool[i::n]
        else:
            k = (i * 7) % len(pool)
            while sum(c.seconds + GAP for c in chosen) < seconds:
                chosen.append(pool[k % len(pool)])
                k += 1
        gap = np.zeros(int(GAP * SR), dtype=np.float32)
        pieces = [gap]
        for clip in chosen:
            pieces += [audios[clip.path], gap]
        tracks.append(Track(np.concatenate(pieces), chosen))
    return tracks


class Opener(Protocol):
    def open(self, *, room: str, speaker: Speaker, origin: float,
             sink: CaptionSink) -> LiveStream: ...


@dataclass
class RunResult:
    streams: int
    audio_seconds: float
    wall_seconds: float
    final_p50: float
    final_p95: float
    first_partial_p50: float
    wer: float
    offline_wer: float
    dropped_seconds: float
    finish_seconds_max: float
    cpu_util: float
    """This process's CPU time over wall time, as a share of all cores."""
    cpu_per_audio_second: float
    """CPU seconds this process spent per second of audio played: the cost, whatever the load."""
    load_average: float
    """The machine's 1-minute load average when the run ended (2.0 = both cores busy)."""
    seq_gap_free: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.final_p95 <= TARGET_P95 and self.dropped_seconds == 0

    def json(self) -> dict[str, Any]:
        out = {k: (round(v, 4) if isinstance(v, float) else v)
               for k, v in self.__dict__.items() if k != "extra"}
        return {**out, **self.extra, "meets_capacity_criteria": self.ok}


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _plain(text: str) -> str:
    return normalize(text).replace(" ", "")


async def paced_run(opener: Opener, tracks: list[Track], offline: dict[Path, str],
                    heard: Callable[[], float]) -> RunResult:
    """Play `tracks` concurrently in real time through `opener`; measure what came out."""
    loop = asyncio.get_running_loop()
    n = len(tracks)
    stamped: list[tuple[float, int, CaptionEvent]] = []
    t0 = loop.time() + 0.3
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def sink_for(i: int) -> CaptionSink:
        async def sink(event: CaptionEvent) -> None:
            stamped.append((loop.time(), i, event))
        return sink

    finish_times: list[float] = []

    async def play(i: int, track: Track) -> None:
        start = i / n  # streams start spread over one second, as real speakers do
        stream = opener.open(room=f"room{i // 4}", speaker=Speaker(str(i), f"speaker {i}"),
                             origin=start, sink=sink_for(i))
        step = int(CHUNK * SR)
        for k in range(0, track.audio.size, step):
            await asyncio.sleep(max(0.0, t0 + start + (k + step) / SR - loop.time()))
            stream.push(track.audio[k: k + step])
        ended = loop.time()
        await stream.finish()
        finish_times.append(loop.time() - ended)

    await asyncio.gather(*(play(i, t) for i, t in enumerate(tracks)))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0

    finals = [(at, i, e) for at, i, e in stamped if e.type == "final" and e.words]
    final_lat = [at - (t0 + e.end) for at, _, e in finals]
    first_lat = []
    for at, i, e in finals:
        for w in e.words:
            seen = [a for a, j, x in stamped if j == i and a <= at and any(
                _plain(y.text) == _plain(w.text) and y.start < w.end + 0.3 and y.end > w.start - 0.3
                for y in x.words)]
            first_lat.append(min(seen, default=at) - (t0 + w.end))
    hyps = [" ".join(e.text for _, j, e in finals if j == i) for i in range(n)]
    refs = [" ".join(c.reference for c in t.clips) for t in tracks]
    offline_hyps = [" ".join(offline[c.path] for c in t.clips) for t in tracks]
    seqs: dict[str, list[int]] = {}
    for _, _, e in sorted(stamped, key=lambda s: s[0]):
        seqs.setdefault(e.room, []).append(e.seq)
    audio_seconds = sum(t.audio.size for t in tracks) / SR
    return RunResult(
        streams=n, audio_seconds=audio_seconds, wall_seconds=wall,
        final_p50=_percentile(final_lat, 50), final_p95=_percentile(final_lat, 95),
        first_partial_p50=_percentile(first_lat, 50),
        wer=wer(refs, hyps), offline_wer=wer(refs, offline_hyps),
        dropped_seconds=round(max(0.0, audio_seconds - heard()), 3),
        finish_seconds_max=max(finish_times), cpu_util=cpu / wall / (os.cpu_count() or 1),
        cpu_per_audio_second=cpu / audio_seconds, load_average=os.getloadavg()[0],
        seq_gap_free=all(s == list(range(len(s))) for s in seqs.values()),
    )


# -- the baseline: whisper_streaming's OnlineASRProcessor, 30 s padded windows every second -------


class _Padded:
    """One stream the whisper_streaming way (after ufal/whisper_streaming, MIT), on our model."""

    def __init__(self, owner: PaddedBaseline, room: str, speaker: Speaker, origin: float,
                 sink: CaptionSink) -> None:
        self.owner, self.room, self.speaker, self.sink = owner, room, speaker, sink
        self.origin = origin
        self.pending: list[Audio] = []
        self.buffer = np.zeros(0, dtype=np.float32)
        self.offset = origin  # room time of buffer[0]
        self.committed: list[Word] = []
        self.tail: list[Word] = []  # the previous hypothesis after the committed words
        self.heard = 0.0
        self.ended = False
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._loop())

    def push(self, pcm: Audio) -> None:
        self.pending.append(pcm)
        if sum(p.size for p in self.pending) >= SR:  # min_chunk_size = 1 s
            self.wake.set()

    async def finish(self) -> None:
        self.ended = True
        self.wake.set()
        await self.task

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            last = self.ended
            if self.pending:
                new = np.concatenate(self.pending)
                self.pending = []
                self.buffer = np.concatenate([self.buffer, new])
                self.heard += new.size / SR
                captions = await loop.run_in_executor(self.owner.pool, self._iterate, last)
                for final, words in captions:
                    await self.sink(CaptionEvent(
                        type="final" if final else "partial", room=self.room,
                        seq=self.owner.sequencer.next(self.room), speaker=self.speaker,
                        start=words[0].start if words else self.offset,
                        end=words[-1].end if words else self.offset,
                        text=" ".join(w.text for w in words), words=tuple(words)))
            if last and not self.pending:
                return
            if self.ended or sum(p.size for p in self.pending) >= SR:
                self.wake.set()

    def _iterate(self, last: bool) -> list[tuple[bool, list[Word]]]:
        """process_iter (and finish, when `last`): blocking, in a worker thread."""
        floor = self.committed[-1].end if self.committed else 0.0
        before = [w.text for w in self.committed if w.end <= self.offset]
        prompt = " ".join(before)[-200:]
        segments, _ = self.owner.transcriber.model.transcribe(
            self.buffer, language="en", initial_prompt=prompt or None, beam_size=5,
            word_timestamps=True, condition_on_previous_text=True)
        segments = list(segments)
        words = [Word(self.offset + w.start, self.offset + w.end, w.word.strip(), w.probability)
                 for s in segments for w in (s.words or ()) if w.word.strip()]
        words = [w for w in words if w.start > floor - 0.1]
        if words and self.committed and abs(words[0].start - floor) < 1:
            # Drop 1–5 words that repeat the end of the committed text (whisper_streaming's seam).
            for k in range(min(5, len(words), len(self.committed)), 0, -1):
                if [_plain(w.text) for w in words[:k]] == \
                        [_plain(w.text) for w in self.committed[-k:]]:
                    words = words[k:]
                    break
        n = len(words) if last else agreed(tuple(self.tail), tuple(words))
        commit, self.tail = words[:n], words[n:]
        self.committed += commit
        out: list[tuple[bool, list[Word]]] = []
        if commit:
            out.append((True, commit))
        if not last:
            out.append((False, self.tail))
        if self.buffer.size / SR > 15 and self.committed and len(segments) > 1:
            # Trim at the end of the last completed segment inside the committed text.
            ends = [self.offset + s.end for s in segments[:-1]]
            cut = max((e for e in ends if e <= self.committed[-1].end), default=None)
            if cut is not None:
                self.buffer = self.buffer[int((cut - self.offset) * SR):]
                self.offset = cut
        return out


class PaddedBaseline:
    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self.pool = ThreadPoolExecutor(max_workers=transcriber.num_workers)
        self.sequencer = Sequencer()
        self.streams: list[_Padded] = []

    def open(self, *, room: str, speaker: Speaker, origin: float,
             sink: CaptionSink) -> LiveStream:
        stream = _Padded(self, room, speaker, origin, sink)
        self.streams.append(stream)
        return stream

    def heard(self) -> float:
        return sum(s.heard for s in self.streams)


# -- driving ------------------------------------------------------------------------------------


async def live_run(transcriber: Transcriber, tracks: list[Track],
                   offline: dict[Path, str]) -> RunResult:
    engine = LiveEngine(transcriber)
    async with engine:
        result = await paced_run(engine, tracks, offline, lambda: engine.stats.heard_seconds)
    stats = engine.stats
    result.extra = {
        "model_batches": stats.batches, "windows": stats.windows,
        "mean_batch": round(stats.windows / max(1, stats.batches), 2),
        "max_backlog_seconds": round(stats.max_backlog, 2),
        "mean_window_seconds": round(stats.window_seconds / max(1, stats.windows), 2),
    }
    return result


async def baseline_run(transcriber: Transcriber, tracks: list[Track],
                       offline: dict[Path, str]) -> RunResult:
    baseline = PaddedBaseline(transcriber)
    try:
        return await paced_run(baseline, tracks, offline, baseline.heard)
    finally:
        baseline.pool.shutdown(wait=True)


Runner = Callable[[Transcriber, list[Track], dict[Path, str]], Awaitable[RunResult]]


async def capacity(runner: Runner, transcriber: Transcriber, start: int, step: int,
                   seconds: float, pool: list[Clip], audios: dict[Path, Audio],
                   offline: dict[Path, str], log: Callable[[str], None]) -> dict[str, Any]:
    """Step up from `start` until a run fails its criteria, or down when `start` fails."""
    runs: dict[int, RunResult] = {}

    async def at(n: int) -> RunResult:
        if n not in runs:
            runs[n] = await runner(transcriber, make_tracks(n, seconds, pool, audios), offline)
            log(json.dumps({"streams": n, **runs[n].json()}))
        return runs[n]

    n = start
    if (await at(n)).ok:
        while (await at(n + step)).ok:
            n += step
        best = n
    else:
        best = 0
        while n > 1:
            n = max(1, n - step)
            if (await at(n)).ok:
                best = n
                break
    return {"streams": best, "runs": [runs[k].json() for k in sorted(runs)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short runs, fewer steps (about 3 minutes)")
    parser.add_argument("--seconds", type=float, help="audio per stream in capacity runs")
    parser.add_argument("--workers", type=int, default=2, help="model replicas (threads each: "
                        "asr_threads // workers)")
    parser.add_argument("--compare-workers", action="store_true",
                        help="also run 8 streams with the other pool shape (1×2 vs 2×1)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--streams", help="comma-separated stream counts to run instead of the "
                        "capacity search (skips the accuracy run and the baseline)")
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 30.0)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    settings = Settings()
    transcriber = Transcriber.from_settings(settings, num_workers=args.workers)
    pool = [c for s in SETS for c in clips(s)]
    audios = {c.path: ffmpeg.decode(c.path) for c in pool}
    transcriber.transcribe(audios[pool[0].path])  # warm-up
    started = time.perf_counter()
    offline = {c.path: " ".join(s.text for s in transcriber.transcribe(audios[c.path]))
               for c in pool}
    offline_seconds = time.perf_counter() - started
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "model": settings.asr_model, "compute_type": "int8",
        "pool": {"workers": transcriber.num_workers, "cpu_threads": transcriber.cpu_threads},
        "offline": {"clips": len(pool), "wer": round(wer([c.reference for c in pool],
                                                         [offline[c.path] for c in pool]), 4),
                    "x_realtime": round(sum(a.size for a in audios.values()) / SR
                                        / offline_seconds, 1)},
    }

    async def fixed(counts: list[int]) -> None:
        report["runs"] = []
        for n in counts:
            result = await live_run(transcriber, make_tracks(n, seconds, pool, audios), offline)
            report["runs"].append(result.json())
            log(json.dumps(report["runs"][-1]))

    if args.streams:
        asyncio.run(fixed([int(n) for n in args.streams.split(",")]))
        print(json.dumps(report, indent=2))
        return

    async def run() -> None:
        # Accuracy: the whole corpus once, dealt over 4 concurrent streams.
        n_acc = 2 if args.quick else 4
        acc_pool = pool[::2] if args.quick else pool
        accuracy = await live_run(transcriber, make_tracks(n_acc, 0, acc_pool, audios, exact=True),
                                  offline)
        report["accuracy"] = accuracy.json()
        report["accuracy"]["wer_gap_points"] = round(100 * (accuracy.wer - accuracy.offline_wer), 2)
        log(json.dumps({"accuracy": report["accuracy"]}))
        live = await capacity(live_run, transcriber, 8, 4 if args.quick else 2, seconds, pool,
                              audios, offline, log)
        report["live"] = live
        if not args.no_baseline:
            padded = Transcriber.from_settings(settings, num_workers=1)
            base = await capacity(baseline_run, padded, 1, 1, seconds, pool, audios,
                                  offline, log)
            base["pool"] = {"workers": padded.num_workers, "cpu_threads": padded.cpu_threads}
            report["baseline"] = base
            report["capacity_ratio"] = (round(live["streams"] / base["streams"], 1)
                                        if base["streams"] else None)
        if args.compare_workers:
            other = 1 if transcriber.num_workers > 1 else 2
            alt = Transcriber.from_settings(settings, num_workers=other)
            result = await live_run(alt, make_tracks(8, seconds, pool, audios), offline)
            report["other_pool_at_8_streams"] = {
                "workers": alt.num_workers, "cpu_threads": alt.cpu_threads, **result.json()}
            log(json.dumps(report["other_pool_at_8_streams"]))

    asyncio.run(run())
    at8 = next((r for r in report["live"]["runs"] if r["streams"] == 8), None)
    report["targets"] = {
        "final_p50_le_1.5s_at_8_streams": bool(at8 and at8["final_p50"] <= 1.5),
        "final_p95_le_2.5s_at_8_streams": bool(at8 and at8["final_p95"] <= 2.5),
        "first_partial_p50_le_1.0s_at_8_streams": bool(at8 and at8["first_partial_p50"] <= 1.0),
        "live_wer_within_1.5_points_of_offline": report["accuracy"]["wer_gap_points"] <= 1.5,
        "capacity_ge_8": report["live"]["streams"] >= 8,
        "capacity_ge_5x_baseline": (report["live"]["streams"] >= 5 * report["baseline"]["streams"]
                                    if "baseline" in report else None),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
