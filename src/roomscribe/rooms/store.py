"""The plumbing the room services share: transactions in a worker thread, one lock per room, and
the live state of a live room (rebuilt from the database after a restart).

Changes to one room are serialised by an asyncio lock per room, so two approvals cannot both take
the tenth speaker slot; this holds within one process, which is also what the in-memory live
state assumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar
from weakref import WeakValueDictionary

from sqlalchemy import Engine
from sqlmodel import Session

from roomscribe.accounts.tables import Account
from roomscribe.captions.numbering import MemoryNumbering, Numbering
from roomscribe.db import session_scope
from roomscribe.rooms import records, rules
from roomscribe.rooms.live_room import LiveRoom
from roomscribe.rooms.live_rooms import LiveRooms
from roomscribe.rooms.schemas import RoomPublic
from roomscribe.rooms.tables import Member, Room

T = TypeVar("T")


class RoomStore:
    def __init__(self, engine: Engine, live: LiveRooms, *,
                 retention: records.RetentionFacts | None = None,
                 numbering: Numbering | None = None) -> None:
        self.engine = engine
        self.live = live
        self.numbering = numbering or MemoryNumbering()
        """The caption numbering, whose epoch each live room announces."""
        self.retention = retention
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    async def tx(self, work: Callable[[Session], T]) -> T:
        """Run `work` in one transaction, in a worker thread."""
        def run() -> T:
            with session_scope(self.engine) as session:
                return work(session)

        return await asyncio.to_thread(run)

    @asynccontextmanager
    async def serial(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield

    async def change(self, room_id: str, work: Callable[[Session], T]) -> T:
        """A change to one room, after every earlier change to it."""
        async with self.serial(f"room:{room_id}"):
            return await self.tx(work)

    def public(self, session: Session, room: Room, viewer: Account | None = None) -> RoomPublic:
        return records.room_public(session, room, viewer, retention=self.retention)

    async def live_room(self, room: Room) -> LiveRoom:
        """The live state of a live room, rebuilt from the database after a restart."""
        existing = self.live.get(room.id)
        if existing is not None:
            return existing
        voices, blocked = await self.tx(lambda session: (records.voices(session, room.id),
                                                         records.blocked(session, room.id)))
        epoch = await self.numbering.epoch(room.id)
        assert room.started_at is not None
        return self.live.open(LiveRoom(
            id=room.id, title=room.title, record=room.record,
            captions_public=room.captions_public, started_at=room.started_at, voices=voices,
            blocked=blocked, epoch=epoch))

    def voice_changed(self, room_id: str, account: Account, member: Member) -> None:
        """Tell the live room (if any) that `account` gained, lost or changed its voice."""
        live = self.live.get(room_id)
        if live is None:
            return
        voice = records.voice(account, member) if member.role in rules.VOICES else None
        self.live.set_voice(live, records.account_id(account), voice)
