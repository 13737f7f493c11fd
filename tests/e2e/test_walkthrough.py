"""A whole journey in Chromium, from the pages alone, with the real server and model: sign up,
host a recorded room, speak into the microphone (Chromium's fake device playing Kennedy's
inaugural address), end it, find it under My rooms, replay it, correct a line, download every
format, report it as someone who listened, and find the report in the admin queue. axe-core
checks every page on the way.

`roomscribe serve` runs as its own process with tiny.en (the live engine and the final pass), as
a fresh install would; the admin is made with the operator's command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from helpers.browser import CHROMIUM, CHROMIUM_ARGS, axe_violations, describe
from helpers.profile import server_env
from helpers.speech import SPEECH_DIR, normalize
from integration.transcripts.live_server import Server, serving
from roomscribe.media.ffmpeg import decode, encode
from roomscribe.pcm import SAMPLE_RATE

pytestmark = [pytest.mark.model, pytest.mark.browser]

PASSWORD = "a long password"
SLOW = 90_000
"""Milliseconds to wait for what the model and the final pass take on a busy machine."""


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Kennedy, then three seconds of silence (the fake microphone plays it in a loop)."""
    samples = np.concatenate([decode(SPEECH_DIR / "jfk" / "jfk.flac"),
                              np.zeros(3 * SAMPLE_RATE, dtype=np.float32)])
    path = tmp_path_factory.mktemp("voice") / "jfk.wav"
    encode(samples, path, codec="pcm_s16le")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("walkthrough")
    with serving(home / "data", home / "server.log") as running:
        yield running
    log = running.log.read_text()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def speaking(browser: Browser, voice: Path) -> Iterator[Browser]:
    """A Chromium whose microphone plays `voice`, from the package's Playwright (one Playwright
    runs at a time: it holds an event loop in this thread)."""
    running = browser.browser_type.launch(executable_path=str(CHROMIUM), args=[
        *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice}"])
    try:
        yield running
    finally:
        running.close()


def clean(page: Page, what: str) -> None:
    """axe-core finds nothing wrong with the page, once it has loaded: a check run right after
    a click could see the blank document of the navigation it started (seen in CI)."""
    page.wait_for_load_state()
    expect(page.locator("main h1")).to_be_attached()
    violations = axe_violations(page)
    assert violations == [], f"{what}:\n{describe(violations)}"


def person(browser: Browser) -> tuple[BrowserContext, Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())  # "End the room for everyone?" and such
    return context, page


def sign_up(page: Page, url: str, handle: str, name: str) -> None:
    page.goto(f"{url}/signup")
    clean(page, "sign up")
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Display name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()


def test_a_recorded_room_from_sign_up_to_the_admin_queue(server: Server,
                                                         speaking: Browser) -> None:
    url, browser = server.url, speaking
    host_context, host = person(browser)
    listener_context, listener = person(browser)

    # The host signs up and opens a recorded room that members may replay.
    sign_up(host, url, "hana", "Hana Host")
    host.get_by_role("link", name="New room").click()
    clean(host, "new room")
    host.get_by_label("Title").fill("Town hall")
    host.get_by_label("Record this room").check()
    host.get_by_label("People with an account").check()
    host.get_by_role("button", name="Create room").click()
    expect(host).to_have_url(re.compile(r"/r/[\w-]+/host$"))
    room = host.url.split("/")[-2]
    clean(host, "host console")

    # Someone listens; the host speaks into the microphone until the listener reads it.
    sign_up(listener, url, "lou", "Lou Listener")
    listener.goto(f"{url}/r/{room}")
    expect(listener.locator("#caption-status")).to_have_text("Connected. Captions are live.")
    clean(listener, "listener")
    mic = host.get_by_role("button", name="Microphone")
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(listener.locator("#caption-log")).to_contain_text("country", timeout=SLOW)
    expect(listener.locator("#caption-log")).to_contain_text("Hana Host")
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "false")
    host.get_by_role("button", name="End the room for everyone").click()
    expect(listener.locator("#caption-status")).to_have_text("The room has ended.")

    # My rooms → the replay, once the mix and the final pass are done.
    host.get_by_role("link", name="My rooms").click()
    clean(host, "my rooms")
    host.get_by_role("link", name="Replay Town hall").click()
    for _ in range(45):
        if host.locator("#replay-audio").count():
            break
        host.wait_for_timeout(2000)
        host.reload()
    expect(host.locator("#replay-audio")).to_be_attached()
    expect(host.locator(".transcript__line").first).to_be_visible()
    assert "country" in normalize(host.locator("#transcript").inner_text())
    clean(host, "replay")

    # The host corrects the first line, and the replay shows the correction.
    host.get_by_role("link", name="My rooms").click()
    host.get_by_role("link", name="Correct the transcript of Town hall").click()
    # The replay plays once the mix is made; the editor opens once the final pass is done too
    # (until then it says so): on loaded cores that can be a while after the mix.
    for _ in range(45):
        if host.get_by_label("Words").count():
            break
        expect(host.get_by_text("The transcript is being made from the recording.")).to_be_visible()
        host.wait_for_timeout(2000)
        host.reload()
    clean(host, "transcript editor")
    host.get_by_label("Words").first.fill("And so, my fellow Americans, ask not.")
    host.get_by_role("button", name="Save the corrections").click()
    expect(host.get_by_text("The corrected transcript is saved.")).to_be_visible()
    clean(host, "transcript editor, saved")
    expect(host.get_by_role("row").filter(has_text="Corrected by @hana")).to_have_count(1)
    host.goto(f"{url}/r/{room}/replay")
    expect(host.locator(".transcript__line").first).to_contain_text("ask not.")

    # Every download, from the downloads page.
    host.goto(f"{url}/r/{room}/downloads")
    clean(host, "downloads")
    links = host.locator("main a[download]")
    kinds = {}
    for i in range(links.count()):
        response = host.request.get(url + (links.nth(i).get_attribute("href") or ""))
        assert response.status == 200, links.nth(i).inner_text()
        assert response.headers["retain-until"]
        kinds[response.headers["content-type"].split(";")[0]] = response.body()
    assert set(kinds) == {"audio/ogg", "text/vtt", "application/x-subrip", "text/plain",
                          "application/json"}
    assert kinds["audio/ogg"][:4] == b"OggS" and b"ask not." in kinds["text/vtt"]

    # The listener reports the room from its page.
    listener.goto(f"{url}/r/{room}")
    clean(listener, "ended room")
    listener.get_by_role("link", name="Report this room").click()
    clean(listener, "report form")
    listener.get_by_label("What happened?").fill("Someone shouted over the speakers at 0:05.")
    listener.get_by_role("button", name="Send the report").click()
    expect(listener.get_by_text("Your report is sent.")).to_be_visible()
    clean(listener, "report sent")

    # An admin, made with the operator's command, finds it waiting.
    subprocess.run([sys.executable, "-m", "roomscribe", "admin", "create", "ada",
                    "--password", PASSWORD, "--display-name", "Ada Admin"], check=True,
                   env={**os.environ, "ROOMSCRIBE_DATA_DIR": str(server.data_dir),
                        **server_env(server.data_dir)})
    admin_context, admin = person(browser)
    admin.goto(f"{url}/signin")
    admin.get_by_label("Handle").fill("ada")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Sign in").click()
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    clean(admin, "admin console")
    admin.get_by_role("navigation", name="Admin console").get_by_role(
        "link", name="Reports").click()
    expect(admin.get_by_role("row").filter(has_text="Town hall")).to_have_count(1)
    clean(admin, "admin reports")
    for context in (host_context, listener_context, admin_context):
        context.close()
