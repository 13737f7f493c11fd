"""Rooms: creation, scheduling, the start and the end, room extras (reactions, pins) and who
may join the live captions and audio. Who may speak is `membership.py`.

Each operation is one database transaction, run in a worker thread, followed by its live effects
(roster updates, closing sockets) on the event loop (`store.RoomStore`).

Decisions where the issue was silent (the rules themselves are in `rules.py`):

- A room created without `scheduled_for` goes live at once; with it, it waits as `scheduled` and
  the host starts it (early or late) or cancels it. Nothing about a room can change once it is
  live: title, policy, recording and public captions are all chosen before the start. Only the
  visibility of its archived transcript may change at any time, since it matters after the end.
- Reactions and pins need the room live.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from roomscribe.accounts.tables import Account
from roomscribe.captions.events import Speaker
from roomscribe.captions.languages import tracks
from roomscribe.config import Settings
from roomscribe.errors import Conflict, Forbidden, ModelUnavailable
from roomscribe.languages import ENGLISH
from roomscribe.ratelimit import RateLimiter
from roomscribe.rooms import records, rules
from roomscribe.rooms.audio import AudioSink, CaptionSource, SpeakerFeed
from roomscribe.rooms.connection import Connection
from roomscribe.rooms.live_room import Attendee, LiveRoom
from roomscribe.rooms.live_rooms import LiveRooms
from roomscribe.rooms.media import RoomMedia
from roomscribe.rooms.schemas import (
    PinCreate,
    PinPublic,
    ReactionCreate,
    RoomCreate,
    RoomPublic,
    RoomUpdate,
)
from roomscribe.rooms.store import RoomStore
from roomscribe.rooms.tables import EndReason, Member, Role, Room, RoomState
from roomscribe.timestamps import utcnow

log = logging.getLogger(__name__)

LIST_LIMIT = 100


def new_room_id() -> str:
    """Short, URL-safe and unguessable (64 random bits): the link is how rooms are shared."""
    return secrets.token_urlsafe(8)


class RoomObserver(Protocol):
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
    reactions: str = "10/10 seconds"
    """Reactions one account may send to one room (a `limits` rate)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RoomLimits:
        return cls(max_length=timedelta(hours=settings.max_room_hours),
                   max_live_rooms=settings.max_live_rooms_per_account,
                   reactions=settings.reaction_limit)


LENGTH_CHECK_EVERY = 60.0
"""Seconds between looks for rooms that have run their longest."""


class RoomService:
    def __init__(self, store: RoomStore, *, captions: CaptionSource | None,
                 recorder: AudioSink, observers: Sequence[RoomObserver] = (),
                 limits: RoomLimits | None = None, media: RoomMedia | None = None,
                 limiter: RateLimiter | None = None,
                 languages_missing: Callable[[], str | None] = lambda: None) -> None:
        """`captions` None: this server runs no caption engine, and refuses audio (4503).
        `media`: live audio through the media server (None: rooms are silent). `limiter`
        counts reactions (shared by every web process when it counts in Redis).
        `languages_missing`: what an operator runs so rooms in other languages than English
        are captioned here, or None when they are (`captions.languages.multilingual_missing`)."""
        self._languages_missing = languages_missing
        self.limiter = limiter or RateLimiter()
        self.store = store
        self.media = media
        self.captions = captions
        self.recorder = recorder
        self.observers = tuple(observers)
        self.limits = limits or RoomLimits()

    async def _tell(self, room: Room, *, ended: bool) -> None:
        for observer in self.observers:
            try:
                await (observer.room_ended(room) if ended else observer.room_changed(room))
            except Exception:
                # The change is committed and the caller must hear so; each observer catches up
                # on its own at the next start.
                log.exception("%s was not told about room %s", type(observer).__name__, room.id)

    @property
    def live(self) -> LiveRooms:
        """The live rooms of this process, which the sockets attach to."""
        return self.store.live

    @property
    def live_audio(self) -> bool:
        """Whether rooms offer live audio now (a media server runs and answers)."""
        return self.media is not None and self.media.available

    @property
    def languages_missing(self) -> str | None:
        """What an operator runs so rooms in other languages are captioned (None: they are)."""
        return self._languages_missing()

    def roster(self, room_id: str) -> dict[str, Any] | None:
        """Who is in the live room now (None when it is not live here). Presence lives only in
        the live room's memory; its roster event has it all."""
        live = self.store.live.get(room_id)
        return None if live is None else live.roster_event()

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
                rules.check_live_room_slot(records.hosting(session, records.account_id(caller)),
                                           self.limits.max_live_rooms)
            room = Room.model_validate(data, update={
                "id": new_room_id(), "host_id": caller.id,
                "state": RoomState.LIVE if live else RoomState.SCHEDULED,
                "started_at": now if live else None})
            session.add(room)
            session.flush()  # the host's row refers to the room, and no relationship orders them
            session.add(Member(room_id=room.id, account_id=records.account_id(caller),
                               role=Role.HOST, consent_at=now if room.record else None))
            return self.store.public(session, room)

        async with self.store.serial(f"host:{caller.id}"):
            return await self.store.tx(work)

    async def get(self, viewer: Account | None, room_id: str) -> RoomPublic:
        def work(session: Session) -> RoomPublic:
            room = records.room(session, room_id)
            records.check_can_listen(room, viewer, records.role(session, room_id, viewer))
            return self.store.public(session, room, viewer)

        return await self.store.tx(work)

    async def browse(self, caller: Account) -> list[RoomPublic]:
        """Rooms one can join or look forward to: live ones, then scheduled ones, newest first."""
        def work(session: Session) -> list[RoomPublic]:
            rooms = session.exec(
                select(Room).where(col(Room.state).in_([RoomState.LIVE, RoomState.SCHEDULED]))
                .order_by(case((col(Room.state) == RoomState.LIVE, 0), else_=1),
                          col(Room.created_at).desc()).limit(LIST_LIMIT)).all()
            return [self.store.public(session, room) for room in rooms]

        return await self.store.tx(work)

    async def editable(self, caller: Account, room_id: str) -> RoomPublic:
        """The room, for its host to change (what may change depends on its state: `update`)."""
        def work(session: Session) -> RoomPublic:
            room = records.room(session, room_id)
            rules.check_host(records.role(session, room_id, caller))
            return self.store.public(session, room, caller)

        return await self.store.tx(work)

    async def hosted(self, caller: Account) -> list[RoomPublic]:
        """The caller's own rooms, newest first: live and scheduled, then ended and cancelled,
        each with its retention date once it has one."""
        def work(session: Session) -> list[RoomPublic]:
            rooms = session.exec(
                select(Room).where(Room.host_id == caller.id)
                .order_by(col(Room.created_at).desc()).limit(LIST_LIMIT * 2)).all()
            return [self.store.public(session, room, caller) for room in rooms]

        return await self.store.tx(work)

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
            room = records.room(session, room_id)
            rules.check_host(records.role(session, room_id, caller))
            changes = data.model_dump(exclude_unset=True)
            if changes.get("visibility", "") is None:
                del changes["visibility"]
            rules.check_no_nulls(changes, nullable={"scheduled_for"})
            if room.state is not RoomState.SCHEDULED and set(changes) - {"visibility"}:
                raise Conflict("only a scheduled room can be changed; all is fixed at the start")
            if changes.get("record") and not room.record:
                rules.check_may_start_recording(records.voices_without_consent(session, room_id))
                host = records.member(session, room_id, caller)
                host.consent_at = host.consent_at or utcnow()  # choosing to record is consent
                session.add(host)
            if changes.get("scheduled_for") is not None:
                rules.check_schedule(changes["scheduled_for"], utcnow())
            elif "scheduled_for" in changes:
                raise Conflict("a scheduled room keeps a start time; cancel it instead")
            room.sqlmodel_update(changes)
            session.add(room)
            return room, self.store.public(session, room)

        room, public = await self.store.change(room_id, work)
        await self._tell(room, ended=False)
        return public

    async def start(self, caller: Account, room_id: str) -> RoomPublic:
        """Idempotent: starting a room that is live already answers with it, so a host who
        pressed the button twice (or retried after a timeout) sees their room, not an error."""
        room, public = await self._move(caller, room_id, RoomState.LIVE)
        await self.store.live_room(room)
        return public

    async def cancel(self, caller: Account, room_id: str) -> RoomPublic:
        return (await self._move(caller, room_id, RoomState.CANCELLED))[1]

    async def end(self, caller: Account, room_id: str) -> RoomPublic:
        """End the room: its captions are flushed, everyone is told, every socket closes."""
        room, public = await self._move(caller, room_id, RoomState.ENDED)
        await self._ended(room)
        return public

    async def _ended(self, room: Room) -> None:
        live = self.store.live.get(room.id)
        if live is not None:
            await self.store.live.end(live)
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
            room = records.room(session, room_id)
            if room.state is not RoomState.LIVE:
                return None
            room.state, room.ended_at, room.ended_reason = (
                RoomState.ENDED, utcnow(), EndReason.TIME_LIMIT)
            session.add(room)
            return room

        ended = []
        for room_id in await self.store.tx(overdue):
            room = await self.store.change(room_id, functools.partial(work, room_id=room_id))
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
        observers complete their recordings and transcripts from what was stored.
        """
        def work(session: Session) -> list[Room]:
            rooms = list(session.exec(select(Room).where(Room.state == RoomState.LIVE)).all())
            for room in rooms:
                room.state, room.ended_at, room.ended_reason = (
                    RoomState.ENDED, utcnow(), EndReason.CRASH)
                session.add(room)
            return rooms

        rooms = await self.store.tx(work)
        for room in rooms:
            log.warning("room %s was left live by a killed server; ended it", room.id)
            await self._tell(room, ended=True)
        return [room.id for room in rooms]

    async def _move(self, caller: Account, room_id: str,
                    target: RoomState) -> tuple[Room, RoomPublic]:
        """The host moves the room to `target`, along an allowed transition only."""
        def work(session: Session) -> tuple[Room, RoomPublic]:
            room = records.room(session, room_id)
            rules.check_host(records.role(session, room_id, caller))
            if room.state is target is RoomState.LIVE:
                return room, self.store.public(session, room)
            rules.check_transition(room.state, target)
            if target is RoomState.LIVE:
                rules.check_live_room_slot(records.hosting(session, records.account_id(caller)),
                                           self.limits.max_live_rooms)
            room.state = target
            if target is RoomState.LIVE:
                room.started_at = utcnow()
            else:
                room.ended_at = utcnow()
                room.ended_reason = EndReason.HOST if target is RoomState.ENDED else None
            session.add(room)
            return room, self.store.public(session, room)

        return await self.store.change(room_id, work)

    # -- room extras ----------------------------------------------------------------------------

    async def react(self, caller: Account, room_id: str, data: ReactionCreate) -> None:
        live = await self._live_for(caller, room_id, host_only=False)
        self.limiter.hit(self.limits.reactions, "reactions", room_id, str(caller.id),
                         what="reactions")
        self.store.live.react(live, records.attendee(caller), data.emoji)

    async def pins(self, viewer: Account | None, room_id: str) -> list[PinPublic]:
        def work(session: Session) -> Room:
            room = records.room(session, room_id)
            records.check_can_listen(room, viewer, records.role(session, room_id, viewer))
            return room

        room = await self.store.tx(work)
        pins = await self.store.live.pins(room_id) if room.state is RoomState.LIVE else []
        return [records.pin_public(p) for p in pins]

    async def pin(self, caller: Account, room_id: str, data: PinCreate) -> PinPublic:
        live = await self._live_for(caller, room_id, host_only=True)
        return records.pin_public(await self.store.live.pin(live, data.url, data.title))

    async def unpin(self, caller: Account, room_id: str, pin_id: int) -> None:
        live = await self._live_for(caller, room_id, host_only=True)
        await self.store.live.unpin(live, pin_id)

    async def _live_for(self, caller: Account, room_id: str, *, host_only: bool) -> LiveRoom:
        """The live room `caller` acts in (reacting; pinning, when `host_only`)."""
        def work(session: Session) -> Room:
            room = records.room(session, room_id)
            role = records.role(session, room_id, caller)
            rules.check_not_blocked(role)
            if host_only:
                rules.check_host(role)
            rules.check_live(room.state)
            return room

        return await self.store.live_room(await self.store.tx(work))

    # -- sockets --------------------------------------------------------------------------------

    async def join_captions(self, viewer: Account | None,
                            room_id: str) -> tuple[LiveRoom, Attendee | None]:
        """May `viewer` read this room's live captions? Anonymous only when they are public."""
        def work(session: Session) -> Room:
            room = records.room(session, room_id)
            records.check_can_listen(room, viewer, records.role(session, room_id, viewer))
            rules.check_live(room.state)
            return room

        room = await self.store.tx(work)
        if viewer is not None and room.record:
            await asyncio.to_thread(records.record_presence, self.store.engine, room.id,
                                    records.account_id(viewer))
        who = None if viewer is None else records.attendee(viewer)
        return await self.store.live_room(room), who

    async def join_audio(self, speaker: Account, room_id: str,
                         conn: Connection) -> tuple[LiveRoom, SpeakerFeed]:
        """Only the host, co-hosts and speakers of a live room send audio, and in a recorded
        room only once they agreed to be recorded; `conn` is attached to the live room in the
        same step as the last check (`LiveRooms.admit`)."""
        def work(session: Session) -> tuple[Room, Member]:
            room = records.room(session, room_id)
            rules.check_live(room.state)
            return room, records.member(session, room_id, speaker)

        room, member = await self.store.tx(work)
        rules.check_not_blocked(member.role)
        if member.role not in rules.VOICES:
            raise Forbidden("only the host, co-hosts and speakers may send audio")
        rules.check_recording_consent(record=room.record, consent_at=member.consent_at)
        if self.captions is None:
            raise ModelUnavailable("live captions are not running on this server")
        streams = tracks(room.language)
        for language, task in streams:
            await self.captions.ready(language, task)
        live = await self.store.live_room(room)
        self.store.live.attach_audio(live, records.account_id(speaker), conn)
        feed = SpeakerFeed(room=room.id, speaker=Speaker(id=speaker.handle,
                                                         name=speaker.display_name),
                           captions=self.captions, sink=self.store.live.caption_sink(live),
                           recorder=self.recorder if room.record else None,
                           room_time=live.room_time, tracks=streams)
        if member.language is not None and room.language != ENGLISH:
            feed.set_language(member.language)
        conn.on_language(feed.set_language)
        return live, feed
