"""The rooms API: rooms, people and their roles, room extras, and the three live streams.

Every handler names who is asking: `caller` (an account is required), `viewer` (anonymous allowed
where captions are public) or, for streams, the token read inside the socket.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, WebSocket, delete, get, patch, post, put, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from roomscribe.accounts.security import client_address
from roomscribe.accounts.service import AccountService
from roomscribe.accounts.tables import Account
from roomscribe.params import Id
from roomscribe.rooms import sockets
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.schemas import (
    InvitationAccept,
    InvitationCreate,
    MemberPublic,
    PinCreate,
    PinPublic,
    ReactionCreate,
    RoleChange,
    RoomCreate,
    RoomPublic,
    RoomUpdate,
    SpeakerLanguage,
    SpeakRequestCreate,
)
from roomscribe.rooms.service import RoomService

ROOM = "/{room_id:str}"
MEMBER = ROOM + "/members/{handle:str}"


def provide_rooms(state: State) -> RoomService:
    service: RoomService = state.rooms
    return service


def provide_membership(state: State) -> MembershipService:
    service: MembershipService = state.membership
    return service


class RoomController(Controller):
    path = "/api/v1/rooms"
    tags = ("rooms",)

    @post("/", operation_id="createRoom")
    async def create(self, data: JSONBody[RoomCreate], caller: NamedDependency[Account],
                     rooms: NamedDependency[RoomService]) -> RoomPublic:
        """Live at once, or `scheduled` when `scheduled_for` is given (≤ 14 days, one at a time)."""
        return await rooms.create(caller, data)

    @get("/", operation_id="listRooms")
    async def browse(self, caller: NamedDependency[Account],
                     rooms: NamedDependency[RoomService]) -> list[RoomPublic]:
        return await rooms.browse(caller)

    @get(ROOM, operation_id="getRoom")
    async def room(self, room_id: FromPath[str], viewer: NamedDependency[Account | None],
                   rooms: NamedDependency[RoomService]) -> RoomPublic:
        return await rooms.get(viewer, room_id)

    @patch(ROOM, operation_id="updateRoom")
    async def update(self, room_id: FromPath[str], data: JSONBody[RoomUpdate],
                     caller: NamedDependency[Account],
                     rooms: NamedDependency[RoomService]) -> RoomPublic:
        """Host only, and only before the start."""
        return await rooms.update(caller, room_id, data)

    @post(ROOM + "/start", operation_id="startRoom", status_code=HTTP_200_OK)
    async def start(self, room_id: FromPath[str], caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService]) -> RoomPublic:
        return await rooms.start(caller, room_id)

    @post(ROOM + "/end", operation_id="endRoom", status_code=HTTP_200_OK)
    async def end(self, room_id: FromPath[str], caller: NamedDependency[Account],
                  rooms: NamedDependency[RoomService]) -> RoomPublic:
        """Host only: flushes captions, tells everyone, closes every connection (4000)."""
        return await rooms.end(caller, room_id)

    @post(ROOM + "/cancel", operation_id="cancelRoom", status_code=HTTP_200_OK)
    async def cancel(self, room_id: FromPath[str], caller: NamedDependency[Account],
                     rooms: NamedDependency[RoomService]) -> RoomPublic:
        return await rooms.cancel(caller, room_id)

    @get(ROOM + "/members", operation_id="listMembers")
    async def members(self, room_id: FromPath[str], viewer: NamedDependency[Account | None],
                      membership: NamedDependency[MembershipService]) -> list[MemberPublic]:
        return await membership.members(viewer, room_id)

    @post(ROOM + "/requests", operation_id="requestToSpeak")
    async def request_to_speak(self, room_id: FromPath[str],
                               data: JSONBody[SpeakRequestCreate], caller: NamedDependency[Account],
                               membership: NamedDependency[MembershipService]) -> MemberPublic:
        """Ask to speak; in a recorded room `consent` must be true."""
        return await membership.request_to_speak(caller, room_id, data)

    @get(ROOM + "/requests", operation_id="listRequests")
    async def requests(self, room_id: FromPath[str], caller: NamedDependency[Account],
                       membership: NamedDependency[MembershipService]) -> list[MemberPublic]:
        return await membership.requests(caller, room_id)

    @post(ROOM + "/requests/{handle:str}/approve", operation_id="approveRequest",
          status_code=HTTP_200_OK)
    async def approve(self, room_id: FromPath[str], handle: FromPath[str],
                      caller: NamedDependency[Account],
                      membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.approve(caller, room_id, handle)

    @delete(ROOM + "/requests/{handle:str}", operation_id="withdrawRequest")
    async def withdraw_request(self, room_id: FromPath[str], handle: FromPath[str],
                               caller: NamedDependency[Account],
                               membership: NamedDependency[MembershipService]) -> None:
        """The requester withdraws, or a host or co-host declines."""
        await membership.withdraw_request(caller, room_id, handle)

    @post(ROOM + "/invitations", operation_id="invite")
    async def invite(self, room_id: FromPath[str], data: JSONBody[InvitationCreate],
                     caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.invite(caller, room_id, data)

    @post(ROOM + "/invitations/accept", operation_id="acceptInvitation",
          status_code=HTTP_200_OK)
    async def accept(self, room_id: FromPath[str], data: JSONBody[InvitationAccept],
                     caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> MemberPublic:
        """Become a speaker; in a recorded room `consent` must be true."""
        return await membership.accept_invitation(caller, room_id, data)

    @delete(ROOM + "/invitations/{handle:str}", operation_id="withdrawInvitation")
    async def withdraw_invitation(self, room_id: FromPath[str], handle: FromPath[str],
                                  caller: NamedDependency[Account],
                                  membership: NamedDependency[MembershipService]) -> None:
        """A host or co-host withdraws it, or the invited account declines."""
        await membership.withdraw_invitation(caller, room_id, handle)

    @put(ROOM + "/roles/{handle:str}", operation_id="setRole")
    async def set_role(self, room_id: FromPath[str], handle: FromPath[str],
                       data: JSONBody[RoleChange], caller: NamedDependency[Account],
                       membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.set_role(caller, room_id, handle, data)

    @post(MEMBER + "/revoke", operation_id="revokeSpeaker", status_code=HTTP_200_OK)
    async def revoke(self, room_id: FromPath[str], handle: FromPath[str],
                     caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.revoke(caller, room_id, handle)

    @post(MEMBER + "/mute", operation_id="muteMember", status_code=HTTP_200_OK)
    async def mute(self, room_id: FromPath[str], handle: FromPath[str],
                   caller: NamedDependency[Account],
                   membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.mute(caller, room_id, handle)

    @put(MEMBER + "/language", operation_id="setSpeakerLanguage")
    async def set_language(self, room_id: FromPath[str], handle: FromPath[str],
                           data: JSONBody[SpeakerLanguage], caller: NamedDependency[Account],
                           membership: NamedDependency[MembershipService]) -> MemberPublic:
        """The language a speaker speaks, in a room in another language than English: the
        speaker themselves, or the host or a co-host correcting what was detected. Their
        captions hear it from the next words on."""
        return await membership.set_language(caller, room_id, handle, data)

    @post(MEMBER + "/unmute", operation_id="unmuteMember", status_code=HTTP_200_OK)
    async def unmute(self, room_id: FromPath[str], handle: FromPath[str],
                     caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> MemberPublic:
        """Only the speaker themselves."""
        return await membership.unmute(caller, room_id, handle)

    @post(MEMBER + "/remove", operation_id="removeMember", status_code=HTTP_200_OK)
    async def remove(self, room_id: FromPath[str], handle: FromPath[str],
                     caller: NamedDependency[Account],
                     membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.remove(caller, room_id, handle)

    @post(MEMBER + "/block", operation_id="blockMember", status_code=HTTP_200_OK)
    async def block(self, room_id: FromPath[str], handle: FromPath[str],
                    caller: NamedDependency[Account],
                    membership: NamedDependency[MembershipService]) -> MemberPublic:
        return await membership.block(caller, room_id, handle)

    @post(MEMBER + "/unblock", operation_id="unblockMember", status_code=HTTP_204_NO_CONTENT)
    async def unblock(self, room_id: FromPath[str], handle: FromPath[str],
                      caller: NamedDependency[Account],
                      membership: NamedDependency[MembershipService]) -> None:
        await membership.unblock(caller, room_id, handle)

    @post(ROOM + "/reactions", operation_id="react", status_code=HTTP_204_NO_CONTENT)
    async def react(self, room_id: FromPath[str], data: JSONBody[ReactionCreate],
                    caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService]) -> None:
        """One of six emoji, shown to everyone present; at most 10 per 10 seconds."""
        await rooms.react(caller, room_id, data)

    @get(ROOM + "/pins", operation_id="listPins")
    async def pins(self, room_id: FromPath[str], viewer: NamedDependency[Account | None],
                   rooms: NamedDependency[RoomService]) -> list[PinPublic]:
        return await rooms.pins(viewer, room_id)

    @post(ROOM + "/pins", operation_id="pinLink")
    async def pin(self, room_id: FromPath[str], data: JSONBody[PinCreate],
                  caller: NamedDependency[Account],
                  rooms: NamedDependency[RoomService]) -> PinPublic:
        """Host only; at most 5 links, gone when the room ends."""
        return await rooms.pin(caller, room_id, data)

    @delete(ROOM + "/pins/{pin_id:int}", operation_id="unpinLink")
    async def unpin(self, room_id: FromPath[str], pin_id: Id,
                    caller: NamedDependency[Account],
                    rooms: NamedDependency[RoomService]) -> None:
        await rooms.unpin(caller, room_id, pin_id)

    @get(ROOM + "/captions/events", operation_id="captionEvents")
    async def caption_events(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                             stream_viewer: NamedDependency[Account | None],
                             rooms: NamedDependency[RoomService]) -> ServerSentEvent:
        """Server-Sent Events: the caption socket's messages (token: header, ?token=, cookie)."""
        return await sockets.open_event_stream(rooms, stream_viewer, room_id,
                                               client_address(request))

    @websocket(ROOM + "/audio")
    async def audio(self, socket: WebSocket[Any, Any, Any], room_id: FromPath[str],
                    rooms: NamedDependency[RoomService],
                    accounts: NamedDependency[AccountService]) -> None:
        """Speakers only: binary frames of 16-bit LE mono PCM at 16 kHz, 20–200 ms each."""
        await sockets.serve_audio(socket, room_id, rooms, accounts)

    @websocket(ROOM + "/media")
    async def media(self, socket: WebSocket[Any, Any, Any], room_id: FromPath[str],
                    rooms: NamedDependency[RoomService],
                    membership: NamedDependency[MembershipService],
                    accounts: NamedDependency[AccountService]) -> None:
        """Live audio (WebRTC through the media server): JSON messages carrying SDP; see
        `roomscribe.rooms.stage`. Anyone who may follow the room listens; voices speak."""
        await sockets.serve_media(socket, room_id, rooms, membership, accounts)

    @websocket(ROOM + "/captions")
    async def captions(self, socket: WebSocket[Any, Any, Any], room_id: FromPath[str],
                       rooms: NamedDependency[RoomService],
                       accounts: NamedDependency[AccountService]) -> None:
        """Caption, roster, reaction, pin and room-state events; late joiners get 2 minutes."""
        await sockets.serve_captions(socket, room_id, rooms, accounts)
