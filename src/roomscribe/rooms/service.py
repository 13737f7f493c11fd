"""Rooms: creation, scheduling, roles, speak requests, invitations, moderation and room extras.

Each operation is one database transaction, run in a worker thread, followed by its live effects
(roster updates, closing sockets) on the event loop. Changes to one room are serialised by an
asyncio lock per room, so two approvals cannot both take the tenth speaker slot; this holds within
one process, which is also what the in-memory live state assumes.

Decisions where the issue was silent (the rules themselves are in `rules.py`):

- A room created without `scheduled_for` goes live at once; with it, it waits as `scheduled` and
  the host starts it (early or late) or cancels it. Nothing about a room can change once it is
  live: title, policy, recording and public captions are all chosen before the start. Only the
  visibility of its archived transcript may change at any time, since it matters after the end.
- A request to speak or an acceptance carries the consent in a recorded room; the host's consent
  is implied by choosing to record. Consent times are kept even when the speaker is later moved
  back to listener, as evidence for what was recorded while they spoke.
- Invitations may be sent before the start, so a room can open with its speakers in place;
  requests, approvals, reactions and pins need the room live.
- Muting is done by a host or co-host (to those below them) or by oneself; unmuting only by
  oneself, so nobody's microphone is turned on by someone else.
- Removing puts someone back to plain listener and closes their sockets; they may come back.
  Blocking keeps them out of this room until a host or co-host unblocks them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar
from weakref import WeakValueDictionary

from sqlalchemy import Engine, case
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from roomscribe.accounts.service import is_following, require_account
from roomscribe.accounts.tables import Account, utcnow
from roomscribe.captions.events import Speaker
from roomscribe.config import Settings
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, Forbidden, ModelUnavailable, NotAuthenticated, NotFound
from roomscribe.retention.tables import Retention
from roomscribe.rooms import rules
from roomscribe.rooms.audio import AudioSink, CaptionSource, SpeakerFeed
from roomscribe.rooms.live import (
    BLOCKED,
    REMOVED,
    Close,
    Connection,
    Listener,
    LiveRoom,
    LiveRooms,
    Pin,
    Voice,
)
from roomscribe.rooms.media import RoomMedia
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
    SpeakRequestCreate,
)
from roomscribe.rooms.tables import EndReason, Member, Presence, Role, Room, RoomState

T = TypeVar("T")

log = logging.getLogger(__name__)

LIST_LIMIT = 100


def new_room_id() -> str:
    """Short, URL-safe and unguessable (64 random bits): the link is how rooms are shared."""
    return secrets.token_urlsafe(8)


class RoomListener(Protocol):
    """Another domain following rooms (recordings, transcripts, archive), told after each change
    commits, so rooms need not know them. Both calls must return quickly: queue slow work."""

    async def room_ended(self, room: Room) -> None:
        """The room ended: by its host, or, after a crash, by the next start."""

    async def room_changed(self, room: Room) -> None:
        """Its title or visibility may have changed."""


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """How long a room may run and how many one account may host at once (`config.Settings`)."""

    max_length: timedelta = timedelta(hours=12)
    max_live_rooms: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> RoomLimits:
        return cls(max_length=timedelta(hours=settings.max_room_hours),
                   max_live_rooms=settings.max_live_rooms_per_account)


LENGTH_CHECK_EVERY = 60.0
"""Seconds between looks for rooms that have run their longest."""


class RoomService:
    def __init__(self, engine: Engine, live: LiveRooms, *, captions: CaptionSource | None,
                 recorder: AudioSink, listeners: Sequence[RoomListener] = (),
                 limits: RoomLimits | None = None, media: RoomMedia | None = None) -> None:
        """`captions` None: this server runs no caption engine, and refuses audio (4503).
        `media`: live audio through the media server (None: rooms are silent)."""
        self.engine = engine
        self.live = live
        self.media = media
        self.captions = captions
        self.recorder = recorder
        self.listeners = tuple(listeners)
        self.limits = limits or RoomLimits()
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    # -- plumbing -------------------------------------------------------------------------------

    async def _tx(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_scope(self.engine) as session:
                return work(session)

        return await asyncio.to_thread(run)

    @asynccontextmanager
    async def _serial(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield

    async def _change(self, room_id: str, work: Callable[[Session], T]) -> T:
        async with self._serial(f"room:{room_id}"):
            return await self._tx(work)

    async def _live_room(self, room: Room) -> LiveRoom:
        """The live state of a live room, rebuilt from the database after a restart."""
        existing = self.live.get(room.id)
        if existing is not None:
            return existing
        voices, blocked = await self._tx(lambda session: (_voices(session, room.id),
                                                          _blocked(session, room.id)))
        assert room.started_at is not None
        return self.live.open(LiveRoom(
            id=room.id, title=room.title, record=room.record,
            captions_public=room.captions_public, started_at=room.started_at, voices=voices,
            blocked=blocked))

    async def _tell(self, room: Room, *, ended: bool) -> None:
        for listener in self.listeners:
            try:
                await (listener.room_ended(room) if ended else listener.room_changed(room))
            except Exception:
                # The change is committed and the caller must hear so; each listener catches up
                # on its own at the next start.
                log.exception("%s was not told about room %s", type(listener).__name__, room.id)

    def _voice_changed(self, room_id: str, account: Account, member: Member) -> None:
        live = self.live.get(room_id)
        if live is None:
            return
        voice = _voice(account, member) if member.role in rules.VOICES else None
        self.live.set_voice(live, _id(account), voice)

    # -- rooms ----------------------------------------------------------------------------------

    async def create(self, caller: Account, data: RoomCreate) -> RoomPublic:
        def work(session: Session) -> RoomPublic:
            now = utcnow()
            if data.scheduled_for is not None:
                rules.check_schedule(data.scheduled_for, now)
                rules.check_one_pending(session.exec(
                    select(func.count()).select_from(Room)
                    .where(Room.host_id == caller.id, Room.state == RoomState.SCHEDULED)).one())
            live = data.scheduled_for is None
            if live:
                rules.check_live_room_slot(_hosting(session, _id(caller)),
                                           self.limits.max_live_rooms)
            room = Room.model_validate(data, update={
                "id": new_room_id(), "host_id": caller.id,
                "state": RoomState.LIVE if live else RoomState.SCHEDULED,
                "started_at": now if live else None})
            session.add(room)
            session.flush()  # the host's row refers to the room, and no relationship orders them
            session.add(Member(room_id=room.id, account_id=_id(caller), role=Role.HOST,
                               consent_at=now if room.record else None))
            return _room_public(session, room)

        async with self._serial(f"host:{caller.id}"):
            return await self._tx(work)

    async def get(self, viewer: Account | None, room_id: str) -> RoomPublic:
        def work(session: Session) -> RoomPublic:
            room = _room(session, room_id)
            _check_can_listen(room, viewer, _role(session, room_id, viewer))
            return _room_public(session, room, viewer)

        return await self._tx(work)

    async def browse(self, caller: Account) -> list[RoomPublic]:
        """Rooms one can join or look forward to: live ones, then scheduled ones, newest first."""
        def work(session: Session) -> list[RoomPublic]:
            rooms = session.exec(
                select(Room).where(col(Room.state).in_([RoomState.LIVE, RoomState.SCHEDULED]))
                .order_by(case((col(Room.state) == RoomState.LIVE, 0), else_=1),
                          col(Room.created_at).desc()).limit(LIST_LIMIT)).all()
            return [_room_public(session, room) for room in rooms]

        return await self._tx(work)

    async def editable(self, caller: Account, room_id: str) -> RoomPublic:
        """The room, for its host to change (what may change depends on its state: `update`)."""
        def work(session: Session) -> RoomPublic:
            room = _room(session, room_id)
            rules.check_host(_role(session, room_id, caller))
            return _room_public(session, room, caller)

        return await self._tx(work)

    async def hosted(self, caller: Account) -> list[RoomPublic]:
        """The caller's own rooms, newest first: live and scheduled, then ended and cancelled,
        each with its retention date once it has one."""
        def work(session: Session) -> list[RoomPublic]:
            rooms = session.exec(
                select(Room).where(Room.host_id == caller.id)
                .order_by(col(Room.created_at).desc()).limit(LIST_LIMIT * 2)).all()
            return [_room_public(session, room, caller) for room in rooms]

        return await self._tx(work)

    async def close_hosted(self, caller: Account) -> list[RoomPublic]:
        """The host is leaving: their live rooms end and their scheduled rooms are cancelled.
        Returns every room they hosted, as it is now."""
        for room in await self.hosted(caller):
            if room.state is RoomState.LIVE:
                await self.end(caller, room.id)
            elif room.state is RoomState.SCHEDULED:
                await self.cancel(caller, room.id)
        return await self.hosted(caller)

    async def update(self, caller: Account, room_id: str, data: RoomUpdate) -> RoomPublic:
        def work(session: Session) -> tuple[Room, RoomPublic]:
            room = _room(session, room_id)
            rules.check_host(_role(session, room_id, caller))
            changes = data.model_dump(exclude_unset=True)
            if changes.get("visibility", "") is None:
                del changes["visibility"]
            rules.check_no_nulls(changes, nullable={"scheduled_for"})
            if room.state is not RoomState.SCHEDULED and set(changes) - {"visibility"}:
                raise Conflict("only a scheduled room can be changed; all is fixed at the start")
            if changes.get("record") and not room.record:
                rules.check_may_start_recording(_voices_without_consent(session, room_id))
                host = _member(session, room_id, caller)
                host.consent_at = host.consent_at or utcnow()  # choosing to record is consent
                session.add(host)
            if changes.get("scheduled_for") is not None:
                rules.check_schedule(changes["scheduled_for"], utcnow())
            elif "scheduled_for" in changes:
                raise Conflict("a scheduled room keeps a start time; cancel it instead")
            room.sqlmodel_update(changes)
            session.add(room)
            return room, _room_public(session, room)

        room, public = await self._change(room_id, work)
        await self._tell(room, ended=False)
        return public

    async def start(self, caller: Account, room_id: str) -> RoomPublic:
        """Idempotent: starting a room that is live already answers with it, so a host who
        pressed the button twice (or retried after a timeout) sees their room, not an error."""
        room, public = await self._move(caller, room_id, RoomState.LIVE)
        await self._live_room(room)
        return public

    async def cancel(self, caller: Account, room_id: str) -> RoomPublic:
        return (await self._move(caller, room_id, RoomState.CANCELLED))[1]

    async def end(self, caller: Account, room_id: str) -> RoomPublic:
        """End the room: its captions are flushed, everyone is told, every socket closes."""
        room, public = await self._move(caller, room_id, RoomState.ENDED)
        await self._ended(room)
        return public

    async def _ended(self, room: Room) -> None:
        live = self.live.get(room.id)
        if live is not None:
            await self.live.end(live)
        if self.media is not None:
            await self.media.close_room(room.id)
        if self.captions is not None:
            self.captions.forget(room.id)
        await self._tell(room, ended=True)

    async def end_overdue(self) -> list[str]:
        """End the live rooms that have run `limits.max_length` (a room left running by a host
        who walked away, or one kept open to hold a slot); returns their ids."""
        cutoff = utcnow() - self.limits.max_length

        def overdue(session: Session) -> list[str]:
            return list(session.exec(select(Room.id).where(
                Room.state == RoomState.LIVE, col(Room.started_at) <= cutoff)).all())

        def work(session: Session, room_id: str) -> Room | None:
            room = _room(session, room_id)
            if room.state is not RoomState.LIVE:
                return None
            room.state, room.ended_at, room.ended_reason = (
                RoomState.ENDED, utcnow(), EndReason.TIME_LIMIT)
            session.add(room)
            return room

        ended = []
        for room_id in await self._tx(overdue):
            room = await self._change(room_id, functools.partial(work, room_id=room_id))
            if room is not None:
                log.info("room %s reached its longest run and ended", room_id)
                await self._ended(room)
                ended.append(room_id)
        return ended

    async def watch_lengths(self, every: float = LENGTH_CHECK_EVERY) -> None:
        """End overdue rooms, and look again every `every` seconds, until cancelled."""
        while True:
            try:
                await self.end_overdue()
            except Exception:
                log.exception("ending overdue rooms failed; trying again later")
            await asyncio.sleep(every)

    async def end_abandoned(self) -> list[str]:
        """End the rooms a killed server left live (call at start, before any socket opens).

        Nobody can be streaming into them any more, so they end now as crashed, and the
        listeners complete their recordings and transcripts from what was stored.
        """
        def work(session: Session) -> list[Room]:
            rooms = list(session.exec(select(Room).where(Room.state == RoomState.LIVE)).all())
            for room in rooms:
                room.state, room.ended_at, room.ended_reason = (
                    RoomState.ENDED, utcnow(), EndReason.CRASH)
                session.add(room)
            return rooms

        rooms = await self._tx(work)
        for room in rooms:
            log.warning("room %s was left live by a killed server; ended it", room.id)
            await self._tell(room, ended=True)
        return [room.id for room in rooms]

    async def _move(self, caller: Account, room_id: str,
                    target: RoomState) -> tuple[Room, RoomPublic]:
        """The host moves the room to `target`, along an allowed transition only."""
        def work(session: Session) -> tuple[Room, RoomPublic]:
            room = _room(session, room_id)
            rules.check_host(_role(session, room_id, caller))
            if room.state is target is RoomState.LIVE:
                return room, _room_public(session, room)
            rules.check_transition(room.state, target)
            if target is RoomState.LIVE:
                rules.check_live_room_slot(_hosting(session, _id(caller)),
                                           self.limits.max_live_rooms)
            room.state = target
            if target is RoomState.LIVE:
                room.started_at = utcnow()
            else:
                room.ended_at = utcnow()
                room.ended_reason = EndReason.HOST if target is RoomState.ENDED else None
            session.add(room)
            return room, _room_public(session, room)

        return await self._change(room_id, work)

    # -- people ---------------------------------------------------------------------------------

    async def members(self, viewer: Account | None, room_id: str) -> list[MemberPublic]:
        """Everyone with a standing in the room (voices, pending, blocked), host first."""
        def work(session: Session) -> list[MemberPublic]:
            room = _room(session, room_id)
            role = _role(session, room_id, viewer)
            _check_can_listen(room, viewer, role)
            rows = session.exec(select(Member, Account)
                                .join(Account, col(Account.id) == col(Member.account_id))
                                .where(Member.room_id == room_id)).all()
            blocked_visible = role in rules.MODERATORS
            return sorted((_member_public(a, m) for m, a in rows
                           if blocked_visible or m.role is not Role.BLOCKED), key=_member_order)

        return await self._tx(work)

    async def request_to_speak(self, caller: Account, room_id: str,
                               data: SpeakRequestCreate) -> MemberPublic:
        def work(session: Session) -> MemberPublic:
            room = _room(session, room_id)
            member = _member(session, room_id, caller)
            rules.check_live(room.state)
            if member.requested_at is not None and member.role is Role.LISTENER:
                raise Conflict("you already asked to speak")
            rules.check_may_request(
                policy=room.speak_policy, role=member.role, invited=member.invited_at is not None,
                host_follows=is_following(session, follower_id=room.host_id,
                                          followee_id=_id(caller)),
                record=room.record, consent=data.consent)
            now = utcnow()
            member.requested_at = now
            _store_consent(room, member, now)
            session.add(member)
            return _member_public(caller, member)

        return await self._change(room_id, work)

    async def requests(self, caller: Account, room_id: str) -> list[MemberPublic]:
        """Pending requests to speak, oldest first (moderators only)."""
        def work(session: Session) -> list[MemberPublic]:
            _room(session, room_id)
            rules.check_moderator(_role(session, room_id, caller))
            rows = session.exec(select(Member, Account)
                                .join(Account, col(Account.id) == col(Member.account_id))
                                .where(Member.room_id == room_id, Member.role == Role.LISTENER,
                                       col(Member.requested_at).is_not(None))
                                .order_by(col(Member.requested_at))).all()
            return [_member_public(a, m) for m, a in rows]

        return await self._tx(work)

    async def approve(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            room = _room(session, room_id)
            rules.check_moderator(_role(session, room_id, caller))
            rules.check_live(room.state)
            target = require_account(session, handle=handle)
            member = _member(session, room_id, target)
            if member.requested_at is None or member.role is not Role.LISTENER:
                raise NotFound(f"{target.handle} has no pending request to speak")
            rules.check_speaker_slot(_count(session, room_id, Role.SPEAKER))
            _reset(member, Role.SPEAKER)
            session.add(member)
            return target, member

        return await self._voice_change(room_id, work)

    async def withdraw_request(self, caller: Account, room_id: str, handle: str) -> None:
        """The requester withdraws, or a host or co-host declines."""
        def work(session: Session) -> None:
            _room(session, room_id)
            target = require_account(session, handle=handle)
            if target.id != caller.id:
                rules.check_moderator(_role(session, room_id, caller))
            member = _member(session, room_id, target)
            if member.requested_at is None:
                raise NotFound(f"{target.handle} has no pending request to speak")
            member.requested_at = None
            session.add(member)

        await self._change(room_id, work)

    async def invite(self, caller: Account, room_id: str, data: InvitationCreate) -> MemberPublic:
        def work(session: Session) -> MemberPublic:
            room = _room(session, room_id)
            rules.check_moderator(_role(session, room_id, caller))
            rules.check_open(room.state)
            target = require_account(session, handle=data.handle)
            member = _member(session, room_id, target)
            if member.role is Role.BLOCKED:
                raise Conflict(f"{target.handle} is blocked from this room")
            if member.role in rules.VOICES:
                raise Conflict(f"{target.handle} is already a {member.role}")
            member.invited_at = utcnow()
            session.add(member)
            return _member_public(target, member)

        return await self._change(room_id, work)

    async def accept_invitation(self, caller: Account, room_id: str,
                                data: InvitationAccept) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            room = _room(session, room_id)
            member = _member(session, room_id, caller)
            rules.check_not_blocked(member.role)
            rules.check_open(room.state)
            if member.invited_at is None or member.role is not Role.LISTENER:
                raise NotFound("you have no open invitation to speak in this room")
            rules.check_consent(record=room.record, consent=data.consent)
            rules.check_speaker_slot(_count(session, room_id, Role.SPEAKER))
            _store_consent(room, member, utcnow())
            _reset(member, Role.SPEAKER)
            session.add(member)
            return caller, member

        return await self._voice_change(room_id, work)

    async def withdraw_invitation(self, caller: Account, room_id: str, handle: str) -> None:
        """A host or co-host withdraws the invitation, or the invited account declines it."""
        def work(session: Session) -> None:
            _room(session, room_id)
            target = require_account(session, handle=handle)
            if target.id != caller.id:
                rules.check_moderator(_role(session, room_id, caller))
            member = _member(session, room_id, target)
            if member.invited_at is None:
                raise NotFound(f"{target.handle} has no open invitation")
            member.invited_at = None
            session.add(member)

        await self._change(room_id, work)

    async def set_role(self, caller: Account, room_id: str, handle: str,
                       data: RoleChange) -> MemberPublic:
        """Host only: speaker → co-host (2 at most), co-host → speaker, either → listener.

        Voices come only through a request or an invitation the person accepted, so nobody is
        made to speak (or recorded) without having agreed to.
        """
        def work(session: Session) -> tuple[Account, Member]:
            room = _room(session, room_id)
            rules.check_host(_role(session, room_id, caller))
            rules.check_open(room.state)
            target = require_account(session, handle=handle)
            member = _member(session, room_id, target)
            rules.check_outranks(Role.HOST, member.role)
            if data.role is Role.COHOST:
                if member.role is not Role.SPEAKER:
                    raise Conflict(f"only a speaker can become a co-host; {handle} is a "
                                   f"{member.role}")
                rules.check_cohost_slot(_count(session, room_id, Role.COHOST))
            elif data.role is Role.SPEAKER:
                if member.role is not Role.COHOST:
                    raise Conflict(f"only a co-host can become a speaker; {handle} is a "
                                   f"{member.role}")
                rules.check_speaker_slot(_count(session, room_id, Role.SPEAKER))
            elif member.role not in rules.VOICES:
                raise Conflict(f"{handle} is already a {member.role}")
            member.role = data.role
            session.add(member)
            return target, member

        return await self._voice_change(room_id, work)

    async def revoke(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        """Take the right to speak away: the target becomes a listener and their audio stops."""
        def work(session: Session) -> tuple[Account, Member]:
            _room(session, room_id)
            target, member = _target(session, room_id, caller, handle)
            if member.role not in rules.VOICES:
                raise Conflict(f"{target.handle} is not speaking")
            _reset(member, Role.LISTENER)
            session.add(member)
            return target, member

        return await self._voice_change(room_id, work)

    async def mute(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            _room(session, room_id)
            target = require_account(session, handle=handle)
            member = _member(session, room_id, target)
            if target.id != caller.id:
                rules.check_outranks(_role(session, room_id, caller), member.role)
            if member.role not in rules.VOICES:
                raise Conflict(f"{target.handle} is not speaking")
            member.muted = True
            session.add(member)
            return target, member

        return await self._voice_change(room_id, work)

    async def unmute(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            _room(session, room_id)
            target = require_account(session, handle=handle)
            if target.id != caller.id:
                raise Forbidden("only the speaker can turn their own microphone back on")
            member = _member(session, room_id, target)
            if member.role not in rules.VOICES:
                raise Conflict("you are not speaking")
            member.muted = False
            session.add(member)
            return target, member

        return await self._voice_change(room_id, work)

    async def remove(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            _room(session, room_id)
            target, member = _target(session, room_id, caller, handle)
            if member.role is Role.BLOCKED:
                raise Conflict(f"{target.handle} is blocked; unblock instead")
            _reset(member, Role.LISTENER)
            session.add(member)
            return target, member

        target, member = await self._change(room_id, work)
        self._kicked(room_id, target, REMOVED)
        return _member_public(target, member)

    async def block(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            _room(session, room_id)
            target, member = _target(session, room_id, caller, handle)
            _reset(member, Role.BLOCKED)
            session.add(member)
            return target, member

        target, member = await self._change(room_id, work)
        self._kicked(room_id, target, BLOCKED)
        return _member_public(target, member)

    async def unblock(self, caller: Account, room_id: str, handle: str) -> None:
        def work(session: Session) -> int:
            _room(session, room_id)
            rules.check_moderator(_role(session, room_id, caller))
            target = require_account(session, handle=handle)
            member = _member(session, room_id, target)
            if member.role is not Role.BLOCKED:
                raise NotFound(f"{target.handle} is not blocked")
            member.role = Role.LISTENER
            session.add(member)
            return _id(target)

        account_id = await self._change(room_id, work)
        live = self.live.get(room_id)
        if live is not None:
            self.live.unblock(live, account_id)

    async def _voice_change(self, room_id: str,
                            work: Callable[[Session], tuple[Account, Member]]) -> MemberPublic:
        account, member = await self._change(room_id, work)
        self._voice_changed(room_id, account, member)
        return _member_public(account, member)

    def _kicked(self, room_id: str, target: Account, close: Close) -> None:
        live = self.live.get(room_id)
        if live is not None:
            self.live.kick(live, _id(target), close)

    # -- room extras ----------------------------------------------------------------------------

    async def react(self, caller: Account, room_id: str, data: ReactionCreate) -> None:
        live = await self._live_for(caller, room_id, host_only=False)
        self.live.react(live, _listener(caller), data.emoji)

    async def pins(self, viewer: Account | None, room_id: str) -> list[PinPublic]:
        def work(session: Session) -> Room:
            room = _room(session, room_id)
            _check_can_listen(room, viewer, _role(session, room_id, viewer))
            return room

        room = await self._tx(work)
        live = self.live.get(room_id) if room.state is RoomState.LIVE else None
        return [_pin_public(p) for p in (live.pins if live is not None else [])]

    async def pin(self, caller: Account, room_id: str, data: PinCreate) -> PinPublic:
        live = await self._live_for(caller, room_id, host_only=True)
        return _pin_public(self.live.pin(live, data.url, data.title))

    async def unpin(self, caller: Account, room_id: str, pin_id: int) -> None:
        live = await self._live_for(caller, room_id, host_only=True)
        self.live.unpin(live, pin_id)

    async def _live_for(self, caller: Account, room_id: str, *, host_only: bool) -> LiveRoom:
        """The live room `caller` acts in (reacting; pinning, when `host_only`)."""
        def work(session: Session) -> Room:
            room = _room(session, room_id)
            role = _role(session, room_id, caller)
            rules.check_not_blocked(role)
            if host_only:
                rules.check_host(role)
            rules.check_live(room.state)
            return room

        return await self._live_room(await self._tx(work))

    # -- sockets --------------------------------------------------------------------------------

    async def join_captions(self, viewer: Account | None,
                            room_id: str) -> tuple[LiveRoom, Listener | None]:
        """May `viewer` read this room's live captions? Anonymous only when they are public."""
        def work(session: Session) -> Room:
            room = _room(session, room_id)
            _check_can_listen(room, viewer, _role(session, room_id, viewer))
            rules.check_live(room.state)
            return room

        room = await self._tx(work)
        if viewer is not None and room.record:
            await asyncio.to_thread(record_presence, self.engine, room.id, _id(viewer))
        return await self._live_room(room), None if viewer is None else _listener(viewer)

    async def join_audio(self, speaker: Account, room_id: str,
                         conn: Connection) -> tuple[LiveRoom, SpeakerFeed]:
        """Only the host, co-hosts and speakers of a live room send audio, and in a recorded
        room only once they agreed to be recorded; `conn` is attached to the live room in the
        same step as the last check (`LiveRooms.admit`)."""
        def work(session: Session) -> tuple[Room, Member]:
            room = _room(session, room_id)
            rules.check_live(room.state)
            return room, _member(session, room_id, speaker)

        room, member = await self._tx(work)
        rules.check_not_blocked(member.role)
        if member.role not in rules.VOICES:
            raise Forbidden("only the host, co-hosts and speakers may send audio")
        rules.check_recording_consent(record=room.record, consent_at=member.consent_at)
        if self.captions is None:
            raise ModelUnavailable("live captions are not running on this server")
        live = await self._live_room(room)
        self.live.attach_audio(live, _id(speaker), conn)
        feed = SpeakerFeed(room=room.id, speaker=Speaker(id=speaker.handle,
                                                         name=speaker.display_name),
                           captions=self.captions, sink=self.live.caption_sink(live),
                           recorder=self.recorder if room.record else None,
                           room_time=live.room_time)
        return live, feed


# -- data functions (run inside a transaction) ---------------------------------------------------


def _id(account: Account) -> int:
    assert account.id is not None, "accounts reach services after being stored"
    return account.id


def _listener(account: Account) -> Listener:
    return Listener(_id(account), account.handle, account.display_name)


def _room(session: Session, room_id: str) -> Room:
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(f"no room {room_id!r}")
    return room


def _member(session: Session, room_id: str, account: Account) -> Member:
    """The account's standing in the room; a fresh listener row when it has none yet."""
    member = session.get(Member, (room_id, _id(account)))
    return member or Member(room_id=room_id, account_id=_id(account))


def _role(session: Session, room_id: str, account: Account | None) -> Role:
    if account is None:
        return Role.LISTENER
    member = session.get(Member, (room_id, _id(account)))
    return member.role if member is not None else Role.LISTENER


def _target(session: Session, room_id: str, caller: Account,
            handle: str) -> tuple[Account, Member]:
    """The account a moderator acts on, after checking the caller outranks it."""
    actor = _role(session, room_id, caller)
    rules.check_moderator(actor)
    target = require_account(session, handle=handle)
    member = _member(session, room_id, target)
    rules.check_outranks(actor, member.role)
    return target, member


def _voices_without_consent(session: Session, room_id: str) -> int:
    """Speakers and co-hosts (not the host, whose choice it is) who never agreed to recording."""
    return session.exec(select(func.count()).select_from(Member).where(
        Member.room_id == room_id, col(Member.role).in_([Role.COHOST, Role.SPEAKER]),
        col(Member.consent_at).is_(None))).one()


def _hosting(session: Session, account_id: int) -> int:
    """How many live rooms the account hosts now."""
    return session.exec(select(func.count()).select_from(Room).where(
        Room.host_id == account_id, Room.state == RoomState.LIVE)).one()


def _count(session: Session, room_id: str, role: Role) -> int:
    return session.exec(select(func.count()).select_from(Member)
                        .where(Member.room_id == room_id, Member.role == role)).one()


def _voices(session: Session, room_id: str) -> dict[int, Voice]:
    rows = session.exec(select(Member, Account)
                        .join(Account, col(Account.id) == col(Member.account_id))
                        .where(Member.room_id == room_id,
                               col(Member.role).in_(list(rules.VOICES)))).all()
    return {m.account_id: _voice(a, m) for m, a in rows}


def _blocked(session: Session, room_id: str) -> set[int]:
    return set(session.exec(select(Member.account_id).where(
        Member.room_id == room_id, Member.role == Role.BLOCKED)).all())


def _voice(account: Account, member: Member) -> Voice:
    return Voice(account.handle, account.display_name, member.role, member.muted)


def _check_can_listen(room: Room, viewer: Account | None, role: Role) -> None:
    if viewer is None and not room.captions_public:
        raise NotAuthenticated("sign in to follow this room")
    rules.check_not_blocked(role)


def _store_consent(room: Room, member: Member, now: datetime) -> None:
    """The first consent is kept: it covers everything recorded since."""
    if room.record and member.consent_at is None:
        member.consent_at = now


def _reset(member: Member, role: Role) -> None:
    member.role, member.muted = role, False
    member.requested_at = member.invited_at = None


def _room_public(session: Session, room: Room, viewer: Account | None = None) -> RoomPublic:
    host = session.get(Account, room.host_id)
    assert host is not None
    update: dict[str, object] = {"host": host.handle, "host_name": host.display_name}
    kept = (session.get(Retention, room.id) if room.record and room.state is RoomState.ENDED
            else None)
    if kept is not None:
        update["purged_at"] = kept.purged_at
        if viewer is not None and (viewer.id == room.host_id or viewer.is_admin):
            update["retain_until"] = kept.retain_until
    return RoomPublic.model_validate(room, from_attributes=True, update=update)


def record_presence(engine: Engine, room_id: str, account_id: int) -> None:
    """Remember that the account followed the recorded room (the first time only)."""
    try:
        with session_scope(engine) as session:
            if session.get(Presence, (room_id, account_id)) is None:
                session.add(Presence(room_id=room_id, account_id=account_id))
    except IntegrityError:
        pass  # another tab of the same account recorded it a moment earlier


def was_present(engine: Engine, room_id: str, account_id: int) -> bool:
    """Whether the account took part in the room: followed it live, or had a voice in it (a
    speaker's consent is kept even after they were moved back to listener)."""
    with Session(engine) as session:
        if session.get(Presence, (room_id, account_id)) is not None:
            return True
        member = session.get(Member, (room_id, account_id))
        return member is not None and (member.role in rules.VOICES
                                       or member.consent_at is not None)


def _member_public(account: Account, member: Member) -> MemberPublic:
    return MemberPublic(handle=account.handle, display_name=account.display_name,
                        role=member.role, muted=member.muted, requested_at=member.requested_at,
                        invited_at=member.invited_at, consent_at=member.consent_at)


_ORDER = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2, Role.LISTENER: 3, Role.BLOCKED: 4}


def _member_order(member: MemberPublic) -> tuple[int, str]:
    return _ORDER[member.role], member.handle


def _pin_public(pin: Pin) -> PinPublic:
    return PinPublic(id=pin.id, url=pin.url, title=pin.title, pinned_at=pin.pinned_at)
