"""Captions of a real recording, played by Chromium: the browser reads every cue as we wrote it."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from pathlib import Path
from typing import Any

import pytest
import webvtt
from playwright.sync_api import Browser

from helpers.browser import axe_violations, chromium, describe, page
from helpers.speech import SPEECH_DIR, manifest
from roomscribe.asr.engine import Transcriber
from roomscribe.captions.formats import render
from roomscribe.media.ffmpeg import decode, encode

pytestmark = [pytest.mark.model, pytest.mark.browser]

CLIP = next(c for c in manifest() if c.path == SPEECH_DIR / "jfk" / "jfk.flac")

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Captions check</title></head>
<body>
<main>
<h1>Captions check</h1>
<audio controls preload="auto" src="talk.wav">
  <track kind="captions" srclang="en" label="English" default src="talk.vtt">
</audio>
</main>
</body>
</html>
"""

READ_CUES = """async () => {
  const element = document.querySelector("track");
  element.track.mode = "hidden";
  if (element.readyState !== HTMLTrackElement.LOADED) {
    await new Promise((resolve, reject) => {
      element.addEventListener("load", resolve, {once: true});
      element.addEventListener("error", () => reject(new Error("the track did not load")));
    });
  }
  return Array.from(element.track.cues, cue => {
    const shown = cue.getCueAsHTML();
    const voice = shown.querySelector("span[title]");
    return {id: cue.id, start: cue.startTime, end: cue.endTime, text: shown.textContent,
            voice: voice ? voice.title : null};
  });
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def guess_type(self, path: str | PathLike[str]) -> str:
        # Chromium reads a track only as text/vtt, which not every mime.types lists.
        return "text/vtt" if str(path).endswith(".vtt") else super().guess_type(path)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not test output."""


@dataclass(frozen=True)
class Site:
    url: str
    vtt: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, transcriber: Transcriber) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    audio = decode(CLIP.path)
    segments = [replace(s, speaker=CLIP.speaker) for s in transcriber.transcribe(audio)]
    vtt = render(segments, "vtt")
    (root / "talk.vtt").write_text(vtt, encoding="utf-8")
    encode(audio, root / "talk.wav", codec="pcm_s16le")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}/index.html", vtt)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_chromium_loads_every_cue_of_the_vtt_track(site: Site, browser: Browser) -> None:
    # The e2e package's shared Chromium: a second sync Playwright beside it cannot start.
    expected = webvtt.from_string(site.vtt, strict=True).captions
    assert len(expected) >= 2
    with page(browser) as tab:
        tab.goto(site.url)
        cues = tab.evaluate(READ_CUES)
        violations = axe_violations(tab)
    assert len(cues) == len(expected)
    for seen, caption in zip(cues, expected, strict=True):
        assert seen["id"] == caption.identifier
        times = caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()
        assert (seen["start"], seen["end"]) == pytest.approx(tuple(t / 1000 for t in times))
        assert seen["text"] == html.unescape(caption.text)
        assert seen["voice"] == CLIP.speaker
    assert violations == [], describe(violations)


def test_a_missing_chromium_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import helpers.browser

    monkeypatch.setattr(helpers.browser, "CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(RuntimeError, match="apt-get install chromium"), chromium():
        pass
