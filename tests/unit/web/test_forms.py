"""Reading posted forms: the API's rules, the pages' own words, local times with their zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from roomscribe.accounts.schemas import AccountCreate
from roomscribe.rooms.tables import SpeakPolicy
from roomscribe.web.forms import checked, local_time, room_create, validate, value


def test_values_take_the_last_of_repeated_fields_and_default_to_empty() -> None:
    data = {"a": ["1", "2"], "b": "x", "c": None, "d": []}
    assert [value(data, k) for k in "abcde"] == ["2", "x", "", "", ""]


def test_checkboxes_are_ticked_only_by_their_posted_value() -> None:
    assert checked({"record": "on"}, "record")
    assert not checked({}, "record")
    assert not checked({"record": "off"}, "record")


def test_validation_uses_the_api_schema_and_the_pages_wording() -> None:
    account, errors = validate(AccountCreate, {"handle": "a!", "display_name": "",
                                               "password": "short"})
    assert account is None
    assert errors == {"handle": "Use 3 to 30 letters, digits or underscores.",
                      "display_name": "Enter a name of 1 to 50 characters.",
                      "password": "Use at least 8 characters."}
    account, errors = validate(AccountCreate, {"handle": "Ada", "display_name": "Ada",
                                               "password": "long enough"})
    assert errors == {} and account is not None and account.handle == "ada"


def test_a_room_starting_now_needs_only_a_title() -> None:
    room, errors = room_create({"title": " Standup ", "record": "on"})
    assert errors == {}
    assert room is not None
    assert (room.title, room.record, room.captions_public, room.speak_policy,
            room.scheduled_for) == ("Standup", True, False, SpeakPolicy.EVERYONE, None)


def test_a_scheduled_room_reads_its_time_in_the_readers_zone() -> None:
    room, errors = room_create({"title": "Later", "when": "later",
                                "scheduled_for": "2031-03-04T18:30",
                                "timezone": "Europe/Paris", "speak_policy": "invited"})
    assert errors == {} and room is not None and room.scheduled_for is not None
    assert room.scheduled_for.astimezone(UTC) == datetime(2031, 3, 4, 17, 30, tzinfo=UTC)
    assert room.speak_policy is SpeakPolicy.INVITED


@pytest.mark.parametrize("when", ["", "tomorrow", "2031-13-01T10:00"])
def test_an_unreadable_start_time_is_reported_beside_its_field(when: str) -> None:
    room, errors = room_create({"title": "", "when": "later", "scheduled_for": when})
    assert room is None
    assert errors == {"title": "Enter a title of 1 to 100 characters.",
                      "scheduled_for": "Enter the date and time the room starts."}


@pytest.mark.parametrize("zone", ["", "Not/AZone", "../../etc/passwd"])
def test_unknown_time_zones_fall_back_to_utc(zone: str) -> None:
    assert local_time("2031-03-04T18:30", zone).utcoffset() == timedelta(0)


def test_a_time_that_already_has_an_offset_keeps_it() -> None:
    moment = local_time("2031-03-04T18:30+02:00", "Asia/Tokyo")
    assert moment.utcoffset() == timedelta(hours=2)
    assert local_time("2031-07-01T12:00", "Asia/Tokyo").tzinfo == ZoneInfo("Asia/Tokyo")
