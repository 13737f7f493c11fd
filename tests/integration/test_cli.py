"""`roomscribe` as a user runs it: real process, real model, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.speech import SPEECH_DIR
from roomscribe.media import ffmpeg

JFK = SPEECH_DIR / "jfk" / "jfk.flac"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "roomscribe", *args], capture_output=True,
                          text=True, env=full_env, timeout=300, check=False)


def assert_clean_failure(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]


def test_help_lists_every_subcommand() -> None:
    out = run("--help").stdout
    for cmd in ("serve", "transcribe", "models"):
        assert cmd in out
    assert "--max-line" in run("transcribe", "--help").stdout


def test_transcribe_json_to_file(tmp_path: Path) -> None:
    out = tmp_path / "jfk.json"
    proc = run("transcribe", str(JFK), "--format", "json", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    text = " ".join(s["text"] for s in data["segments"]).lower()
    assert "ask not what your country can do for you" in text.replace(",", "")
    word = data["segments"][0]["words"][0]
    assert set(word) >= {"start", "end", "text", "probability"}


def test_transcribe_vtt_to_stdout() -> None:
    proc = run("transcribe", str(JFK), "--max-line", "32")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("WEBVTT")
    assert "-->" in proc.stdout


@pytest.mark.parametrize("name,content,fragment", [
    ("missing.wav", None, "no such file"),
    ("empty.wav", b"", "empty"),
    ("text.wav", b"this is a text file\n" * 50, "not readable audio"),
])
def test_bad_inputs(tmp_path: Path, name: str, content: bytes | None, fragment: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert_clean_failure(run("transcribe", str(path)), fragment)


def test_truncated_flac(tmp_path: Path) -> None:
    whole = (SPEECH_DIR / "librispeech_test_clean" / "121-127105-0000.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(whole[: len(whole) // 2])
    assert_clean_failure(run("transcribe", str(tmp_path / "cut.flac")), "truncated")


def test_size_and_duration_limits() -> None:
    assert_clean_failure(
        run("transcribe", str(JFK), env={"ROOMSCRIBE_MAX_UPLOAD_BYTES": "2048"}), "byte limit")
    assert_clean_failure(
        run("transcribe", str(JFK), env={"ROOMSCRIBE_MAX_DURATION_SECONDS": "4"}),
        "4-second limit")


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    proc = run("transcribe", str(JFK), env={"ROOMSCRIBE_ASR_MODEL": str(tmp_path / "none")})
    assert_clean_failure(proc, "roomscribe models list")


def test_corrupt_model_directory_names_the_fix(tmp_path: Path) -> None:
    model = tmp_path / "broken"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.bin").write_bytes(os.urandom(4096))
    proc = run("transcribe", str(JFK), env={"ROOMSCRIBE_ASR_MODEL": str(model)})
    assert_clean_failure(proc, "roomscribe models verify")


@pytest.mark.parametrize("kind", ["silence", "noise"])
def test_silence_or_noise_gives_zero_cues(tmp_path: Path, kind: str) -> None:
    rng = np.random.default_rng(1)
    audio = np.zeros(10 * 16000) if kind == "silence" else rng.normal(0, 0.08, 10 * 16000)
    path = tmp_path / f"{kind}.wav"
    ffmpeg.encode(audio.astype(np.float32), path, codec="pcm_s16le")
    proc = run("transcribe", str(path), "--format", "srt")
    assert proc.returncode == 0, proc.stderr
    assert "-->" not in proc.stdout
    assert "Thank" not in proc.stdout


def test_models_list_and_verify() -> None:
    listing = run("models", "list")
    assert listing.returncode == 0 and "tiny.en" in listing.stdout and "base" in listing.stdout
    verify = run("models", "verify")
    assert verify.returncode == 0, verify.stdout
    assert "tiny.en" in verify.stdout and "ok" in verify.stdout
