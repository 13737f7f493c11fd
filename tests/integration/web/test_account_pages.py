"""The pages a user needs beyond the rooms, as a browser without script uses them: my rooms,
room settings and the calendar file, account settings (name, password, sessions, my data,
closing), profiles and follows, and what a speaker is told before agreeing to be recorded."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import Engine
from sqlmodel import Session
from websockets.sync.client import connect

from helpers.console import Visitor, moment
from helpers.profile import settings_for
from helpers.site import Site, serve
from integration.rooms.harness import FakeCaptionSource, RecordingAudioSink
from roomscribe.config import Settings
from roomscribe.db import make_engine
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import Retention, RetentionCreate, RetentionState
from roomscribe.rooms.tables import Room

COUNT = itertools.count()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Settings]]:
    settings = settings_for(tmp_path_factory.mktemp("pages") / "data")
    with serve(settings, caption_source=FakeCaptionSource(),
               audio_sink=RecordingAudioSink()) as running:
        yield running, settings


def people(site: Site, *roles: str) -> list[str]:
    handles = [f"{role}{next(COUNT)}" for role in roles]
    for handle in handles:
        site.account(handle)
    return handles


def ended_recorded(site: Site, settings: Settings, host: str, listener: str | None = None,
                   title: str = "Budget") -> str:
    room = site.room(host, record=True, title=title)
    if listener is not None:
        with connect(site.socket_url(f"/rooms/{room}/captions", listener)) as socket:
            socket.recv(timeout=10)
    site.api("POST", f"/rooms/{room}/end", host)
    ended = site.api("GET", f"/rooms/{room}", host)
    engine = make_engine(settings)
    host_id = _host_id(engine, room)
    RetentionService(engine).register(RetentionCreate(
        room_id=room, room_title=ended["title"], host_id=host_id,
        ended_at=moment(ended["ended_at"])))
    engine.dispose()
    return room


def _host_id(engine: Engine, room: str) -> int:
    with Session(engine) as session:
        row = session.get(Room, room)
        assert row is not None
        return int(row.host_id)


def retention(settings: Settings, room: str) -> Retention:
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            row = session.get(Retention, room)
            assert row is not None
            return row
    finally:
        engine.dispose()


def soon(days: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


def test_my_rooms_shows_whats_coming_and_what_is_kept(site: tuple[Site, Settings]) -> None:
    server, settings = site
    host, listener = people(server, "host", "lis")
    live = server.room(host, title="Live one")
    later = server.room(host, title="Later one", scheduled_for=soon())
    kept = ended_recorded(server, settings, host, listener, title="Kept one")
    server.api("POST", f"/rooms/{kept}/reports", listener, {"reason": "Slurs."})
    page = Visitor.arrive(server.http, host).get("/me/rooms")
    assert page.status_code == 200
    upcoming, past = page.text.split('id="past-title"')
    assert "Live one" in upcoming and "Later one" in upcoming and "Kept one" in past
    assert f'href="/r/{later}/calendar.ics"' in upcoming and f'href="/r/{live}/host"' in upcoming
    assert "will be deleted on" in past and "Reported; an admin will look into it" in past
    for link in ("replay", "downloads", "transcript", "settings"):
        assert f'href="/r/{kept}/{link}"' in past
    # The room page of the ended room leads there too, and says when it goes.
    room_page = Visitor.arrive(server.http, host).get(f"/r/{kept}").text
    assert f'href="/r/{kept}/replay"' in room_page and f'href="/r/{kept}/downloads"' in room_page
    assert "will be deleted on" in room_page and f'href="/r/{kept}/report"' in room_page
    # The listener may report it and replay it, but not download it.
    theirs = Visitor.arrive(server.http, listener).get(f"/r/{kept}").text
    assert f'href="/r/{kept}/report"' in theirs and f'href="/r/{kept}/downloads"' not in theirs


def test_the_visibility_is_chosen_with_the_room_and_changed_after_it_ends(
        site: tuple[Site, Settings]) -> None:
    server, _ = site
    (host,) = people(server, "host")
    visitor = Visitor.arrive(server.http, host)
    made = visitor.post("/rooms/new", {"title": "Private chat", "record": "on",
                                       "visibility": "private", "when": "now"})
    assert made.status_code == 303
    room = made.headers["location"].split("/")[2]
    assert server.api("GET", f"/rooms/{room}", host)["visibility"] == "private"
    server.api("POST", f"/rooms/{room}/end", host)
    form = visitor.get(f"/r/{room}/settings")
    assert form.status_code == 200 and 'name="title"' not in form.text
    assert "Who can find and replay the recording" in form.text
    saved = visitor.post(f"/r/{room}/settings", {"visibility": "public"})
    assert saved.status_code == 303
    assert server.api("GET", f"/rooms/{room}", host)["visibility"] == "public"


def test_a_scheduled_room_is_edited_from_its_settings_and_shared_as_a_calendar_entry(
        site: tuple[Site, Settings]) -> None:
    server, _ = site
    host, other = people(server, "host", "other")
    room = server.room(host, title="Friday questions", scheduled_for=soon())
    visitor = Visitor.arrive(server.http, host)
    edited = visitor.post(f"/r/{room}/settings", {
        "title": "Friday answers", "speak_policy": "invited", "record": "on",
        "visibility": "members", "scheduled_for": "2031-01-01T10:00", "timezone": "UTC"})
    assert edited.status_code == 400 and "14 days ahead" in edited.text  # too far: said so
    start = datetime.now(UTC) + timedelta(days=3)
    edited = visitor.post(f"/r/{room}/settings", {
        "title": "Friday answers", "speak_policy": "invited", "record": "on",
        "visibility": "members", "scheduled_for": start.strftime("%Y-%m-%dT%H:%M"),
        "timezone": "Europe/Paris"})
    assert edited.status_code == 303, edited.text
    now = server.api("GET", f"/rooms/{room}", host)
    assert (now["title"], now["speak_policy"], now["record"]) == ("Friday answers", "invited",
                                                                   True)
    assert Visitor.arrive(server.http, other).get(f"/r/{room}/settings").status_code == 403
    ics = Visitor.arrive(server.http, other).get(f"/r/{room}/calendar.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    [event] = Calendar.from_ical(ics.content).walk("VEVENT")
    assert str(event["summary"]) == "Friday answers"
    assert event.decoded("dtstart") == moment(now["scheduled_for"])
    assert str(event["url"]).endswith(f"/r/{room}")
    page = Visitor.arrive(server.http, other).get(f"/r/{room}").text
    assert "data-countdown" in page and f"/r/{room}/calendar.ics" in page
    assert 'id="share-link"' in page


def test_name_password_and_sessions_are_the_accounts_own(site: tuple[Site, Settings]) -> None:
    server, _ = site
    (ada,) = people(server, "ada")
    visitor = Visitor.arrive(server.http, ada)
    assert visitor.post("/account/name", {"display_name": "Ada L."}).status_code == 303
    assert server.api("GET", "/accounts/me", ada)["display_name"] == "Ada L."
    wrong = visitor.post("/account/password", {"current_password": "nope",
                                               "new_password": "a new secret"})
    assert wrong.status_code == 403 and "That is not your current password." in wrong.text
    changed = visitor.post("/account/password", {"current_password": "password1",
                                                 "new_password": "a new secret"})
    assert changed.status_code == 303
    # The API token from before is signed out; this page session is not.
    old = server.http.get("/api/v1/accounts/me",
                          headers={"Authorization": f"Bearer {server.tokens[ada]}"})
    assert old.status_code == 401
    assert visitor.get("/account").status_code == 200
    assert server.http.post("/api/v1/sessions", json={"handle": ada, "password": "a new secret"}
                            ).status_code == 201
    out = visitor.post("/account/signout-everywhere")
    assert (out.status_code, out.headers["location"]) == (303, "/signin")
    assert visitor.get("/account").status_code == 303  # back to signing in


def test_my_data_is_a_json_download(site: tuple[Site, Settings]) -> None:
    server, settings = site
    host, listener = people(server, "host", "lis")
    room = ended_recorded(server, settings, host, listener)
    server.api("POST", f"/rooms/{room}/reports", listener, {"reason": "Spam."})
    server.api("PUT", f"/accounts/me/following/{host}", listener)
    data = Visitor.arrive(server.http, listener).get("/account/data.json")
    assert data.status_code == 200 and "attachment" in data.headers["content-disposition"]
    body = data.json()
    assert body["account"]["handle"] == listener and body["following"] == [host]
    assert [r["reason"] for r in body["reports_filed"]] == ["Spam."]
    hosted = Visitor.arrive(server.http, host).get("/account/data.json").json()
    assert [r["id"] for r in hosted["rooms_hosted"]] == [room]


def test_closing_an_account_keeps_only_what_a_report_or_hold_protects(
        site: tuple[Site, Settings]) -> None:
    server, settings = site
    host, listener = people(server, "host", "lis")
    plain = ended_recorded(server, settings, host, listener, title="Plain")
    reported = ended_recorded(server, settings, host, listener, title="Reported")
    server.api("POST", f"/rooms/{reported}/reports", listener, {"reason": "Threats."})
    live = server.room(host, title="Still live")
    visitor = Visitor.arrive(server.http, host)
    refused = visitor.post("/account/close", {"close_password": "password1"})
    assert refused.status_code == 400 and "Tick the box" in refused.text
    wrong = visitor.post("/account/close", {"close_password": "nope", "understood": "on"})
    assert wrong.status_code == 403
    closed = visitor.post("/account/close", {"close_password": "password1", "understood": "on"})
    assert (closed.status_code, closed.headers["location"]) == (303, "/?closed=1")
    assert retention(settings, plain).state is RetentionState.PURGED
    kept = retention(settings, reported)
    assert kept.state is RetentionState.RETAINED and kept.reported_at is not None
    assert server.api("GET", f"/rooms/{live}", listener)["state"] == "ended"
    assert server.http.post("/api/v1/sessions", json={"handle": host, "password": "password1"}
                            ).status_code == 401
    assert Visitor.arrive(server.http, listener).get(f"/u/{host}").status_code == 404


def test_people_are_followed_from_their_profile(site: tuple[Site, Settings]) -> None:
    server, _ = site
    ada, bob = people(server, "ada", "bob")
    visitor = Visitor.arrive(server.http, ada)
    profile = visitor.get(f"/u/{bob}")
    assert profile.status_code == 200 and ">Follow<" in profile.text
    assert visitor.post(f"/u/{bob}/follow").status_code == 303
    assert [a["handle"] for a in server.api("GET", "/accounts/me/following", ada)] == [bob]
    assert ">Unfollow<" in visitor.get(f"/u/{bob}").text
    visitor.post(f"/u/{bob}/unfollow")
    assert server.api("GET", "/accounts/me/following", ada) == []


def test_a_speaker_is_told_who_will_hear_the_replay_before_agreeing(
        site: tuple[Site, Settings]) -> None:
    server, _ = site
    host, guest = people(server, "host", "guest")
    room = server.room(host, record=True, visibility="private")
    server.api("POST", f"/rooms/{room}/invitations", host, {"handle": guest})
    page = Visitor.arrive(server.http, guest).get(f"/r/{room}").text
    assert "I agree to be recorded while I speak" in page
    assert "The replay will be visible to only the host and the site&#39;s admins." in page
    # Reactions name themselves in text, for systems without an emoji font.
    assert '<span class="reaction__name">Applause</span>' in page


def test_the_page_of_an_unknown_path_is_not_a_crash(site: tuple[Site, Settings]) -> None:
    server, _ = site
    (ada,) = people(server, "ada")
    visitor = Visitor.arrive(server.http, ada)
    assert visitor.get("/u/nobody_here").status_code == 404
    assert visitor.get("/r/nosuchroom/settings").status_code == 404
    assert visitor.get("/r/nosuchroom/calendar.ics").status_code == 404
