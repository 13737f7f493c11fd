"""The only module that runs ffmpeg.

It uses the static binary shipped in the `imageio-ffmpeg` wheel, so no system package is needed,
and drives it through ffmpeg-python. Every failure becomes a one-line `InvalidInput`/`TooLarge`
rather than ffmpeg's multi-line log.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import ffmpeg
import imageio_ffmpeg
import numpy as np
import numpy.typing as npt

from roomscribe.errors import InvalidInput, NotFound, TooLarge
from roomscribe.pcm import SAMPLE_RATE

"""Whisper's input rate; everything is decoded to 16 kHz mono float32."""


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _reason(stderr: bytes) -> str:
    """The most telling line of ffmpeg's error log, for a one-line message."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("Conversion failed", "Error opening output")):
            continue
        line = re.sub(r"^(\[[^\]]+\]\s*)+", "", line)
        # ffmpeg 7+ wraps decoder errors as "Terminating thread with return code N (reason)".
        wrapped = re.match(r"Terminating thread with return code -?\d+ \((.*)\)$", line)
        if wrapped:
            return f"corrupt or truncated stream: {wrapped.group(1)}"
        return line.removeprefix("Error opening input files: ")[:200]
    return "ffmpeg could not read it"


def decode(
    path: Path,
    *,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
) -> npt.NDArray[np.float32]:
    """Decode any file ffmpeg reads to 16 kHz mono float32 samples in [-1, 1].

    Decoding stops (and fails) past `max_seconds`, so an oversized input costs at most that much
    work. Corrupt input (including a truncated stream) is an error, never a silent partial result.
    """
    if not path.exists():
        raise NotFound(f"{path}: no such file")
    if path.is_dir():
        raise InvalidInput(f"{path}: is a directory, not an audio file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"{path}: the file is empty")
    if max_bytes is not None and size > max_bytes:
        raise TooLarge(f"{path}: {size} bytes is over the {max_bytes}-byte limit")
    stream = ffmpeg.input(str(path), xerror=None, err_detect="explode")
    if max_seconds is not None:
        # One extra second tells "over the limit" apart from "exactly at it".
        stream = stream.output("pipe:", format="f32le", acodec="pcm_f32le", ac=1,
                               ar=SAMPLE_RATE, t=max_seconds + 1)
    else:
        stream = stream.output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE)
    try:
        out, _ = stream.global_args("-nostdin", "-hide_banner", "-v", "error").run(
            cmd=ffmpeg_exe(), capture_stdout=True, capture_stderr=True
        )
    except ffmpeg.Error as err:
        raise InvalidInput(f"{path}: not readable audio ({_reason(err.stderr)})") from None
    # Resampling can overshoot full scale slightly; Whisper and the PCM writers expect [-1, 1].
    samples = np.clip(np.frombuffer(out, dtype=np.float32), -1.0, 1.0)
    if samples.size == 0:
        raise InvalidInput(f"{path}: contains no audio stream")
    if max_seconds is not None and samples.size > max_seconds * SAMPLE_RATE:
        raise TooLarge(f"{path}: longer than the {max_seconds:g}-second limit")
    return samples


def duration(path: Path) -> float:
    """Duration in seconds as ffmpeg reads it (decodes the whole stream, so it is exact)."""
    return decode(path).size / SAMPLE_RATE


def encode(samples: npt.NDArray[np.float32], path: Path, *, codec: str = "flac") -> None:
    """Write 16 kHz mono samples to `path` (flac, opus in ogg, or wav by extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = (
        ffmpeg.input("pipe:", format="f32le", ac=1, ar=SAMPLE_RATE)
        .output(str(path), acodec=codec)
        .global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
    )
    try:
        proc.run(cmd=ffmpeg_exe(), input=samples.astype(np.float32).tobytes(),
                 capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        raise InvalidInput(f"{path}: could not encode ({_reason(err.stderr)})") from None


def encode_pcm(
    blocks: Iterable[npt.NDArray[np.int16]],
    path: Path,
    *,
    sample_rate: int = SAMPLE_RATE,
    codec: str = "libopus",
    bitrate: str | None = "32k",
) -> None:
    """Encode mono s16 blocks to `path` as they come (Opus in Ogg for `.ogg` by default).

    Blocks are piped one at a time, so a mix hours long never sits in memory whole. ffmpeg's log
    goes to a temporary file rather than a pipe nobody reads, which could fill and stall it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, str] = {"acodec": codec}
    if bitrate:
        options["audio_bitrate"] = bitrate
    args = (
        ffmpeg.input("pipe:", format="s16le", ac=1, ar=sample_rate)
        .output(str(path), **options)
        .global_args("-nostdin", "-hide_banner", "-v", "error", "-y")
        .compile(cmd=ffmpeg_exe())
    )
    with tempfile.TemporaryFile() as log:
        with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=log) as proc:
            assert proc.stdin is not None
            try:
                # A broken pipe means ffmpeg stopped early; its exit status and log say why.
                with contextlib.suppress(BrokenPipeError):
                    for block in blocks:
                        proc.stdin.write(block.astype("<i2", copy=False).tobytes())
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
            except BaseException:
                proc.kill()  # the caller's blocks failed: stop ffmpeg, keep no half-written file
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
                proc.wait()
                path.unlink(missing_ok=True)
                raise
        if proc.returncode != 0:
            log.seek(0)
            raise InvalidInput(f"{path}: could not encode ({_reason(log.read())})")
