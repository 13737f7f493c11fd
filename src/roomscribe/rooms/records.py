"""The rooms' rows, read and shaped inside a transaction: rooms, members, presence.

Every function takes an open `Session` and runs in the worker thread of the service that called
it (`store.RoomStore.tx`); none commits. The rules these rows feed are in `rules.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from roomscribe.accounts.service import require_account
from roomscribe.accounts.tables import Account
from roomscribe.db import session_scope
from roomscribe.errors import NotAuthenticated, NotFound
from roomscribe.rooms import rules
from roomscribe.rooms.board import Pin
from roomscribe.rooms.live_room import Attendee, Voice
from roomscribe.rooms.schemas import MemberPublic, PinPublic, RoomPublic
from roomscribe.rooms.tables import Member, Presence, Role, Room, RoomState


class KeptFacts(Protocol):
    """What the retention domain knows of an ended recorded room (its `Retention` row)."""

    @property
    def retain_until(self) -> datetime: ...

    @property
    def purged_at(self) -> datetime | None: ...


class RetentionFacts(Protocol):
    """Looks up the retention of rooms: injected, so rooms never read the retention tables."""

    def rows(self, room_ids: Iterable[str]) -> Mapping[str, KeptFacts]: ...


def account_id(account: Account) -> int:
    assert account.id is not None, "accounts reach services after being stored"
    return account.id


def attendee(account: Account) -> Attendee:
    return Attendee(account_id(account), account.handle, account.display_name)


def room(session: Session, room_id: str) -> Room:
    found = session.get(Room, room_id)
    if found is None:
        raise NotFound(f"no room {room_id!r}")
    return found


def member(session: Session, room_id: str, account: Account) -> Member:
    """The account's standing in the room; a fresh listener row when it has none yet."""
    found = session.get(Member, (room_id, account_id(account)))
    return found or Member(room_id=room_id, account_id=account_id(account))


def role(session: Session, room_id: str, account: Account | None) -> Role:
    if account is None:
        return Role.LISTENER
    found = session.get(Member, (room_id, account_id(account)))
    return found.role if found is not None else Role.LISTENER


def target(session: Session, room_id: str, caller: Account,
           handle: str) -> tuple[Account, Member]:
    """The account a moderator acts on, after checking the caller outranks it."""
    actor = role(session, room_id, caller)
    rules.check_moderator(actor)
    account = require_account(session, handle=handle)
    standing = member(session, room_id, account)
    rules.check_outranks(actor, standing.role)
    return account, standing


def voices_without_consent(session: Session, room_id: str) -> int:
    """Speakers and co-hosts (not the host, whose choice it is) who never agreed to recording."""
    return session.exec(select(func.count()).select_from(Member).where(
        Member.room_id == room_id, col(Member.role).in_([Role.COHOST, Role.SPEAKER]),
        col(Member.consent_at).is_(None))).one()


def hosting(session: Session, host_id: int) -> int:
    """How many live rooms the account hosts now."""
    return session.exec(select(func.count()).select_from(Room).where(
        Room.host_id == host_id, Room.state == RoomState.LIVE)).one()


def count(session: Session, room_id: str, of: Role) -> int:
    return session.exec(select(func.count()).select_from(Member)
                        .where(Member.room_id == room_id, Member.role == of)).one()


def voices(session: Session, room_id: str) -> dict[int, Voice]:
    rows = session.exec(select(Member, Account)
                        .join(Account, col(Account.id) == col(Member.account_id))
                        .where(Member.room_id == room_id,
                               col(Member.role).in_(list(rules.VOICES)))).all()
    return {m.account_id: voice(a, m) for m, a in rows}


def blocked(session: Session, room_id: str) -> set[int]:
    return set(session.exec(select(Member.account_id).where(
        Member.room_id == room_id, Member.role == Role.BLOCKED)).all())


def members_with_accounts(session: Session, room_id: str) -> list[tuple[Member, Account]]:
    return [(m, a) for m, a in session.exec(
        select(Member, Account).join(Account, col(Account.id) == col(Member.account_id))
        .where(Member.room_id == room_id)).all()]


def voice(account: Account, standing: Member) -> Voice:
    return Voice(account.handle, account.display_name, standing.role, standing.muted,
                 standing.language)


def check_can_listen(found: Room, viewer: Account | None, viewer_role: Role) -> None:
    if viewer is None and not found.captions_public:
        raise NotAuthenticated("sign in to follow this room")
    rules.check_not_blocked(viewer_role)


def store_consent(found: Room, standing: Member, now: datetime) -> None:
    """The first consent is kept: it covers everything recorded since."""
    if found.record and standing.consent_at is None:
        standing.consent_at = now


def reset(standing: Member, to: Role) -> None:
    standing.role, standing.muted = to, False
    standing.requested_at = standing.invited_at = None


def room_public(session: Session, found: Room, viewer: Account | None = None, *,
                retention: RetentionFacts | None = None) -> RoomPublic:
    """The room as callers see it; its retention date only for its host and admins."""
    host = session.get(Account, found.host_id)
    assert host is not None
    update: dict[str, object] = {"host": host.handle, "host_name": host.display_name}
    kept = (retention.rows([found.id]).get(found.id)
            if retention is not None and found.record and found.state is RoomState.ENDED
            else None)
    if kept is not None:
        update["purged_at"] = kept.purged_at
        if viewer is not None and (viewer.id == found.host_id or viewer.is_admin):
            update["retain_until"] = kept.retain_until
    return RoomPublic.model_validate(found, from_attributes=True, update=update)


def record_presence(engine: Engine, room_id: str, account: int) -> None:
    """Remember that the account followed the recorded room (the first time only)."""
    try:
        with session_scope(engine) as session:
            if session.get(Presence, (room_id, account)) is None:
                session.add(Presence(room_id=room_id, account_id=account))
    except IntegrityError:
        pass  # another tab of the same account recorded it a moment earlier


def was_present(engine: Engine, room_id: str, account: int) -> bool:
    """Whether the account took part in the room: followed it live, or had a voice in it (a
    speaker's consent is kept even after they were moved back to listener)."""
    with Session(engine) as session:
        if session.get(Presence, (room_id, account)) is not None:
            return True
        standing = session.get(Member, (room_id, account))
        return standing is not None and (standing.role in rules.VOICES
                                         or standing.consent_at is not None)


def member_public(account: Account, standing: Member) -> MemberPublic:
    return MemberPublic(handle=account.handle, display_name=account.display_name,
                        role=standing.role, muted=standing.muted,
                        requested_at=standing.requested_at, invited_at=standing.invited_at,
                        consent_at=standing.consent_at, language=standing.language)


_ORDER = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2, Role.LISTENER: 3, Role.BLOCKED: 4}


def member_order(public: MemberPublic) -> tuple[int, str]:
    """Host first, then co-hosts, speakers, listeners and the blocked; by handle within each."""
    return _ORDER[public.role], public.handle


def pin_public(pin: Pin) -> PinPublic:
    return PinPublic(id=pin.id, url=pin.url, title=pin.title, pinned_at=pin.pinned_at)
