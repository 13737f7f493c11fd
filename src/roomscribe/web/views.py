"""What each page shows, gathered from the services into small dataclasses the templates read.

The services decide who may see what (a private room refuses anonymous viewers, the host console
needs a moderator); this module only combines their answers, so pages and API never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, get_args

from roomscribe.accounts.tables import Account
from roomscribe.errors import Forbidden, NotAuthenticated, RoomscribeError
from roomscribe.rooms import rules
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.schemas import Emoji, MemberPublic, PinPublic, RoomPublic
from roomscribe.rooms.service import RoomService
from roomscribe.rooms.tables import Role, RoomState
from roomscribe.visibility import Visibility

REACTIONS = dict(zip(get_args(Emoji), ("Applause", "Laughter", "Love", "Agreement", "Excitement",
                                       "Surprise"), strict=True))
"""Each reaction's accessible name, in the order the schema lists them."""

VISIBILITIES = [
    (Visibility.PUBLIC, "Everyone",
     "Anyone, with or without an account, can find the transcript and replay the recording."),
    (Visibility.MEMBERS, "People with an account",
     "Anyone signed in to this site can find and replay it."),
    (Visibility.PRIVATE, "Only me",
     "Only you (the host) and the site's admins can find and replay it."),
]
"""The choices of a room's visibility as the forms offer them: value, label, what it means."""

ROLE_NAMES = {Role.HOST: "host", Role.COHOST: "co-host", Role.SPEAKER: "speaker",
              Role.LISTENER: "listener", Role.BLOCKED: "blocked"}


@dataclass(frozen=True, slots=True)
class Standing:
    """A signed-in viewer's place in one room."""

    account: Account
    member: MemberPublic | None
    """Their row in the room, when they have one (a plain listener has none)."""

    @property
    def role(self) -> Role:
        return self.member.role if self.member is not None else Role.LISTENER

    @property
    def voice(self) -> bool:
        return self.role in rules.VOICES

    @property
    def moderator(self) -> bool:
        return self.role in rules.MODERATORS

    @property
    def host(self) -> bool:
        return self.role is Role.HOST

    @property
    def muted(self) -> bool:
        return self.member is not None and self.member.muted

    @property
    def requested(self) -> bool:
        return (self.member is not None and self.role is Role.LISTENER
                and self.member.requested_at is not None)

    @property
    def invited(self) -> bool:
        return (self.member is not None and self.role is Role.LISTENER
                and self.member.invited_at is not None)


@dataclass(frozen=True, slots=True)
class PresentListener:
    handle: str
    name: str


@dataclass(frozen=True, slots=True)
class People:
    """Everyone a moderator manages, for the host console."""

    me: Standing
    voices: list[MemberPublic]
    requests: list[MemberPublic]
    invited: list[MemberPublic]
    blocked: list[MemberPublic]
    listeners: list[PresentListener] = field(default_factory=list)
    """Signed-in listeners present now, without a request or invitation (at most 100)."""
    listener_count: int = 0
    anonymous: int = 0
    streaming: frozenset[str] = frozenset()
    """Handles of voices whose microphone socket is open."""
    heard: dict[str, str] = field(default_factory=dict)
    """The language each voice's captions were last in (what detection found), by handle."""

    def manages(self, member: MemberPublic) -> bool:
        """May the viewer mute, move, remove or block this person?"""
        try:
            rules.check_outranks(self.me.role, member.role)
        except RoomscribeError:
            return False
        return member.handle != self.me.account.handle


@dataclass(frozen=True, slots=True)
class RoomPage:
    room: RoomPublic
    me: Standing | None
    voices: list[MemberPublic]
    pins: list[PinPublic]
    heard: dict[str, str] = field(default_factory=dict)
    """The language each voice's captions were last in (what detection found), by handle."""

    @property
    def open(self) -> bool:
        """Scheduled or live: captions may still come."""
        return self.room.state in (RoomState.SCHEDULED, RoomState.LIVE)


@dataclass(frozen=True, slots=True)
class HostPage:
    room: RoomPublic
    people: People
    pins: list[PinPublic]


@dataclass(frozen=True, slots=True)
class RoomList:
    live: list[RoomPublic]
    scheduled: list[RoomPublic]


def live_audio(rooms: RoomService) -> bool:
    """Whether the pages offer live audio now (a media server runs and answers)."""
    return rooms.live_audio


async def room_list(rooms: RoomService, viewer: Account | None) -> RoomList:
    """Live and scheduled rooms; anonymous visitors see none, as the API shows them none."""
    if viewer is None:
        return RoomList([], [])
    found = await rooms.browse(viewer)
    return RoomList([r for r in found if r.state is RoomState.LIVE],
                    [r for r in found if r.state is RoomState.SCHEDULED])


async def room_page(rooms: RoomService, membership: MembershipService, viewer: Account | None,
                    room_id: str) -> RoomPage:
    room = await rooms.get(viewer, room_id)
    members = await membership.members(viewer, room_id)
    pins = await rooms.pins(viewer, room_id)
    return RoomPage(room, standing(viewer, members),
                    [m for m in members if m.role in rules.VOICES], pins,
                    heard=heard(rooms.roster(room_id)))


def heard(roster: dict[str, Any] | None) -> dict[str, str]:
    """Each voice's language as their captions were last heard in, from a roster event."""
    return {} if roster is None else {v["id"]: v["heard"] for v in roster["voices"]
                                      if v.get("heard")}


async def public_room(rooms: RoomService, room_id: str) -> RoomPublic:
    """A room whose captions anyone may read; 403 when they are not public, 404 when unknown."""
    try:
        return await rooms.get(None, room_id)
    except NotAuthenticated:
        raise Forbidden("this room's captions are not public; sign in and open the room page "
                        "to follow it") from None


async def speak_page(rooms: RoomService, membership: MembershipService, viewer: Account,
                     room_id: str) -> RoomPage:
    page = await room_page(rooms, membership, viewer, room_id)
    if page.me is None or not page.me.voice:
        raise Forbidden("only the host, co-hosts and speakers of this room use the microphone")
    return page


async def people(rooms: RoomService, membership: MembershipService, viewer: Account,
                 room_id: str) -> People:
    requests = await membership.requests(viewer, room_id)  # refuses all but moderators
    members = await membership.members(viewer, room_id)
    me = standing(viewer, members)
    assert me is not None
    invited = [m for m in members if m.role is Role.LISTENER and m.invited_at is not None]
    found = People(me=me, voices=[m for m in members if m.role in rules.VOICES],
                   requests=requests, invited=invited,
                   blocked=[m for m in members if m.role is Role.BLOCKED])
    roster = rooms.roster(room_id)
    if roster is None:
        return found
    pending = {m.handle for m in (*requests, *invited)}
    return replace(
        found, listeners=[PresentListener(p["id"], p["name"]) for p in roster["listeners"]
                          if p["id"] not in pending],
        listener_count=roster["listener_count"], anonymous=roster["anonymous"],
        streaming=frozenset(v["id"] for v in roster["voices"] if v["streaming"]),
        heard=heard(roster))


async def host_page(rooms: RoomService, membership: MembershipService, viewer: Account,
                    room_id: str) -> HostPage:
    found = await people(rooms, membership, viewer, room_id)
    return HostPage(await rooms.get(viewer, room_id), found, await rooms.pins(viewer, room_id))


def standing(viewer: Account | None, members: list[MemberPublic]) -> Standing | None:
    if viewer is None:
        return None
    mine = next((m for m in members if m.handle == viewer.handle), None)
    return Standing(viewer, mine)
