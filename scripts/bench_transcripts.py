"""Transcript benchmark: word error rate of the live transcript and of the final pass. Prints JSON.

A recorded room as production runs it: `roomscribe serve` (tiny.en) on a temporary data folder,
two speakers taking turns reading human recordings from ../shared/speech/ over the audio socket in
real time, the host ending the room, then waiting for the mix and the final pass. The room's two
archived versions are read back through the API and scored against the references:

- live: version 0, the finals as they were published to listeners;
- final pass: the archived version, each speaker's track transcribed again after the end;
- offline: the same clips through `Transcriber.transcribe` on the source files, for scale.

Also reported: how long the final pass took after the end (room seconds per wall second).

    .venv/bin/python scripts/bench_transcripts.py [--set librispeech_test_clean] [--clips 8]
        [--pause 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers.speech import Clip, clips, wer
from integration.transcripts.live_server import Client, serving, until
from roomscribe.asr.engine import Transcriber
from roomscribe.config import Settings
from roomscribe.media.ffmpeg import decode

SPEAKERS = (("ada", "Ada Reader"), ("bob", "Bob Reader"))


async def room(url: str, played: list[Clip], pause: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        client = Client(http)
        await client.account("host", "Host")
        for handle, name in SPEAKERS:
            await client.account(handle, name)
        room_id = await client.recorded_room("host", [h for h, _ in SPEAKERS], "Benchmark")
        sockets = []
        for i, clip in enumerate(played):
            handle = SPEAKERS[i % len(SPEAKERS)][0]
            sockets.append((await client.speak(room_id, handle, decode(clip.path))).socket)
            await asyncio.sleep(pause)
        ended = time.monotonic()
        await client.post(f"/rooms/{room_id}/end", "host")

        async def archived() -> dict[str, Any] | None:
            info = (await client.get(f"/rooms/{room_id}/transcript/versions", "host")).json()
            return info if info["stage"] not in ("live", "pending") else None

        info = await until(archived, within=900)
        settled = time.monotonic() - ended
        versions = {}
        for name, version in (("live", 0), ("final_pass", info["current"])):
            listed = (await client.get(f"/rooms/{room_id}/transcript/segments", "host",
                                       params={"version": version})).json()["segments"]
            versions[name] = {handle: " ".join(s["text"] for s in listed
                                               if s["speaker_id"] == handle)
                              for handle, _ in SPEAKERS}
        for socket in sockets:
            if socket is not None:
                await socket.close()
        return {"versions": versions, "stage": info["stage"],
                "room_seconds": client.room_time(room_id), "settled_seconds": settled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="librispeech_test_clean", help="corpus set to read")
    parser.add_argument("--clips", type=int, default=8, help="clips read, in corpus order")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between turns")
    args = parser.parse_args()
    played = clips(args.set)[: args.clips]
    with (tempfile.TemporaryDirectory(prefix="roomscribe-bench-") as tmp,
          serving(Path(tmp) / "data", Path(tmp) / "server.log") as server):
        result = asyncio.run(room(server.url, played, args.pause))
    refs = {handle: " ".join(c.reference for c in played[i::len(SPEAKERS)])
            for i, (handle, _) in enumerate(SPEAKERS)}
    model = Transcriber.from_settings(Settings())
    offline = {handle: " ".join(s.text for c in played[i::len(SPEAKERS)]
                                for s in model.transcribe(decode(c.path)))
               for i, (handle, _) in enumerate(SPEAKERS)}
    handles = [h for h, _ in SPEAKERS]

    def score(texts: dict[str, str]) -> float:
        return round(wer([refs[h] for h in handles], [texts[h] for h in handles]), 4)

    report = {
        "set": args.set, "clips": len(played),
        "speech_seconds": round(sum(c.seconds for c in played), 1),
        "room_seconds": round(result["room_seconds"], 1),
        "archived_stage": result["stage"],
        "wer": {"live": score(result["versions"]["live"]),
                "final_pass": score(result["versions"]["final_pass"]),
                "offline": score(offline)},
        "final_pass_seconds_after_end": round(result["settled_seconds"], 1),
        "final_pass_x_realtime": round(result["room_seconds"] / result["settled_seconds"], 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
