"""Captions in other languages with the multilingual `base` model: accuracy offline and live,
live latency, concurrent streams, and the English track.

Real speech: the Common Voice clips of ../shared/speech/multilingual/ (3 per language, 9
languages). Each language's stream is its three clips one after another (GAP seconds apart),
played into the live engine in real time (100 ms chunks on a wall-clock schedule); room time is
the stream's time, so a final's latency is the wall time it reached the sink minus the wall time
its last word was spoken.

- offline: each clip as the final pass hears it (speech cut at pauses, one batch, beam 5);
- live: the finals of the stream; both scored with Whisper's basic (multilingual) normaliser,
  WER, or CER for Chinese and Japanese (written without spaces);
- latency: final latency p50/p95 per language, with `--per-round` streams at once;
- capacity: streams at once (different languages), stepped up from 2; the largest count whose
  final p95 stays within 2.5 s;
- English track: each clip through `translate`; the share of clips whose text is English (ASCII
  letters and at least one English function word). The corpus has no English references, so
  there is no BLEU (`bleu: null`).

- decode cost (`--decode-cost zh,es`): each language alone, its decoder calls timed, for a
  language whose latency stands out (why Chinese's p95 passes the target alone).

    .venv/bin/python scripts/bench_languages.py [--streams 2,4,6] [--per-round 4]
    .venv/bin/python scripts/bench_languages.py --decode-cost zh,es [--beam 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.speech import error_rate, in_language, is_english, multilingual
from roomscribe.asr.engine import Transcriber, Window
from roomscribe.asr.offline import BATCH_SIZE, DECODING, speech_clips
from roomscribe.asr.vad import SileroVad
from roomscribe.captions.events import CaptionEvent, Speaker
from roomscribe.captions.live_engine import LiveEngine
from roomscribe.config import Settings
from roomscribe.media.ffmpeg import decode

GAP = 0.6
CHUNK = 0.1
TARGET = 2.5


def languages() -> list[str]:
    return sorted({clip.set for clip in multilingual()})


def stream_audio(language: str) -> tuple[npt.NDArray[np.float32], list[str]]:
    clips = in_language(language)
    pause = np.zeros(int(GAP * 16_000), dtype=np.float32)
    audio = np.concatenate([p for clip in clips for p in (decode(clip.path), pause)])
    return audio, [clip.reference for clip in clips]


def offline(model: Transcriber) -> dict[str, Any]:
    out: dict[str, Any] = {}
    detector = SileroVad()
    for language in languages():
        refs, hyps, english, seconds, took = [], [], 0, 0.0, 0.0
        for clip in in_language(language):
            audio = decode(clip.path)
            start = time.perf_counter()
            heard = model.transcribe(audio, options=replace(DECODING, language=language),
                                     batch_size=BATCH_SIZE, clips=speech_clips(audio, detector))
            took += time.perf_counter() - start
            seconds += audio.size / 16_000
            refs.append(clip.reference)
            hyps.append(" ".join(s.text for s in heard))
            (translated,) = model.hypothesize(
                [Window(audio=audio, offset=0.0, final=True, language=language,
                        task="translate")], beam_size=5, whole=True)
            english += is_english(translated.text)
        out[language] = {"offline_error": round(error_rate(language, refs, hyps), 3),
                         "metric": "cer" if language in ("zh", "ja") else "wer",
                         "offline_x_realtime": round(seconds / took, 1),
                         "english_track_english": round(english / len(refs), 2),
                         "bleu": None}
    return out


async def play(engine: LiveEngine, room: str, language: str,
               audio: npt.NDArray[np.float32], t0: float
               ) -> list[tuple[float, CaptionEvent]]:
    got: list[tuple[float, CaptionEvent]] = []

    async def sink(event: CaptionEvent) -> None:
        got.append((time.perf_counter(), event))

    stream = engine.open(room=room, speaker=Speaker(language, language), origin=0.0, sink=sink,
                         language=language)
    step = int(CHUNK * 16_000)
    for n, at in enumerate(range(0, audio.size, step)):
        await asyncio.sleep(max(0.0, t0 + n * CHUNK - time.perf_counter()))
        stream.push(audio[at: at + step])
    await stream.finish()
    return got


async def live_round(engine: LiveEngine, langs: list[str]) -> dict[str, dict[str, Any]]:
    audio = {language: stream_audio(language) for language in langs}
    t0 = time.perf_counter() + 0.5
    results = await asyncio.gather(*(play(engine, f"room-{language}", language,
                                          audio[language][0], t0 + 0.2 * i)
                                     for i, language in enumerate(langs)))
    out = {}
    for i, (language, got) in enumerate(zip(langs, results, strict=True)):
        finals = [(at, e) for at, e in got if e.type == "final"]
        lags = [at - (t0 + 0.2 * i + e.end) for at, e in finals]
        out[language] = {
            "live_error": round(error_rate(language, [" ".join(audio[language][1])],
                                           [" ".join(e.text for _, e in finals)]), 3),
            "lags": lags,
        }
    return out


class _TimedDecoder:
    """The CTranslate2 model with its `generate` calls timed (the decoder's share of a step)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[float, int]] = []
        """(seconds, max_length) per call: the cap grows with the prompt and the window."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = self.inner.generate(*args, **kwargs)
        self.calls.append((time.perf_counter() - started, int(kwargs.get("max_length", 0))))
        return out


async def decode_cost(model: Transcriber, langs: list[str], beam: int) -> dict[str, Any]:
    timed = _TimedDecoder(model.model.model)
    model.model.model = timed
    out: dict[str, Any] = {}
    async with LiveEngine(model, beam_size=beam) as engine:
        for language in langs:
            timed.calls.clear()
            result = (await live_round(engine, [language]))[language]
            seconds = [c[0] for c in timed.calls]
            out[language] = {
                "live_error": result["live_error"], "final_p50": pct(result["lags"], 50),
                "final_p95": pct(result["lags"], 95), "decoder_calls": len(seconds),
                "decoder_s_median": pct(seconds, 50), "decoder_s_max": round(max(seconds), 2),
                "max_length_median": pct([c[1] for c in timed.calls], 50)}
    model.model.model = timed.inner
    return out


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", default="2,4,6")
    parser.add_argument("--per-round", type=int, default=4)
    parser.add_argument("--beam", type=int, default=5, help="the live engine's beam size")
    parser.add_argument("--capacity-only", action="store_true")
    parser.add_argument("--decode-cost", default="", help="languages to time alone, e.g. zh,es")
    args = parser.parse_args()
    settings = Settings(asr_threads=2)
    model = Transcriber.from_settings(settings, model="base", num_workers=2)
    if args.decode_cost:
        langs = args.decode_cost.split(",")
        print(json.dumps({"model": "base", "beam": args.beam,
                          "decode_cost": await decode_cost(model, langs, args.beam)}, indent=2))
        return
    report: dict[str, Any] = {"model": "base", "cores": 2, "beam": args.beam,
                              "languages": {} if args.capacity_only else offline(model)}
    langs = languages()
    async with LiveEngine(model, beam_size=args.beam) as engine:
        for at in range(0, 0 if args.capacity_only else len(langs), args.per_round):
            group = langs[at: at + args.per_round]
            for language, result in (await live_round(engine, group)).items():
                report["languages"][language].update(
                    live_error=result["live_error"], final_p50=pct(result["lags"], 50),
                    final_p95=pct(result["lags"], 95), concurrent=len(group))
        capacity: dict[str, Any] = {}
        for count in (int(n) for n in args.streams.split(",")):
            group = [langs[i % len(langs)] for i in range(count)]
            # The same language twice is two rooms: the engine keys streams by room.
            rounds = await live_round_many(engine, group)
            lags = [lag for r in rounds for lag in r]
            capacity[str(count)] = {"final_p50": pct(lags, 50), "final_p95": pct(lags, 95)}
        within = [int(n) for n, c in capacity.items() if c["final_p95"] <= TARGET]
        report["capacity"] = {"runs": capacity, "streams_within_target": max(within, default=0),
                              "target_p95_s": TARGET}
    print(json.dumps(report, indent=2, ensure_ascii=False))


async def live_round_many(engine: LiveEngine, group: list[str]) -> list[list[float]]:
    t0 = time.perf_counter() + 0.5
    audio = [stream_audio(language)[0] for language in group]
    results = await asyncio.gather(*(play(engine, f"cap-{i}", language, audio[i], t0 + 0.2 * i)
                                     for i, language in enumerate(group)))
    return [[at - (t0 + 0.2 * i + e.end) for at, e in got if e.type == "final"]
            for i, got in enumerate(results)]


if __name__ == "__main__":
    asyncio.run(main())
