"""What the room pages' forms do: each posts here and calls one RoomService method.

Every form works without script (a 303 back to the page, or an error page); with script it is
posted in the background and the returned message is announced. All are POST, because HTML forms
know no other verbs, and all carry the CSRF token (see `roomscribe.web.security`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from roomscribe.accounts.service import parse
from roomscribe.accounts.tables import Account
from roomscribe.errors import InvalidInput
from roomscribe.languages import languages
from roomscribe.params import Id
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.schemas import (
    InvitationAccept,
    InvitationCreate,
    PinCreate,
    ReactionCreate,
    RoleChange,
    SpeakerLanguage,
    SpeakRequestCreate,
)
from roomscribe.rooms.service import RoomService
from roomscribe.web.forms import FormData, checked, value
from roomscribe.web.responses import done
from roomscribe.web.views import REACTIONS, ROLE_NAMES

T = TypeVar("T")

PERSON = "/people/{handle:str}"


CONSENT = ("This room is recorded: tick \u201cI agree to be recorded while I speak\u201d to "
           "speak.")


async def _consented(joining: Awaitable[T], consent: bool) -> T:
    """The API's consent refusal ("consent=true") in the words of the form."""
    try:
        return await joining
    except InvalidInput:
        if consent:
            raise
        raise InvalidInput(CONSENT) from None


def _console(room_id: str) -> str:
    return f"/r/{room_id}/host"


def _room(room_id: str) -> str:
    return f"/r/{room_id}"


class RoomActionController(Controller):
    path = "/r/{room_id:str}"
    include_in_schema = False

    # -- the room ------------------------------------------------------------------------------

    @post("/start")
    async def start(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                    data: FormData, page_caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService]) -> Response[Any]:
        await rooms.start(page_caller, room_id)
        return done(request, data, "The room is live.", _console(room_id))

    @post("/end")
    async def end(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                  data: FormData, page_caller: NamedDependency[Account],
                  rooms: NamedDependency[RoomService]) -> Response[Any]:
        await rooms.end(page_caller, room_id)
        return done(request, data, "The room has ended.", _console(room_id))

    @post("/cancel")
    async def cancel(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     data: FormData, page_caller: NamedDependency[Account],
                     rooms: NamedDependency[RoomService]) -> Response[Any]:
        await rooms.cancel(page_caller, room_id)
        return done(request, data, "The room is cancelled.", _console(room_id))

    @post("/reactions")
    async def react(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                    data: FormData, page_caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService]) -> Response[Any]:
        reaction = parse(ReactionCreate, {"emoji": value(data, "emoji")})
        await rooms.react(page_caller, room_id, reaction)
        return done(request, data, f"{REACTIONS[reaction.emoji]} sent.", _room(room_id))

    @post("/pins")
    async def pin(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                  data: FormData, page_caller: NamedDependency[Account],
                  rooms: NamedDependency[RoomService]) -> Response[Any]:
        link = parse(PinCreate, {"url": value(data, "url"), "title": value(data, "title")})
        await rooms.pin(page_caller, room_id, link)
        return done(request, data, "Link pinned.", _console(room_id))

    @post("/pins/{pin_id:int}/unpin")
    async def unpin(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                    pin_id: Id, data: FormData, page_caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService]) -> Response[Any]:
        await rooms.unpin(page_caller, room_id, pin_id)
        return done(request, data, "Link unpinned.", _console(room_id))

    # -- the viewer's own standing -------------------------------------------------------------

    @post("/request")
    async def ask(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                  data: FormData, page_caller: NamedDependency[Account],
                  membership: NamedDependency[MembershipService]) -> Response[Any]:
        consent = checked(data, "consent")
        await _consented(membership.request_to_speak(page_caller, room_id,
                                                SpeakRequestCreate(consent=consent)), consent)
        return done(request, data, "You asked to speak. A host will answer.", _room(room_id))

    @post("/request/withdraw")
    async def withdraw(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                       data: FormData, page_caller: NamedDependency[Account],
                       membership: NamedDependency[MembershipService]) -> Response[Any]:
        await membership.withdraw_request(page_caller, room_id, page_caller.handle)
        return done(request, data, "Your request to speak is withdrawn.", _room(room_id))

    @post("/invitation/accept")
    async def accept(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     data: FormData, page_caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> Response[Any]:
        consent = checked(data, "consent")
        await _consented(membership.accept_invitation(page_caller, room_id,
                                                 InvitationAccept(consent=consent)), consent)
        return done(request, data, "You are a speaker now.", f"/r/{room_id}/speak")

    @post("/invitation/decline")
    async def decline(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                      data: FormData, page_caller: NamedDependency[Account],
                      membership: NamedDependency[MembershipService]) -> Response[Any]:
        await membership.withdraw_invitation(page_caller, room_id, page_caller.handle)
        return done(request, data, "Invitation declined.", _room(room_id))

    # -- people, for hosts and co-hosts (mute and unmute also for oneself) -----------------------

    @post("/invitations")
    async def invite(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     data: FormData, page_caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.invite(page_caller, room_id,
                                    parse(InvitationCreate, {"handle": value(data, "handle")}))
        return done(request, data, f"{member.display_name} is invited to speak.",
                    _console(room_id))

    @post(PERSON + "/uninvite")
    async def uninvite(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                       handle: FromPath[str], data: FormData,
                       page_caller: NamedDependency[Account],
                       membership: NamedDependency[MembershipService]) -> Response[Any]:
        await membership.withdraw_invitation(page_caller, room_id, handle)
        return done(request, data, "Invitation withdrawn.", _console(room_id))

    @post(PERSON + "/approve")
    async def approve(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                      handle: FromPath[str], data: FormData,
                      page_caller: NamedDependency[Account],
                      membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.approve(page_caller, room_id, handle)
        return done(request, data, f"{member.display_name} may speak now.", _console(room_id))

    @post(PERSON + "/decline")
    async def refuse(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     handle: FromPath[str], data: FormData,
                     page_caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> Response[Any]:
        await membership.withdraw_request(page_caller, room_id, handle)
        return done(request, data, "Request declined.", _console(room_id))

    @post(PERSON + "/role")
    async def set_role(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                       handle: FromPath[str], data: FormData,
                       page_caller: NamedDependency[Account],
                       membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.set_role(page_caller, room_id, handle,
                                      parse(RoleChange, {"role": value(data, "role")}))
        return done(request, data, f"{member.display_name} is now a {ROLE_NAMES[member.role]}.",
                    _console(room_id))

    @post(PERSON + "/revoke")
    async def revoke(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     handle: FromPath[str], data: FormData,
                     page_caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.revoke(page_caller, room_id, handle)
        return done(request, data, f"{member.display_name} is a listener now.",
                    _console(room_id))

    @post(PERSON + "/mute")
    async def mute(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                   handle: FromPath[str], data: FormData, page_caller: NamedDependency[Account],
                   membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.mute(page_caller, room_id, handle)
        who = "You are" if member.handle == page_caller.handle else f"{member.display_name} is"
        return done(request, data, f"{who} muted.", _console(room_id))

    @post(PERSON + "/language")
    async def language(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                       handle: FromPath[str], data: FormData,
                       page_caller: NamedDependency[Account],
                       membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.set_language(
            page_caller, room_id, handle,
            parse(SpeakerLanguage, {"language": value(data, "language")}))
        lang = languages().get(member.language or "")
        name = lang.name if lang is not None else member.language
        who = "Your" if member.handle == page_caller.handle else f"{member.display_name}'s"
        return done(request, data, f"{who} captions are in {name} from now on.",
                    _console(room_id))

    @post(PERSON + "/unmute")
    async def unmute(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     handle: FromPath[str], data: FormData,
                     page_caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> Response[Any]:
        await membership.unmute(page_caller, room_id, handle)
        return done(request, data, "You are no longer muted.", f"/r/{room_id}/speak")

    @post(PERSON + "/remove")
    async def remove(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     handle: FromPath[str], data: FormData,
                     page_caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.remove(page_caller, room_id, handle)
        return done(request, data, f"{member.display_name} is removed from the room.",
                    _console(room_id))

    @post(PERSON + "/block")
    async def block(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                    handle: FromPath[str], data: FormData, page_caller: NamedDependency[Account],
                    membership: NamedDependency[MembershipService]) -> Response[Any]:
        member = await membership.block(page_caller, room_id, handle)
        return done(request, data, f"{member.display_name} is blocked from the room.",
                    _console(room_id))

    @post(PERSON + "/unblock")
    async def unblock(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                      handle: FromPath[str], data: FormData,
                      page_caller: NamedDependency[Account],
                      membership: NamedDependency[MembershipService]) -> Response[Any]:
        await membership.unblock(page_caller, room_id, handle)
        return done(request, data, "Unblocked.", _console(room_id))
