"""Who may speak in a room: speak requests, invitations, roles, muting, removing and blocking.

Each operation is one transaction (`store.RoomStore.change`, serialised per room) followed by its
live effects: the roster changes, a removed or blocked person's sockets close.

Decisions where the issue was silent (the rules themselves are in `rules.py`):

- A request to speak or an acceptance carries the consent in a recorded room; the host's consent
  is implied by choosing to record. Consent times are kept even when the speaker is later moved
  back to listener, as evidence for what was recorded while they spoke.
- Invitations may be sent before the start, so a room can open with its speakers in place;
  requests and approvals need the room live.
- Muting is done by a host or co-host (to those below them) or by oneself; unmuting only by
  oneself, so nobody's microphone is turned on by someone else.
- Removing puts someone back to plain listener and closes their sockets; they may come back.
  Blocking keeps them out of this room until a host or co-host unblocks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlmodel import Session, col, select

from roomscribe.accounts.service import is_following, require_account
from roomscribe.accounts.tables import Account
from roomscribe.errors import Conflict, Forbidden, NotFound
from roomscribe.rooms import records, rules
from roomscribe.rooms.connection import BLOCKED, REMOVED, Close
from roomscribe.rooms.schemas import (
    InvitationAccept,
    InvitationCreate,
    MemberPublic,
    RoleChange,
    SpeakerLanguage,
    SpeakRequestCreate,
)
from roomscribe.rooms.store import RoomStore
from roomscribe.rooms.tables import Member, Role
from roomscribe.timestamps import utcnow


class MembershipService:
    def __init__(self, store: RoomStore) -> None:
        self.store = store

    async def members(self, viewer: Account | None, room_id: str) -> list[MemberPublic]:
        """Everyone with a standing in the room (voices, pending, blocked), host first."""
        def work(session: Session) -> list[MemberPublic]:
            room = records.room(session, room_id)
            role = records.role(session, room_id, viewer)
            records.check_can_listen(room, viewer, role)
            blocked_visible = role in rules.MODERATORS
            return sorted((records.member_public(a, m)
                           for m, a in records.members_with_accounts(session, room_id)
                           if blocked_visible or m.role is not Role.BLOCKED),
                          key=records.member_order)

        return await self.store.tx(work)

    async def request_to_speak(self, caller: Account, room_id: str,
                               data: SpeakRequestCreate) -> MemberPublic:
        def work(session: Session) -> MemberPublic:
            room = records.room(session, room_id)
            member = records.member(session, room_id, caller)
            rules.check_live(room.state)
            if member.requested_at is not None and member.role is Role.LISTENER:
                raise Conflict("you already asked to speak")
            rules.check_may_request(
                policy=room.speak_policy, role=member.role, invited=member.invited_at is not None,
                host_follows=is_following(session, follower_id=room.host_id,
                                          followee_id=records.account_id(caller)),
                record=room.record, consent=data.consent)
            now = utcnow()
            member.requested_at = now
            records.store_consent(room, member, now)
            session.add(member)
            return records.member_public(caller, member)

        return await self.store.change(room_id, work)

    async def requests(self, caller: Account, room_id: str) -> list[MemberPublic]:
        """Pending requests to speak, oldest first (moderators only)."""
        def work(session: Session) -> list[MemberPublic]:
            records.room(session, room_id)
            rules.check_moderator(records.role(session, room_id, caller))
            rows = session.exec(select(Member, Account)
                                .join(Account, col(Account.id) == col(Member.account_id))
                                .where(Member.room_id == room_id, Member.role == Role.LISTENER,
                                       col(Member.requested_at).is_not(None))
                                .order_by(col(Member.requested_at))).all()
            return [records.member_public(a, m) for m, a in rows]

        return await self.store.tx(work)

    async def approve(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            room = records.room(session, room_id)
            rules.check_moderator(records.role(session, room_id, caller))
            rules.check_live(room.state)
            target = require_account(session, handle=handle)
            member = records.member(session, room_id, target)
            if member.requested_at is None or member.role is not Role.LISTENER:
                raise NotFound(f"{target.handle} has no pending request to speak")
            rules.check_speaker_slot(records.count(session, room_id, Role.SPEAKER))
            records.reset(member, Role.SPEAKER)
            session.add(member)
            return target, member

        return await self._voice(room_id, work)

    async def withdraw_request(self, caller: Account, room_id: str, handle: str) -> None:
        """The requester withdraws, or a host or co-host declines."""
        await self._withdraw(caller, room_id, handle, "requested_at",
                             "has no pending request to speak")

    async def invite(self, caller: Account, room_id: str, data: InvitationCreate) -> MemberPublic:
        def work(session: Session) -> MemberPublic:
            room = records.room(session, room_id)
            rules.check_moderator(records.role(session, room_id, caller))
            rules.check_open(room.state)
            target = require_account(session, handle=data.handle)
            member = records.member(session, room_id, target)
            if member.role is Role.BLOCKED:
                raise Conflict(f"{target.handle} is blocked from this room")
            if member.role in rules.VOICES:
                raise Conflict(f"{target.handle} is already a {member.role}")
            member.invited_at = utcnow()
            session.add(member)
            return records.member_public(target, member)

        return await self.store.change(room_id, work)

    async def accept_invitation(self, caller: Account, room_id: str,
                                data: InvitationAccept) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            room = records.room(session, room_id)
            member = records.member(session, room_id, caller)
            rules.check_not_blocked(member.role)
            rules.check_open(room.state)
            if member.invited_at is None or member.role is not Role.LISTENER:
                raise NotFound("you have no open invitation to speak in this room")
            rules.check_consent(record=room.record, consent=data.consent)
            rules.check_speaker_slot(records.count(session, room_id, Role.SPEAKER))
            records.store_consent(room, member, utcnow())
            records.reset(member, Role.SPEAKER)
            session.add(member)
            return caller, member

        return await self._voice(room_id, work)

    async def withdraw_invitation(self, caller: Account, room_id: str, handle: str) -> None:
        """A host or co-host withdraws the invitation, or the invited account declines it."""
        await self._withdraw(caller, room_id, handle, "invited_at", "has no open invitation")

    async def _withdraw(self, caller: Account, room_id: str, handle: str,
                        field: Literal["requested_at", "invited_at"], missing: str) -> None:
        """Clear `handle`'s open request or invitation (`field`): theirs to drop, or a
        moderator's to decline or withdraw."""
        def work(session: Session) -> None:
            records.room(session, room_id)
            target = require_account(session, handle=handle)
            if target.id != caller.id:
                rules.check_moderator(records.role(session, room_id, caller))
            member = records.member(session, room_id, target)
            if getattr(member, field) is None:
                raise NotFound(f"{target.handle} {missing}")
            setattr(member, field, None)
            session.add(member)

        await self.store.change(room_id, work)

    async def set_role(self, caller: Account, room_id: str, handle: str,
                       data: RoleChange) -> MemberPublic:
        """Host only: speaker → co-host (2 at most), co-host → speaker, either → listener.

        Voices come only through a request or an invitation the person accepted, so nobody is
        made to speak (or recorded) without having agreed to.
        """
        def work(session: Session) -> tuple[Account, Member]:
            room = records.room(session, room_id)
            rules.check_host(records.role(session, room_id, caller))
            rules.check_open(room.state)
            target = require_account(session, handle=handle)
            member = records.member(session, room_id, target)
            rules.check_outranks(Role.HOST, member.role)
            if data.role is Role.COHOST:
                if member.role is not Role.SPEAKER:
                    raise Conflict(f"only a speaker can become a co-host; {handle} is a "
                                   f"{member.role}")
                rules.check_cohost_slot(records.count(session, room_id, Role.COHOST))
            elif data.role is Role.SPEAKER:
                if member.role is not Role.COHOST:
                    raise Conflict(f"only a co-host can become a speaker; {handle} is a "
                                   f"{member.role}")
                rules.check_speaker_slot(records.count(session, room_id, Role.SPEAKER))
            elif member.role not in rules.VOICES:
                raise Conflict(f"{handle} is already a {member.role}")
            member.role = data.role
            session.add(member)
            return target, member

        return await self._voice(room_id, work)

    async def revoke(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        """Take the right to speak away: the target becomes a listener and their audio stops."""
        def work(session: Session) -> tuple[Account, Member]:
            records.room(session, room_id)
            target, member = records.target(session, room_id, caller, handle)
            if member.role not in rules.VOICES:
                raise Conflict(f"{target.handle} is not speaking")
            records.reset(member, Role.LISTENER)
            session.add(member)
            return target, member

        return await self._voice(room_id, work)

    async def mute(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            records.room(session, room_id)
            target = require_account(session, handle=handle)
            member = records.member(session, room_id, target)
            if target.id != caller.id:
                rules.check_outranks(records.role(session, room_id, caller), member.role)
            if member.role not in rules.VOICES:
                raise Conflict(f"{target.handle} is not speaking")
            member.muted = True
            session.add(member)
            return target, member

        return await self._voice(room_id, work)

    async def set_language(self, caller: Account, room_id: str, handle: str,
                           data: SpeakerLanguage) -> MemberPublic:
        """Say what a speaker speaks (a correction of what was detected): their captions hear
        it from now on, without restarting their stream, and at every later start."""
        def work(session: Session) -> tuple[Account, Member]:
            room = records.room(session, room_id)
            target = require_account(session, handle=handle)
            member = records.member(session, room_id, target)
            rules.check_may_set_language(actor=records.role(session, room_id, caller),
                                         is_self=target.id == caller.id,
                                         room_language=room.language, language=data.language)
            if member.role not in rules.VOICES:
                raise Conflict(f"{target.handle} is not speaking")
            member.language = data.language
            session.add(member)
            return target, member

        return await self._voice(room_id, work)

    async def unmute(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            records.room(session, room_id)
            target = require_account(session, handle=handle)
            if target.id != caller.id:
                raise Forbidden("only the speaker can turn their own microphone back on")
            member = records.member(session, room_id, target)
            if member.role not in rules.VOICES:
                raise Conflict("you are not speaking")
            member.muted = False
            session.add(member)
            return target, member

        return await self._voice(room_id, work)

    async def remove(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            records.room(session, room_id)
            target, member = records.target(session, room_id, caller, handle)
            if member.role is Role.BLOCKED:
                raise Conflict(f"{target.handle} is blocked; unblock instead")
            records.reset(member, Role.LISTENER)
            session.add(member)
            return target, member

        target, member = await self.store.change(room_id, work)
        self._kick(room_id, target, REMOVED)
        return records.member_public(target, member)

    async def block(self, caller: Account, room_id: str, handle: str) -> MemberPublic:
        def work(session: Session) -> tuple[Account, Member]:
            records.room(session, room_id)
            target, member = records.target(session, room_id, caller, handle)
            records.reset(member, Role.BLOCKED)
            session.add(member)
            return target, member

        target, member = await self.store.change(room_id, work)
        self._kick(room_id, target, BLOCKED)
        return records.member_public(target, member)

    async def unblock(self, caller: Account, room_id: str, handle: str) -> None:
        def work(session: Session) -> int:
            records.room(session, room_id)
            rules.check_moderator(records.role(session, room_id, caller))
            target = require_account(session, handle=handle)
            member = records.member(session, room_id, target)
            if member.role is not Role.BLOCKED:
                raise NotFound(f"{target.handle} is not blocked")
            member.role = Role.LISTENER
            session.add(member)
            return records.account_id(target)

        account_id = await self.store.change(room_id, work)
        live = self.store.live.get(room_id)
        if live is not None:
            self.store.live.unblock(live, account_id)

    async def _voice(self, room_id: str,
                     work: Callable[[Session], tuple[Account, Member]]) -> MemberPublic:
        account, member = await self.store.change(room_id, work)
        self.store.voice_changed(room_id, account, member)
        return records.member_public(account, member)

    def _kick(self, room_id: str, target: Account, close: Close) -> None:
        live = self.store.live.get(room_id)
        if live is not None:
            self.store.live.kick(live, records.account_id(target), close)
