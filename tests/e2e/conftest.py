"""The page tests share one server and one Chromium, because each takes seconds to start.

Package scope, not session: Playwright's sync API keeps an event loop running in the main thread
while its browser is open, which would break every asyncio test collected after this folder.

`site` serves the app with the rooms tests' fake caption engine (`captions`) and a recording audio
sink (`recorder`); tests keep apart by using fresh handles and rooms. `browser` is Debian's
Chromium with a fake microphone whose permission is granted without a prompt, so the microphone
pages work; pages that ask for no media are unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from helpers.browser import CHROMIUM, CHROMIUM_ARGS
from helpers.site import Site, serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.config import Settings

FAKE_MEDIA = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")


@pytest.fixture(scope="package")
def captions() -> FakeCaptionSource:
    return FakeCaptionSource()


@pytest.fixture(scope="package")
def recorder() -> RecordingAudioSink:
    return RecordingAudioSink()


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory, captions: FakeCaptionSource,
         recorder: RecordingAudioSink) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("site") / "data")
    with serve(settings, caption_source=captions, audio_sink=recorder) as running:
        yield running


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: browser tests need Debian's chromium; "
                           "run scripts/test as root once, or: apt-get install chromium")
    with sync_playwright() as playwright:
        running = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=[*CHROMIUM_ARGS, *FAKE_MEDIA])
        try:
            yield running
        finally:
            running.close()
