"""Offline transcription benchmark: WER and speed of tiny.en int8, sequential vs batched.

For each clip set in ../shared/speech/ it reports word error rate (jiwer, Whisper's English
normaliser) and speed in audio-seconds per wall-second of three paths, side by side:

- `sequential`: faster-whisper one file at a time, VAD, beam 5, word timestamps (what
  `roomscribe transcribe` does);
- `pipeline`: faster-whisper's batched pipeline, the set's files joined with their spans given as
  clip timestamps so several utterances share each model call, every clip padded to 30 s;
- `batched`: the same clips through `Transcriber`'s own batches (what the final pass uses), each
  clip padded only to its length plus 2 s.

All run in this one process, alternating, and the median of --repeat runs is reported, so the
ratios hold on a noisy machine. Decoding the files is not timed.

    .venv/bin/python scripts/bench_offline.py [--repeat 3] [--batch-size 8] [--sets jfk,...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.speech import SPEECH_DIR, Clip, manifest, wer
from roomscribe.asr.engine import MAX_CLIP, DecodeOptions, Transcriber
from roomscribe.asr.offline import speech_clips
from roomscribe.asr.results import Segment
from roomscribe.asr.vad import SileroVad
from roomscribe.config import Settings
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE

GAP = 1.0  # seconds of silence between joined clips in the batched run
# The batched pipeline decodes each clip as one window; with timestamp tokens it drops sentences
# of long clips (the final pass found the same), so like the final pass it decodes without them.
BATCHED = DecodeOptions(without_timestamps=True)
PIPELINE = DecodeOptions(without_timestamps=True, padded=True)
MODES = ("sequential", "pipeline", "batched")


def sequential(tr: Transcriber, audios: list[np.ndarray]) -> list[str]:
    return [" ".join(s.text for s in tr.transcribe(a)) for a in audios]


def batched(tr: Transcriber, audios: list[np.ndarray], batch_size: int,
            options: DecodeOptions = BATCHED) -> list[str]:
    gap = np.zeros(int(GAP * SAMPLE_RATE), dtype=np.float32)
    spans: list[tuple[float, float]] = []
    pieces: list[np.ndarray] = []
    t = 0.0
    for audio in audios:
        seconds = audio.size / SAMPLE_RATE
        if seconds > MAX_CLIP:
            spans = []
            break
        spans.append((t, t + seconds))
        pieces += [audio, gap]
        t += seconds + GAP
    if not spans:
        # Files longer than one window are cut at pauses: by the pipeline's own VAD, or as the
        # final pass cuts them.
        return [" ".join(s.text for s in tr.transcribe(
                    a, batch_size=batch_size, options=options,
                    clips=None if options.padded else speech_clips(a, SileroVad())))
                for a in audios]
    segments = tr.transcribe(np.concatenate(pieces), batch_size=batch_size, clips=spans,
                             options=options)
    texts: list[list[str]] = [[] for _ in audios]
    for seg in segments:
        texts[_owner(seg, spans)].append(seg.text)
    return [" ".join(t) for t in texts]


def _owner(seg: Segment, spans: list[tuple[float, float]]) -> int:
    # The span a segment starts in; a little slack for word timings that lead the clip edge.
    starts = [i for i, (a, _) in enumerate(spans) if a <= seg.start + 0.5]
    return starts[-1] if starts else 0


def references(clips: list[Clip]) -> list[str]:
    return [c.reference for c in clips]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sets", help="comma-separated clip sets (default: all)")
    args = parser.parse_args()

    settings = Settings()
    tr = Transcriber.from_settings(settings)
    sets: dict[str, list[Clip]] = {}
    for clip in manifest():
        sets.setdefault(clip.set, []).append(clip)
    wanted = args.sets.split(",") if args.sets else sorted(sets)
    # The longform folder is not in the manifest when its files are derived; add it by hand.
    longform = SPEECH_DIR / "longform"
    if "longform" in wanted and "longform" not in sets:
        sets["longform"] = [
            Clip("longform", wav, 0.0, "", wav.with_suffix(".txt").read_text().strip())
            for wav in sorted(longform.glob("*.wav"))
        ]

    report: dict[str, object] = {
        "model": settings.asr_model, "compute_type": "int8", "cpu_threads": tr.cpu_threads,
        "batch_size": args.batch_size, "repeat": args.repeat, "sets": {},
    }
    tr.transcribe(ffmpeg.decode(SPEECH_DIR / "jfk" / "jfk.flac"))  # warm-up
    for name in wanted:
        clips = sets[name]
        audios = [ffmpeg.decode(c.path) for c in clips]
        seconds = sum(a.size for a in audios) / SAMPLE_RATE
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        hyps: dict[str, list[str]] = {}
        for _ in range(args.repeat):
            for mode in MODES:
                start = time.perf_counter()
                out = (sequential(tr, audios) if mode == "sequential"
                       else batched(tr, audios, args.batch_size,
                                    PIPELINE if mode == "pipeline" else BATCHED))
                times[mode].append(time.perf_counter() - start)
                hyps[mode] = out
        refs = references(clips)
        result = {"files": len(clips), "audio_seconds": round(seconds, 2)}
        for mode in MODES:
            median = statistics.median(times[mode])
            result[mode] = {
                "wer": round(wer(refs, hyps[mode]), 4),
                "median_wall_seconds": round(median, 3),
                "x_realtime": round(seconds / median, 1),
            }
        for mode in ("pipeline", "batched"):
            result[f"{mode}_speedup"] = round(
                statistics.median(times["sequential"]) / statistics.median(times[mode]), 2)
        report["sets"][name] = result  # type: ignore[index]
        print(json.dumps({name: result}), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
