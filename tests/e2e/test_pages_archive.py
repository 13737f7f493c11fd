"""The archive pages in Chromium: search finds a phrase spoken in a recorded room, the hit opens
the replay at that second with captions showing, and the transcript follows the audio.

The archived rooms are built through the database and storage the server reads, with real speech
(LibriSpeech, then Kennedy) encoded as the Opus mix and transcribed by the real model, so the test
takes seconds instead of streaming a room in real time. The server then indexes them itself (a
change of visibility reindexes a recorded room).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from helpers.browser import axe_violations, describe
from helpers.keyboard import start_at_top, tab_to
from helpers.profile import settings_for
from helpers.site import Site, serve
from helpers.speech import SPEECH_DIR, normalize
from helpers.waiting import wait_for
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.asr.engine import Transcriber
from roomscribe.config import Settings
from roomscribe.db import make_engine
from roomscribe.media.ffmpeg import decode, encode
from roomscribe.pcm import SAMPLE_RATE
from roomscribe.recordings.mixdown import mix_key
from roomscribe.recordings.storage import open_storage
from roomscribe.recordings.tables import Recording, RecordingState
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import Retention, RetentionCreate, RetentionState
from roomscribe.rooms.tables import Room, RoomState
from roomscribe.transcripts.tables import (
    LIVE_VERSION,
    Source,
    Stage,
    Transcript,
    TranscriptSegment,
    TranscriptVersion,
)

pytestmark = [pytest.mark.model, pytest.mark.browser]

SPOKEN = (("Kenneth", SPEECH_DIR / "librispeech_test_clean" / "1089-134686-0000.flac"),
          ("John", SPEECH_DIR / "jfk" / "jfk.flac"))
PHRASE = "fellow Americans"
AUDIO = "document.getElementById('replay-audio')"
PLAYING = """async () => {
  const audio = document.getElementById('replay-audio');
  audio.muted = true;
  await audio.play();
}"""


@dataclass(frozen=True)
class Archive:
    site: Site
    host: str
    member: str
    room: str
    """Members may see it."""
    hidden: str
    """Private, with the same words."""
    ogg: bytes
    purged: str
    """Public, and deleted at the end of its retention period on `purged_on`."""
    purged_on: datetime
    phrase_at: float
    """Where the model heard the phrase begin."""


def archive_room(site: Site, settings: Settings, host: str, visibility: str, ogg: bytes,
                 segments: list[TranscriptSegment], purged_on: datetime | None = None) -> str:
    """A recorded room that ended a minute ago, mixed and transcribed (and purged on
    `purged_on`), indexed by the server."""
    room_id = site.room(host, title=f"Town hall {visibility}", record=True)
    engine = make_engine(settings)
    ended = datetime.now(UTC)
    with Session(engine) as session:
        room = session.get(Room, room_id)
        assert room is not None and room.host_id is not None
        room.sqlmodel_update({"state": RoomState.ENDED, "ended_at": ended,
                              "started_at": ended - timedelta(minutes=1)})
        session.add(room)
        key = mix_key(room_id)
        open_storage(settings).put(key, ogg)
        session.add(Recording(room_id=room_id, state=RecordingState.READY, key=key,
                              size=len(ogg), duration=60.0, ended_at=ended, tracks=1))
        session.add(Transcript(room_id=room_id, stage=Stage.FINAL, current=1))
        session.add(TranscriptVersion(room_id=room_id, number=LIVE_VERSION, source=Source.LIVE))
        session.add(TranscriptVersion(room_id=room_id, number=1, source=Source.FINAL_PASS))
        session.add_all(TranscriptSegment.model_validate(
            {**row.model_dump(exclude={"id"}), "room_id": room_id}) for row in segments)
        host_id = room.host_id
        session.commit()
    RetentionService(engine).register(RetentionCreate(room_id=room_id, room_title="Town hall",
                                                      host_id=host_id, ended_at=ended))
    engine.dispose()
    if purged_on is not None:
        mark_purged(settings, room_id, purged_on)
    site.api("PATCH", f"/rooms/{room_id}", host, {"visibility": visibility})
    return room_id


def mark_purged(settings: Settings, room_id: str, on: datetime) -> None:
    """What the retention purge leaves of a room (the page reads only these rows)."""
    engine = make_engine(settings)
    with Session(engine) as session:
        retention = session.get(Retention, room_id)
        recording = session.get(Recording, room_id)
        transcript = session.get(Transcript, room_id)
        assert retention is not None and recording is not None and transcript is not None
        retention.sqlmodel_update({"state": RetentionState.PURGED, "purged_at": on})
        recording.sqlmodel_update({"state": RecordingState.PURGED, "key": None})
        transcript.sqlmodel_update({"stage": Stage.PURGED})
        session.add_all([retention, recording, transcript])
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory,
            transcriber: Transcriber) -> Iterator[Archive]:
    settings = settings_for(tmp_path_factory.mktemp("archive") / "data")
    audio = [decode(path) for _, path in SPOKEN]
    segments: list[TranscriptSegment] = []
    offset = 0.0
    for (speaker, _), samples in zip(SPOKEN, audio, strict=True):
        for seg in transcriber.transcribe(samples, offset=offset):
            segments.append(TranscriptSegment(
                room_id="-", version=1, position=len(segments), speaker_id=speaker.lower(),
                speaker_name=speaker, start=seg.start, end=seg.end, text=seg.text,
                words=[{"start": w.start, "end": w.end, "text": w.text} for w in seg.words]))
        offset += samples.size / SAMPLE_RATE
    words = [w for seg in segments for w in seg.words]
    phrase_at = next(w["start"] for w in words if normalize(w["text"]) == "fellow")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mix.ogg"
        encode(np.concatenate(audio), path, codec="libopus")
        ogg = path.read_bytes()
    with serve(settings, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as site:
        host, member = site.handle("archost"), site.handle("arcmember")
        site.account(host)
        site.account(member)
        room = archive_room(site, settings, host, "members", ogg, segments)
        hidden = archive_room(site, settings, host, "private", ogg, segments)
        purged_on = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
        purged = archive_room(site, settings, host, "public", ogg, segments, purged_on)

        def indexed() -> bool:
            found = site.api("GET", f"/search?q={quote(PHRASE)}", host)
            return {hit["room_id"] for hit in found["hits"]} == {room, hidden}

        wait_for(indexed, 10, "both rooms in the search index")
        yield Archive(site, host, member, room, hidden, ogg, purged, purged_on, phrase_at)


def until(page: Page, condition: str) -> None:
    # As a function: the page's CSP forbids the eval a bare expression would need.
    page.wait_for_function(f"() => {condition}")


def checked_axe(page: Page, what: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{what}:\n{describe(violations)}"


def test_a_search_hit_plays_at_its_second_with_captions(archive: Archive,
                                                        browser: Browser) -> None:
    site = archive.site
    with site.tab(browser, archive.member) as page:
        page.goto(f"{site.url}/search?q={quote(PHRASE)}")
        hits = page.locator(".hit")
        # The private room says the same words; its host chose not to show it to members.
        expect(hits).to_have_count(1)
        expect(hits.locator("mark")).to_have_text(["fellow", "Americans"])
        link = hits.get_by_role("link")
        assert f"/r/{archive.hidden}/" not in (link.get_attribute("href") or "")
        checked_axe(page, "search with results")

        link.click()
        expect(page).to_have_url(re.compile(rf"/r/{archive.room}/replay\?t="))
        expect(page.locator("#replay-audio")).to_be_attached()
        page.evaluate(PLAYING)
        until(page, f"{AUDIO}.currentTime > {archive.phrase_at + 0.2}")
        position = page.evaluate("document.getElementById('replay-audio').currentTime")
        assert archive.phrase_at <= position < archive.phrase_at + 1.0
        shown = page.evaluate("""() => {
            const track = document.querySelector('#replay-audio track').track;
            return {mode: track.mode,
                    cues: Array.from(track.activeCues, cue => cue.text).join(' ')};
        }""")
        assert shown["mode"] == "showing"
        assert "fellow americans" in normalize(shown["cues"])
        current = page.locator('.transcript__line[aria-current="true"]')
        expect(current).to_have_count(1)
        expect(current).to_contain_text("fellow Americans")
        checked_axe(page, "replay while playing")


def test_search_states_pass_axe(archive: Archive, browser: Browser) -> None:
    site = archive.site
    with site.tab(browser, archive.member) as page:
        page.goto(f"{site.url}/search")
        expect(page.get_by_role("search")).to_be_visible()
        checked_axe(page, "empty search")

        response = page.goto(f"{site.url}/search?q={quote('budget AND')}")
        assert response is not None and response.status == 400
        field = page.get_by_label("Words to find")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#f-q-error")).to_contain_text("operator")
        checked_axe(page, "search with an error")

        page.goto(f"{site.url}/search?q=zeppelin")
        expect(page.get_by_role("heading", level=2)).to_have_text("No lines match “zeppelin”")
        checked_axe(page, "search with no results")


def test_keyboard_alone_searches_replays_and_seeks(archive: Archive, browser: Browser) -> None:
    site = archive.site
    with site.tab(browser, archive.member) as page:
        page.goto(f"{site.url}/search")
        start_at_top(page)
        tab_to(page, "#f-q")
        page.keyboard.type(PHRASE)
        page.keyboard.press("Enter")
        expect(page.locator(".hit")).to_have_count(1)
        start_at_top(page)
        tab_to(page, ".hit a")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(rf"/r/{archive.room}/replay"))
        expect(page.locator("#replay-audio")).to_be_attached()
        page.evaluate(f"() => {{ {AUDIO}.muted = true; }}")
        start_at_top(page)
        tab_to(page, "#replay-audio")
        page.keyboard.press("Space")
        until(page, f"!{AUDIO}.paused")
        page.keyboard.press("Space")
        until(page, f"{AUDIO}.paused")

        first = page.locator(".transcript__line").first
        tab_to(page, ".transcript__line")
        page.keyboard.press("Enter")
        until(page, f"!{AUDIO}.paused && {AUDIO}.currentTime < 1.5")
        expect(first).to_have_attribute("aria-current", "true")


def test_private_rooms_stay_hidden_from_members(archive: Archive, browser: Browser) -> None:
    site = archive.site
    hidden = f"/r/{archive.hidden}/replay"
    with site.tab(browser, archive.member) as page:
        for path in (hidden, hidden + "/audio", hidden + "/captions.vtt"):
            response = page.goto(site.url + path)
            assert response is not None and response.status == 404, path
    with site.tab(browser, archive.host) as page:
        response = page.goto(site.url + hidden)
        assert response is not None and response.status == 200
        expect(page.locator("#replay-audio")).to_be_attached()
        checked_axe(page, "replay")


def test_replay_media_seek_by_range_and_end_with_retention(archive: Archive,
                                                           browser: Browser) -> None:
    site = archive.site
    with site.tab(browser) as page:
        # Members' rooms are for the signed-in: an anonymous listener is sent to sign in.
        refused = page.request.get(f"{site.url}/r/{archive.room}/replay/audio", max_redirects=0)
        assert refused.status == 303
        assert refused.headers["location"].startswith("/signin?next=")
        page.goto(f"{site.url}/r/{archive.purged}/replay")
        notice = page.locator(".notice")
        expect(notice).to_contain_text("The recording was deleted on")
        expect(notice.locator("time")).to_have_attribute("datetime",
                                                         archive.purged_on.isoformat())
        expect(page.locator("audio")).to_have_count(0)
        expect(page.locator(".transcript__line")).to_have_count(0)
        checked_axe(page, "replay after the purge")
        gone = page.request.get(f"{site.url}/r/{archive.purged}/replay/captions.vtt")
        assert gone.status == 410
    with site.tab(browser, archive.member) as page:
        audio = page.request.get(f"{site.url}/r/{archive.room}/replay/audio",
                                 headers={"Range": "bytes=100-199"})
        assert audio.status == 206
        assert audio.headers["content-type"] == "audio/ogg"
        assert audio.body() == archive.ogg[100:200]
        vtt = page.request.get(f"{site.url}/r/{archive.room}/replay/captions.vtt")
        assert vtt.status == 200 and vtt.text().startswith("WEBVTT")
        assert "fellow Americans" in vtt.text()
