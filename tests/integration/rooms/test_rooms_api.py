"""A room's rules through the API: states, scheduling, caps, speak policies, consent, extras."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integration.rooms.harness import Api


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def accounts(api: Api, *handles: str) -> None:
    for handle in handles:
        await api.account(handle)


# -- creating, states and scheduling ------------------------------------------------------------


async def test_a_room_without_a_schedule_is_live_at_once_and_shows_its_choices(api: Api) -> None:
    await api.account("host")
    room = await api.ok("POST", "/rooms", "host", {
        "title": "  Morning show ", "speak_policy": "followed", "record": True,
        "captions_public": True})
    assert room["state"] == "live" and room["started_at"] is not None
    assert (room["title"], room["speak_policy"]) == ("Morning show", "followed")
    assert room["record"] is True and room["captions_public"] is True
    assert room["host"] == "host" and len(room["id"]) >= 10
    assert await api.ok("GET", f"/rooms/{room['id']}", None) == room


async def test_a_scheduled_room_waits_then_starts_then_ends(api: Api) -> None:
    await api.account("host")
    room = await api.ok("POST", "/rooms", "host",
                        {"title": "Later", "scheduled_for": later(days=2)})
    assert room["state"] == "scheduled" and room["started_at"] is None
    started = await api.ok("POST", f"/rooms/{room['id']}/start", "host")
    assert started["state"] == "live" and started["started_at"] is not None
    ended = await api.ok("POST", f"/rooms/{room['id']}/end", "host")
    assert ended["state"] == "ended" and ended["ended_at"] is not None


@pytest.mark.parametrize(("setup", "action", "detail"), [
    ("scheduled", "end", "a scheduled room cannot become ended"),
    ("live", "cancel", "a live room cannot become cancelled"),
    ("ended", "start", "a ended room cannot become live"),
    ("ended", "end", "a ended room cannot become ended"),
    ("cancelled", "start", "a cancelled room cannot become live"),
])
async def test_only_allowed_transitions(api: Api, setup: str, action: str, detail: str) -> None:
    await api.account("host")
    fields = {"scheduled_for": later(hours=1)} if setup in ("scheduled", "cancelled") else {}
    room = await api.room("host", **fields)
    if setup == "ended":
        await api.ok("POST", f"/rooms/{room}/end", "host")
    if setup == "cancelled":
        await api.ok("POST", f"/rooms/{room}/cancel", "host")
    response = await api.call("POST", f"/rooms/{room}/{action}", "host")
    assert response.status_code == 409
    assert response.json()["detail"] == detail


async def test_starting_a_live_room_again_answers_with_the_room(api: Api) -> None:
    await accounts(api, "host", "other")
    room = await api.room("host", scheduled_for=later(hours=1))
    started = await api.ok("POST", f"/rooms/{room}/start", "host")
    response = await api.call("POST", f"/rooms/{room}/start", "host")
    assert response.status_code == 200
    assert response.json() == started  # same start time: the second press changed nothing
    assert (await api.call("POST", f"/rooms/{room}/start", "other")).status_code == 403


async def test_a_room_may_be_scheduled_up_to_14_days_ahead(api: Api) -> None:
    await api.account("host")
    ok = await api.call("POST", "/rooms", "host",
                        {"title": "x", "scheduled_for": later(days=13, hours=23)})
    assert ok.status_code == 201
    await api.ok("POST", f"/rooms/{ok.json()['id']}/cancel", "host")
    too_far = await api.call("POST", "/rooms", "host",
                             {"title": "x", "scheduled_for": later(days=14, minutes=1)})
    assert too_far.status_code == 400
    assert too_far.json()["detail"] == "a room may be scheduled at most 14 days ahead"


@pytest.mark.parametrize(("when", "status"), [
    (later(minutes=-1), 400),
    ("2030-01-01T10:00:00", 400),
    ("soon", 400),
])
async def test_bad_schedule_times_are_refused(api: Api, when: str, status: int) -> None:
    await api.account("host")
    response = await api.call("POST", "/rooms", "host", {"title": "x", "scheduled_for": when})
    assert response.status_code == status


async def test_at_most_one_pending_scheduled_room_per_host(api: Api) -> None:
    await accounts(api, "host", "other")
    first = await api.room("host", scheduled_for=later(days=1))
    second = await api.call("POST", "/rooms", "host",
                            {"title": "x", "scheduled_for": later(days=3)})
    assert second.status_code == 409
    assert "already have a scheduled room" in second.json()["detail"]
    # Another host, and rooms going live at once, are not affected.
    assert (await api.call("POST", "/rooms", "other",
                           {"title": "x", "scheduled_for": later(days=1)})).status_code == 201
    assert (await api.call("POST", "/rooms", "host", {"title": "now"})).status_code == 201
    await api.ok("POST", f"/rooms/{first}/start", "host")
    again = await api.call("POST", "/rooms", "host",
                           {"title": "x", "scheduled_for": later(days=3)})
    assert again.status_code == 201


async def test_a_scheduled_room_can_be_edited_and_a_live_one_cannot(api: Api) -> None:
    await api.account("host")
    room = await api.room("host", scheduled_for=later(days=1))
    edited = await api.ok("PATCH", f"/rooms/{room}", "host",
                          {"record": True, "title": "Renamed", "scheduled_for": later(days=2)})
    assert edited["record"] is True and edited["title"] == "Renamed"
    too_far = await api.call("PATCH", f"/rooms/{room}", "host", {"scheduled_for": later(days=20)})
    assert too_far.status_code == 400
    await api.ok("POST", f"/rooms/{room}/start", "host")
    response = await api.call("PATCH", f"/rooms/{room}", "host", {"record": False})
    assert response.status_code == 409
    assert (await api.ok("GET", f"/rooms/{room}", "host"))["record"] is True


async def test_a_room_has_a_language_chosen_before_it_starts(api: Api) -> None:
    await api.account("host")
    english = await api.ok("GET", f"/rooms/{await api.room('host')}", "host")
    assert english["language"] == "en"  # unless the host says otherwise
    room = await api.room("host", scheduled_for=later(days=1), language="es")
    assert (await api.ok("GET", f"/rooms/{room}", "host"))["language"] == "es"
    unknown = await api.call("POST", "/rooms", "host", {"title": "x", "language": "xx"})
    assert unknown.status_code == 400 and "unknown language 'xx'" in unknown.text
    assert (await api.ok("PATCH", f"/rooms/{room}", "host",
                         {"language": "detect"}))["language"] == "detect"
    await api.ok("POST", f"/rooms/{room}/start", "host")
    fixed = await api.call("PATCH", f"/rooms/{room}", "host", {"language": "fr"})
    assert fixed.status_code == 409


@pytest.mark.parametrize("field", ["title", "speak_policy", "record", "captions_public",
                                   "language"])
async def test_a_field_every_room_has_cannot_be_set_to_null(api: Api, field: str) -> None:
    await api.account("host")
    room = await api.room("host", scheduled_for=later(days=1))
    response = await api.call("PATCH", f"/rooms/{room}", "host", {field: None})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{field} cannot be null; leave it out to keep it"
    assert (await api.ok("GET", f"/rooms/{room}", "host"))["title"] == "A room"


@pytest.mark.parametrize("body", [
    {"title": ""}, {"title": "   "}, {"title": "x" * 101}, {"title": "x", "speak_policy": "all"},
    {"title": "x", "record": "perhaps"}, {},
])
async def test_bad_room_fields_are_refused(api: Api, body: dict[str, object]) -> None:
    await api.account("host")
    assert (await api.call("POST", "/rooms", "host", body)).status_code == 400


async def test_unknown_rooms_are_404(api: Api) -> None:
    await api.account("host")
    for method, path in (("GET", ""), ("POST", "/start"), ("POST", "/end"),
                         ("POST", "/requests"), ("GET", "/members"), ("GET", "/pins")):
        response = await api.call(method, f"/rooms/nosuchroom{path}", "host",
                                  {} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == "no room 'nosuchroom'"


async def test_private_rooms_need_an_account_to_be_seen(api: Api) -> None:
    await api.account("host")
    private = await api.room("host")
    public = await api.room("host", captions_public=True)
    assert (await api.call("GET", f"/rooms/{private}", None)).status_code == 401
    assert (await api.call("GET", f"/rooms/{public}", None)).status_code == 200
    listed = await api.ok("GET", "/rooms", "host")
    assert {r["id"] for r in listed} == {private, public}


# -- role caps ----------------------------------------------------------------------------------


async def test_at_most_ten_speakers(api: Api) -> None:
    speakers = [f"spk{i}" for i in range(11)]
    await accounts(api, "host", *speakers)
    room = await api.room("host")
    for handle in speakers[:10]:
        await api.speaker(room, "host", handle)
    await api.ok("POST", f"/rooms/{room}/invitations", "host", {"handle": "spk10"})
    full = await api.call("POST", f"/rooms/{room}/invitations/accept", "spk10", {"consent": True})
    assert full.status_code == 409
    assert full.json()["detail"] == "the room already has 10 speakers"
    await api.ok("POST", f"/rooms/{room}/requests", "spk10", {})
    assert (await api.call("POST", f"/rooms/{room}/requests/spk10/approve", "host")).status_code \
        == 409
    # Freeing a slot lets the next one in: 13 voices at most (host, 2 co-hosts, 10 speakers).
    await api.ok("POST", f"/rooms/{room}/members/spk0/revoke", "host")
    await api.ok("POST", f"/rooms/{room}/requests/spk10/approve", "host")


async def test_at_most_two_cohosts_and_thirteen_voices(api: Api) -> None:
    people = [f"person{i}" for i in range(12)]
    await accounts(api, "host", *people)
    room = await api.room("host")
    await api.cohost(room, "host", "person0")
    await api.cohost(room, "host", "person1")
    await api.speaker(room, "host", "person2")
    third = await api.call("PUT", f"/rooms/{room}/roles/person2", "host", {"role": "cohost"})
    assert third.status_code == 409
    assert third.json()["detail"] == "the room already has 2 co-hosts"
    for handle in people[3:]:
        await api.speaker(room, "host", handle)
    members = await api.ok("GET", f"/rooms/{room}/members", "host")
    roles = [m["role"] for m in members]
    assert roles.count("host") == 1 and roles.count("cohost") == 2 and roles.count("speaker") == 10
    # A co-host cannot step down to speaker while all ten speaker seats are taken.
    demote = await api.call("PUT", f"/rooms/{room}/roles/person0", "host", {"role": "speaker"})
    assert demote.status_code == 409


async def test_roles_change_only_along_the_ladder(api: Api) -> None:
    await accounts(api, "host", "ann", "spk")
    room = await api.room("host")
    await api.speaker(room, "host", "spk")
    listener_to_cohost = await api.call("PUT", f"/rooms/{room}/roles/ann", "host",
                                        {"role": "cohost"})
    assert listener_to_cohost.status_code == 409
    assert (await api.call("PUT", f"/rooms/{room}/roles/host", "host",
                           {"role": "listener"})).status_code == 403
    assert (await api.call("PUT", f"/rooms/{room}/roles/spk", "host",
                           {"role": "host"})).status_code == 400
    promoted = await api.ok("PUT", f"/rooms/{room}/roles/spk", "host", {"role": "cohost"})
    assert promoted["role"] == "cohost"
    back = await api.ok("PUT", f"/rooms/{room}/roles/spk", "host", {"role": "speaker"})
    assert back["role"] == "speaker"
    down = await api.ok("PUT", f"/rooms/{room}/roles/spk", "host", {"role": "listener"})
    assert down["role"] == "listener"


# -- speak policies and requests ----------------------------------------------------------------


async def test_everyone_may_ask_to_speak_and_the_host_decides(api: Api) -> None:
    await accounts(api, "host", "ann")
    room = await api.room("host", speak_policy="everyone")
    asked = await api.ok("POST", f"/rooms/{room}/requests", "ann", {})
    assert asked["role"] == "listener" and asked["requested_at"] is not None
    assert [r["handle"] for r in await api.ok("GET", f"/rooms/{room}/requests", "host")] == ["ann"]
    again = await api.call("POST", f"/rooms/{room}/requests", "ann", {})
    assert again.status_code == 409
    approved = await api.ok("POST", f"/rooms/{room}/requests/ann/approve", "host")
    assert approved["role"] == "speaker" and approved["requested_at"] is None
    assert await api.ok("GET", f"/rooms/{room}/requests", "host") == []
    speaking = await api.call("POST", f"/rooms/{room}/requests", "ann", {})
    assert speaking.status_code == 409


async def test_followed_lets_only_people_the_host_follows_ask(api: Api) -> None:
    await accounts(api, "host", "friend", "stranger")
    await api.ok("PUT", "/accounts/me/following/friend", "host")
    await api.ok("PUT", "/accounts/me/following/host", "stranger")  # the other direction
    room = await api.room("host", speak_policy="followed")
    assert (await api.call("POST", f"/rooms/{room}/requests", "friend", {})).status_code == 201
    refused = await api.call("POST", f"/rooms/{room}/requests", "stranger", {})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "in this room only people the host follows may ask to speak"
    # An invitation is the host's explicit choice, and is still honoured.
    await api.speaker(room, "host", "stranger")


async def test_invited_lets_only_invited_people_ask_or_accept(api: Api) -> None:
    await accounts(api, "host", "guest", "walkin")
    room = await api.room("host", speak_policy="invited")
    refused = await api.call("POST", f"/rooms/{room}/requests", "walkin", {})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "in this room only invited people may speak"
    assert (await api.call("POST", f"/rooms/{room}/invitations/accept", "walkin",
                           {})).status_code == 404
    await api.ok("POST", f"/rooms/{room}/invitations", "host", {"handle": "guest"})
    assert (await api.call("POST", f"/rooms/{room}/requests", "guest", {})).status_code == 201
    accepted = await api.ok("POST", f"/rooms/{room}/invitations/accept", "guest", {})
    assert accepted["role"] == "speaker" and accepted["invited_at"] is None


async def test_requests_and_invitations_can_be_withdrawn_or_declined(api: Api) -> None:
    await accounts(api, "host", "ann", "bob")
    room = await api.room("host")
    await api.ok("POST", f"/rooms/{room}/requests", "ann", {})
    assert (await api.call("DELETE", f"/rooms/{room}/requests/ann", "bob")).status_code == 403
    assert (await api.call("DELETE", f"/rooms/{room}/requests/ann", "ann")).status_code == 204
    assert (await api.call("POST", f"/rooms/{room}/requests/ann/approve", "host")).status_code \
        == 404
    await api.ok("POST", f"/rooms/{room}/requests", "ann", {})
    assert (await api.call("DELETE", f"/rooms/{room}/requests/ann", "host")).status_code == 204
    await api.ok("POST", f"/rooms/{room}/invitations", "host", {"handle": "bob"})
    assert (await api.call("DELETE", f"/rooms/{room}/invitations/bob", "bob")).status_code == 204
    assert (await api.call("POST", f"/rooms/{room}/invitations/accept", "bob",
                           {})).status_code == 404


async def test_invitations_can_seat_speakers_before_the_start(api: Api) -> None:
    await accounts(api, "host", "guest", "ann")
    room = await api.room("host", scheduled_for=later(hours=2))
    await api.speaker(room, "host", "guest")
    assert (await api.call("POST", f"/rooms/{room}/requests", "ann", {})).status_code == 409
    await api.ok("POST", f"/rooms/{room}/start", "host")
    members = await api.ok("GET", f"/rooms/{room}/members", "guest")
    assert [(m["handle"], m["role"]) for m in members] == [("host", "host"), ("guest", "speaker")]


async def test_blocked_accounts_cannot_be_invited_or_ask(api: Api) -> None:
    await accounts(api, "host", "troll")
    room = await api.room("host")
    await api.ok("POST", f"/rooms/{room}/members/troll/block", "host")
    assert (await api.call("POST", f"/rooms/{room}/invitations", "host",
                           {"handle": "troll"})).status_code == 409
    assert (await api.call("POST", f"/rooms/{room}/requests", "troll", {})).status_code == 403
    assert (await api.call("GET", f"/rooms/{room}", "troll")).status_code == 403
    assert (await api.call("POST", f"/rooms/{room}/members/troll/unblock", "host")).status_code \
        == 204
    assert (await api.call("POST", f"/rooms/{room}/requests", "troll", {})).status_code == 201


async def test_invitations_to_unknown_accounts_are_404(api: Api) -> None:
    await api.account("host")
    room = await api.room("host")
    response = await api.call("POST", f"/rooms/{room}/invitations", "host", {"handle": "ghost"})
    assert response.status_code == 404


# -- consent ------------------------------------------------------------------------------------


async def test_a_recorded_room_needs_consent_to_speak_and_stores_it(api: Api) -> None:
    await accounts(api, "host", "ann", "guest")
    room = await api.room("host", record=True)
    refused = await api.call("POST", f"/rooms/{room}/requests", "ann", {"consent": False})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "this room is recorded: speaking needs consent=true"
    asked = await api.ok("POST", f"/rooms/{room}/requests", "ann", {"consent": True})
    assert asked["consent_at"] is not None
    approved = await api.ok("POST", f"/rooms/{room}/requests/ann/approve", "host")
    assert approved["consent_at"] == asked["consent_at"]

    await api.ok("POST", f"/rooms/{room}/invitations", "host", {"handle": "guest"})
    no = await api.call("POST", f"/rooms/{room}/invitations/accept", "guest", {})
    assert no.status_code == 400
    accepted = await api.ok("POST", f"/rooms/{room}/invitations/accept", "guest",
                            {"consent": True})
    consented = datetime.fromisoformat(accepted["consent_at"])
    assert abs(datetime.now(UTC) - consented) < timedelta(seconds=30)
    members = {m["handle"]: m for m in await api.ok("GET", f"/rooms/{room}/members", "host")}
    assert members["host"]["consent_at"] is not None  # choosing to record is the host's consent
    # Moving a speaker back to listener keeps the evidence of what they agreed to.
    revoked = await api.ok("POST", f"/rooms/{room}/members/guest/revoke", "host")
    assert revoked["consent_at"] == accepted["consent_at"]


async def test_an_unrecorded_room_stores_no_consent(api: Api) -> None:
    await accounts(api, "host", "ann")
    room = await api.room("host", record=False)
    asked = await api.ok("POST", f"/rooms/{room}/requests", "ann", {"consent": True})
    assert asked["consent_at"] is None


# -- moderation details -------------------------------------------------------------------------


async def test_a_cohost_cannot_act_on_the_host_or_the_other_cohost(api: Api) -> None:
    await accounts(api, "host", "co1", "co2")
    room = await api.room("host")
    await api.cohost(room, "host", "co1")
    await api.cohost(room, "host", "co2")
    for action in ("revoke", "mute", "remove", "block"):
        for target in ("host", "co2"):
            response = await api.call("POST", f"/rooms/{room}/members/{target}/{action}", "co1")
            assert response.status_code == 403, (action, target)
    assert (await api.call("POST", f"/rooms/{room}/members/co2/mute", "host")).status_code == 200


async def test_speakers_mute_themselves_and_only_they_unmute(api: Api) -> None:
    await accounts(api, "host", "spk")
    room = await api.room("host")
    await api.speaker(room, "host", "spk")
    assert (await api.ok("POST", f"/rooms/{room}/members/spk/mute", "spk"))["muted"] is True
    refused = await api.call("POST", f"/rooms/{room}/members/spk/unmute", "host")
    assert refused.status_code == 403
    assert (await api.ok("POST", f"/rooms/{room}/members/spk/unmute", "spk"))["muted"] is False
    await api.ok("POST", f"/rooms/{room}/members/spk/mute", "host")
    assert (await api.ok("POST", f"/rooms/{room}/members/spk/unmute", "spk"))["muted"] is False


async def test_listeners_cannot_be_muted_or_revoked(api: Api) -> None:
    await accounts(api, "host", "ann")
    room = await api.room("host")
    for action in ("mute", "revoke"):
        response = await api.call("POST", f"/rooms/{room}/members/ann/{action}", "host")
        assert response.status_code == 409


async def test_members_lists_standing_and_hides_blocks_from_non_moderators(api: Api) -> None:
    await accounts(api, "host", "spk", "ann", "troll")
    room = await api.room("host")
    await api.speaker(room, "host", "spk")
    await api.ok("POST", f"/rooms/{room}/requests", "ann", {})
    await api.ok("POST", f"/rooms/{room}/members/troll/block", "host")
    seen_by_host = [(m["handle"], m["role"])
                    for m in await api.ok("GET", f"/rooms/{room}/members", "host")]
    assert seen_by_host == [("host", "host"), ("spk", "speaker"), ("ann", "listener"),
                            ("troll", "blocked")]
    seen_by_ann = [m["handle"] for m in await api.ok("GET", f"/rooms/{room}/members", "ann")]
    assert "troll" not in seen_by_ann


# -- room extras --------------------------------------------------------------------------------


async def test_pins_are_kept_while_live_and_gone_when_the_room_ends(api: Api) -> None:
    await accounts(api, "host", "ann")
    room = await api.room("host", captions_public=True)
    pins = [await api.ok("POST", f"/rooms/{room}/pins", "host",
                         {"url": f"https://example.org/{i}", "title": f"link {i}"})
            for i in range(5)]
    assert [p["id"] for p in pins] == [1, 2, 3, 4, 5]
    sixth = await api.call("POST", f"/rooms/{room}/pins", "host", {"url": "https://x.org"})
    assert sixth.status_code == 409
    assert (await api.call("DELETE", f"/rooms/{room}/pins/2", "host")).status_code == 204
    assert (await api.call("DELETE", f"/rooms/{room}/pins/2", "host")).status_code == 404
    listed = await api.ok("GET", f"/rooms/{room}/pins", None)
    assert [p["id"] for p in listed] == [1, 3, 4, 5]
    await api.ok("POST", f"/rooms/{room}/end", "host")
    assert await api.ok("GET", f"/rooms/{room}/pins", "ann") == []
    after = await api.call("POST", f"/rooms/{room}/pins", "host", {"url": "https://x.org"})
    assert after.status_code == 409


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.org/f", "https:// x",
                                 "https://" + "x" * 2050])
async def test_only_web_links_can_be_pinned(api: Api, url: str) -> None:
    await api.account("host")
    room = await api.room("host")
    assert (await api.call("POST", f"/rooms/{room}/pins", "host", {"url": url})).status_code \
        == 400


@pytest.mark.parametrize("emoji", ["👏", "😂", "❤️", "💯", "🔥", "😮"])
async def test_the_six_reactions(api: Api, emoji: str) -> None:
    await api.account("host")
    room = await api.room("host")
    assert (await api.call("POST", f"/rooms/{room}/reactions", "host",
                           {"emoji": emoji})).status_code == 204


@pytest.mark.parametrize("emoji", ["👍", "", "clap", "👏👏"])
async def test_other_reactions_are_refused(api: Api, emoji: str) -> None:
    await api.account("host")
    room = await api.room("host")
    assert (await api.call("POST", f"/rooms/{room}/reactions", "host",
                           {"emoji": emoji})).status_code == 400


async def test_reactions_are_rate_limited_per_account(api: Api) -> None:
    await accounts(api, "host", "ann")
    room = await api.room("host")
    for _ in range(10):
        await api.ok("POST", f"/rooms/{room}/reactions", "ann", {"emoji": "🔥"})
    flood = await api.call("POST", f"/rooms/{room}/reactions", "ann", {"emoji": "🔥"})
    assert flood.status_code == 429 and int(flood.headers["retry-after"]) <= 10
    assert (await api.call("POST", f"/rooms/{room}/reactions", "host",
                           {"emoji": "🔥"})).status_code == 204


async def test_room_extras_need_the_room_live(api: Api) -> None:
    await accounts(api, "host", "ann")
    room = await api.room("host", scheduled_for=later(hours=1))
    assert (await api.call("POST", f"/rooms/{room}/reactions", "ann",
                           {"emoji": "🔥"})).status_code == 409
    assert (await api.call("POST", f"/rooms/{room}/pins", "host",
                           {"url": "https://x.org"})).status_code == 409
    assert (await api.call("POST", f"/rooms/{room}/requests", "ann", {})).status_code == 409


async def test_the_api_is_described_in_the_openapi_schema(api: Api) -> None:
    schema = (await api.http.get("/schema/openapi.json")).json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()
                  if isinstance(op, dict) and "operationId" in op}
    assert {"createAccount", "signIn", "createRoom", "startRoom", "endRoom", "requestToSpeak",
            "approveRequest", "invite", "acceptInvitation", "setRole", "revokeSpeaker",
            "muteMember", "removeMember", "blockMember", "react", "pinLink",
            "captionEvents"} <= operations
