"""The room rules as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from roomscribe.errors import Conflict, Forbidden, InvalidInput
from roomscribe.rooms import rules
from roomscribe.rooms.tables import Role, RoomState, SpeakPolicy

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
ALLOWED = {(RoomState.SCHEDULED, RoomState.LIVE), (RoomState.SCHEDULED, RoomState.CANCELLED),
           (RoomState.LIVE, RoomState.ENDED)}


@pytest.mark.parametrize("current", list(RoomState))
@pytest.mark.parametrize("target", list(RoomState))
def test_only_the_four_transitions_exist(current: RoomState, target: RoomState) -> None:
    if (current, target) in ALLOWED:
        rules.check_transition(current, target)
    else:
        with pytest.raises(Conflict):
            rules.check_transition(current, target)


@pytest.mark.parametrize(("delta", "ok"), [
    (timedelta(seconds=1), True), (timedelta(days=14), True),
    (timedelta(days=14, seconds=1), False), (timedelta(0), False), (timedelta(hours=-1), False),
])
def test_schedule_window(delta: timedelta, ok: bool) -> None:
    if ok:
        rules.check_schedule(NOW + delta, NOW)
    else:
        with pytest.raises(InvalidInput):
            rules.check_schedule(NOW + delta, NOW)


def test_one_pending_scheduled_room() -> None:
    rules.check_one_pending(0)
    with pytest.raises(Conflict):
        rules.check_one_pending(1)


@pytest.mark.parametrize(("policy", "follows", "invited", "allowed"), [
    (SpeakPolicy.EVERYONE, False, False, True),
    (SpeakPolicy.FOLLOWED, True, False, True),
    (SpeakPolicy.FOLLOWED, False, False, False),
    (SpeakPolicy.FOLLOWED, False, True, True),
    (SpeakPolicy.INVITED, True, False, False),
    (SpeakPolicy.INVITED, False, True, True),
])
def test_speak_policies(policy: SpeakPolicy, follows: bool, invited: bool, allowed: bool) -> None:
    def ask() -> None:
        rules.check_may_request(policy=policy, role=Role.LISTENER, invited=invited,
                                host_follows=follows, record=False, consent=False)

    if allowed:
        ask()
    else:
        with pytest.raises(Forbidden):
            ask()


@pytest.mark.parametrize(("role", "error"), [
    (Role.BLOCKED, Forbidden), (Role.SPEAKER, Conflict), (Role.COHOST, Conflict),
    (Role.HOST, Conflict),
])
def test_only_listeners_ask_to_speak(role: Role, error: type[Exception]) -> None:
    with pytest.raises(error):
        rules.check_may_request(policy=SpeakPolicy.EVERYONE, role=role, invited=False,
                                host_follows=False, record=False, consent=False)


def test_recorded_rooms_need_consent() -> None:
    rules.check_consent(record=False, consent=False)
    rules.check_consent(record=True, consent=True)
    with pytest.raises(InvalidInput, match="consent=true"):
        rules.check_consent(record=True, consent=False)


@pytest.mark.parametrize(("actor", "target", "allowed"), [
    (Role.HOST, Role.COHOST, True), (Role.HOST, Role.SPEAKER, True),
    (Role.HOST, Role.LISTENER, True), (Role.HOST, Role.BLOCKED, True),
    (Role.HOST, Role.HOST, False),
    (Role.COHOST, Role.SPEAKER, True), (Role.COHOST, Role.LISTENER, True),
    (Role.COHOST, Role.COHOST, False), (Role.COHOST, Role.HOST, False),
    (Role.SPEAKER, Role.LISTENER, False), (Role.LISTENER, Role.LISTENER, False),
    (Role.BLOCKED, Role.LISTENER, False),
])
def test_moderators_act_only_below_them(actor: Role, target: Role, allowed: bool) -> None:
    if allowed:
        rules.check_outranks(actor, target)
    else:
        with pytest.raises(Forbidden):
            rules.check_outranks(actor, target)


def test_caps() -> None:
    rules.check_speaker_slot(9)
    rules.check_cohost_slot(1)
    with pytest.raises(Conflict, match="10 speakers"):
        rules.check_speaker_slot(10)
    with pytest.raises(Conflict, match="2 co-hosts"):
        rules.check_cohost_slot(2)
    assert len(rules.VOICES) == 3 and 1 + rules.MAX_COHOSTS + rules.MAX_SPEAKERS == 13


@pytest.mark.parametrize("state", [RoomState.ENDED, RoomState.CANCELLED])
def test_closed_rooms_take_no_changes(state: RoomState) -> None:
    with pytest.raises(Conflict):
        rules.check_open(state)
    with pytest.raises(Conflict):
        rules.check_live(state)
    rules.check_open(RoomState.SCHEDULED)
