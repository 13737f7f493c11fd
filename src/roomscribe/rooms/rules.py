"""The rules of a live audio room, as pure functions over plain values.

Each check raises the domain error a violation maps to (see `roomscribe.errors`) and returns
nothing, so the service reads as a list of rules and the rules are testable without a database.

Who may do what (the permission matrix the API tests walk cell by cell):

    action                         host  cohost  speaker  listener  anonymous
    start, end, cancel, edit        ✓      403     403      403       401
    set roles (co-host ↔ speaker)   ✓      403     403      403       401
    pin / unpin links               ✓      403     403      403       401
    invite, approve, deny           ✓       ✓      403      403       401
    revoke, mute, remove, block     ✓       ✓*     403      403       401
    react                           ✓       ✓       ✓        ✓        401
    ask to speak                    –       –       –        ✓        401
    send audio                      ✓       ✓       ✓       4403     4401
    read captions                   ✓       ✓       ✓        ✓       4401 unless captions_public

    * a co-host acts on speakers and listeners, never on the host or the other co-host.

A site admin has no power inside a room beyond their role there: rooms belong to their hosts, and
"only the host ends the room" has no exception. Blocked accounts may do nothing in the room.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from roomscribe.errors import Conflict, Forbidden, InvalidInput, Unprocessable
from roomscribe.languages import DETECT, ENGLISH
from roomscribe.rooms.tables import Role, RoomState, SpeakPolicy

MAX_COHOSTS = 2
MAX_SPEAKERS = 10
MAX_SCHEDULE_AHEAD = timedelta(days=14)
VOICES = frozenset({Role.HOST, Role.COHOST, Role.SPEAKER})
"""Roles that may send audio: at most 1 + 2 + 10 = 13 voices at once."""
MODERATORS = frozenset({Role.HOST, Role.COHOST})

_RANK = {Role.HOST: 3, Role.COHOST: 2, Role.SPEAKER: 1, Role.LISTENER: 0, Role.BLOCKED: 0}

_TRANSITIONS = {
    RoomState.SCHEDULED: frozenset({RoomState.LIVE, RoomState.CANCELLED}),
    RoomState.LIVE: frozenset({RoomState.ENDED}),
    RoomState.ENDED: frozenset(),
    RoomState.CANCELLED: frozenset(),
}


def check_transition(current: RoomState, target: RoomState) -> None:
    if target not in _TRANSITIONS[current]:
        raise Conflict(f"a {current} room cannot become {target}")


def check_schedule(scheduled_for: datetime, now: datetime) -> None:
    if scheduled_for <= now:
        raise InvalidInput("scheduled_for is in the past")
    if scheduled_for > now + MAX_SCHEDULE_AHEAD:
        raise InvalidInput("a room may be scheduled at most 14 days ahead")


def check_one_pending(pending_scheduled: int) -> None:
    if pending_scheduled:
        raise Conflict("you already have a scheduled room; start or cancel it first")


def check_no_nulls(changes: Mapping[str, Any], *, nullable: Collection[str]) -> None:
    """A change may leave a field out, but not blank a field every room has (a title)."""
    for name, value in changes.items():
        if value is None and name not in nullable:
            raise Unprocessable(f"{name} cannot be null; leave it out to keep it")


def check_live_room_slot(hosting: int, most: int) -> None:
    """One account hosts at most `most` live rooms at once."""
    if hosting >= most:
        raise Conflict(f"you already host {hosting} live room{'s' * (hosting != 1)}, the most "
                       "at once; end one first")


def check_open(state: RoomState) -> None:
    """Room extras (requests, roles, invitations) exist until the room ends or is cancelled."""
    if state in (RoomState.ENDED, RoomState.CANCELLED):
        raise Conflict(f"the room is {state}")


def check_live(state: RoomState) -> None:
    if state is not RoomState.LIVE:
        raise Conflict(f"the room is {state}, not live")


def check_not_blocked(role: Role) -> None:
    if role is Role.BLOCKED:
        raise Forbidden("you are blocked from this room")


def check_host(role: Role) -> None:
    if role is not Role.HOST:
        raise Forbidden("only the host may do this")


def check_moderator(role: Role) -> None:
    if role not in MODERATORS:
        raise Forbidden("only the host or a co-host may do this")


def check_may_set_language(*, actor: Role, is_self: bool, room_language: str,
                           language: str) -> None:
    """A speaker's language is theirs to say, or a moderator's to correct, in a room heard by
    the multilingual model: an English room's model hears English alone."""
    if not is_self:
        check_moderator(actor)
    if room_language == ENGLISH:
        raise Conflict("this room is captioned in English only; a room's language is chosen "
                       "before it starts (choose another language, or detect, for rooms "
                       "where speakers differ)")
    if language == DETECT:
        raise InvalidInput("give the language the speaker speaks, such as 'es'")


def check_outranks(actor: Role, target: Role) -> None:
    """A moderator acts only on accounts below them (the host on co-hosts, co-hosts below that)."""
    check_moderator(actor)
    if _RANK[target] >= _RANK[actor]:
        raise Forbidden(f"a {actor} cannot act on a {target}")


def check_may_request(*, policy: SpeakPolicy, role: Role, invited: bool, host_follows: bool,
                      record: bool, consent: bool) -> None:
    """May a listener ask to speak?

    `followed` rooms allow requests from people the host follows and refuse the rest; the request
    still waits for a host or co-host, because the speaker slots are scarce (10) and approving is
    the moment a moderator decides who takes one. `invited` rooms refuse every request from an
    account without an open invitation (that account should accept the invitation instead).
    """
    check_not_blocked(role)
    if role in VOICES:
        raise Conflict(f"you are already a {role}")
    if policy is SpeakPolicy.FOLLOWED and not (host_follows or invited):
        raise Forbidden("in this room only people the host follows may ask to speak")
    if policy is SpeakPolicy.INVITED and not invited:
        raise Forbidden("in this room only invited people may speak")
    check_consent(record=record, consent=consent)


def check_consent(*, record: bool, consent: bool) -> None:
    if record and not consent:
        raise InvalidInput("this room is recorded: speaking needs consent=true")


def check_recording_consent(*, record: bool, consent_at: datetime | None) -> None:
    """Audio is admitted into a recorded room only from someone who agreed to be recorded (the
    host agrees by choosing to record)."""
    if record and consent_at is None:
        raise Forbidden("this room is recorded: agree to be recorded before you speak")


def check_may_start_recording(voices_without_consent: int) -> None:
    """Recording cannot be turned on under speakers who accepted a room that was not recorded:
    their consent was never asked. They step down (or are moved back) first."""
    if voices_without_consent:
        raise Conflict(f"{voices_without_consent} speaker(s) accepted this room when it was not "
                       "recorded; move them back to listener before recording it, and invite "
                       "them again so they can agree")


def check_speaker_slot(speakers: int) -> None:
    if speakers >= MAX_SPEAKERS:
        raise Conflict(f"the room already has {MAX_SPEAKERS} speakers")


def check_cohost_slot(cohosts: int) -> None:
    if cohosts >= MAX_COHOSTS:
        raise Conflict(f"the room already has {MAX_COHOSTS} co-hosts")
