"""Live audio end to end, inside a network namespace this run made itself (`scripts/test` runs
these tests through `unshare -n` and `scripts/_netns.sh`): Janus, `roomscribe serve` and Chromium
all run in it, WebRTC flows over its veth pair (10.99.0.1 <-> 10.99.0.2), and nothing can reach
any address outside.

One server for the package, with the real model and the real Janus (started by the service, as
`scripts/serve` does); each browser plays its own recording of human speech as its microphone.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from helpers.browser import CHROMIUM, CHROMIUM_ARGS
from helpers.speech import SPEECH_DIR
from integration.transcripts.live_server import Server, serving
from roomscribe.media.ffmpeg import decode, encode
from roomscribe.pcm import SAMPLE_RATE

FAKE_MEDIA = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required")


def in_own_namespace() -> bool:
    """The veth pair `scripts/_netns.sh` makes is here, and nothing else but loopback."""
    names = {name for _, name in socket.if_nameindex()}
    return os.environ.get("ROOMSCRIBE_NETNS") == "1" and names == {"lo", "v0", "v1"}


@pytest.fixture(scope="package", autouse=True)
def namespace() -> None:
    if not in_own_namespace():
        raise RuntimeError("media tests run in a network namespace of their own: "
                           "scripts/test makes one (unshare -n; scripts/_netns.sh)")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("media")
    with serving(home / "data", home / "server.log", ROOMSCRIBE_MEDIA="auto") as running:
        yield running
    log = running.log.read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="package")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, float], Path]:
    """A WAV for Chromium's fake microphone: a recording, then `silence` seconds (the device
    plays the file in a loop; the silence keeps each speaker to one reading)."""
    folder = tmp_path_factory.mktemp("voices")

    def make(name: str, silence: float = 60.0) -> Path:
        path = folder / f"{Path(name).stem}-{int(silence)}.wav"
        if not path.exists():
            samples = decode(SPEECH_DIR / name)
            encode(np.concatenate([samples, np.zeros(int(silence * SAMPLE_RATE),
                                                     dtype=np.float32)]),
                   path, codec="pcm_s16le")
        return path

    return make


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def chromium(playwright: Playwright) -> Iterator[Callable[[Path | None], Browser]]:
    """Chromium processes, each with its own recording as the microphone (None: the default
    beep); all closed at the end."""
    launched: list[Browser] = []

    def launch(voice: Path | None) -> Browser:
        args = [*CHROMIUM_ARGS, *FAKE_MEDIA]
        if voice is not None:
            args.append(f"--use-file-for-fake-audio-capture={voice}")
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()


def janus_pid(server: Server) -> int:
    """The pid of the Janus the service runs (its configuration is in the data folder)."""
    found = subprocess.run(["pgrep", "-f", f"janus --configs-folder {server.data_dir}/janus"],
                           capture_output=True, text=True, check=False).stdout.split()
    assert found, "no Janus runs beside the service"
    return int(found[0])
