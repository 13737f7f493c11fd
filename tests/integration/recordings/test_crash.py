"""A recording process SIGKILLed mid-stream loses nothing it had already received."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from helpers.speech import SPEECH_DIR
from roomscribe.media import ffmpeg
from roomscribe.pcm import SAMPLE_RATE
from roomscribe.recordings.storage import LocalStorage
from roomscribe.recordings.tracks import TrackReader, TrackWriter, to_pcm16

JFK = SPEECH_DIR / "jfk" / "jfk.flac"
SR = SAMPLE_RATE
CHUNK = SR // 10  # 100 ms, as a browser would send it
FIRST_RUN = 40  # chunks before the speaker drops out

# The child sends real speech on the room clock, reports each chunk once `append` has returned,
# and never closes the writer: nothing but what `append` itself did can save the audio.
CHILD = textwrap.dedent(f"""
    import sys, time
    from pathlib import Path
    from roomscribe.media import ffmpeg
    from roomscribe.recordings.storage import LocalStorage
    from roomscribe.recordings.tracks import TrackWriter

    audio = ffmpeg.decode(Path({str(JFK)!r}))
    writer = TrackWriter(LocalStorage(Path(sys.argv[1])), "room", "jfk", flush_interval=3600)
    for k in range(audio.size // {CHUNK}):
        chunk = audio[k * {CHUNK}:(k + 1) * {CHUNK}]
        # A reconnect: the second stretch arrives at room time 20 s, not where the first ended.
        at = 1.0 + k * 0.1 if k < {FIRST_RUN} else 20.0 + (k - {FIRST_RUN}) * 0.1
        writer.append(chunk, at=at)
        print(k, flush=True)
        time.sleep(0.01)
    time.sleep(60)
""")


def test_sigkill_mid_stream_keeps_every_appended_chunk(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acknowledged = -1
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged == FIRST_RUN + 20:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert acknowledged == FIRST_RUN + 20

    source = np.frombuffer(to_pcm16(ffmpeg.decode(JFK)), dtype="<i2")
    reader = TrackReader(LocalStorage(tmp_path), "room", "jfk")
    first, second = reader.runs
    assert (first.room_start, first.length) == (SR, FIRST_RUN * CHUNK)
    assert second.room_start == 20 * SR
    # Everything acknowledged is there; anything after it is a true prefix of what was sent.
    assert second.length >= 21 * CHUNK
    received = FIRST_RUN * CHUNK + second.length
    audio = reader.read()
    assert np.array_equal(audio[SR:SR + FIRST_RUN * CHUNK], source[:FIRST_RUN * CHUNK])
    assert not audio[SR + FIRST_RUN * CHUNK:20 * SR].any()
    assert np.array_equal(audio[20 * SR:], source[FIRST_RUN * CHUNK:received])

    # The restarted server reopens the same track and the room goes on.
    with TrackWriter(LocalStorage(tmp_path), "room", "jfk") as writer:
        writer.append(source[:CHUNK], at=30.0)
    after = TrackReader(LocalStorage(tmp_path), "room", "jfk")
    assert len(after.runs) == 3
    assert np.array_equal(after.read(30.0), source[:CHUNK])
    before = after.read(0, 30.0)
    assert np.array_equal(before[:audio.size], audio) and not before[audio.size:].any()
