"""Recorded rooms: each speaker's audio to storage as it arrives, one mix when the room ends.

- `RecordingService.open` is the rooms' `AudioSink`. Every track write goes to one writer thread
  (appends, and an fsync at least every second while audio arrives), so a slow disk never stalls
  the event loop, and audio is in the OS, safe from a killed process, moments after it arrived.
- When a recorded room ends (`room_ended`), its retention deadline is registered and its tracks
  are mixed, one room at a time, in a worker thread (`mixdown`, the one ffmpeg pipeline). A
  `Recording` row says what became of it; the next start resumes any mix left pending.
- `open_mix` serves the mix to its host and admins, whole or as one byte range; `read_mix` is the
  same read without the download rule, for the replay (`replay.service`), which has its own.

Decisions where the issue was silent: a room's mix runs from room time 0 to its end (so a caption
time is a position in it), except after a crash, where it stops with the last audio received
rather than at the restart; tracks are named after the speaker's handle; a recording is
downloadable once the room has ended and its mix is ready (503 before), and every download,
range requests included, goes through the retention policy and its audit log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from roomscribe.accounts.tables import Account
from roomscribe.byte_ranges import byte_range
from roomscribe.captions.events import Speaker
from roomscribe.clock import Clock, system_clock
from roomscribe.db import session_scope
from roomscribe.errors import (
    Conflict,
    NotFound,
    NotReady,
    Unavailable,
)
from roomscribe.jobs import RoomJobs
from roomscribe.recordings.mixdown import MIX_CONTENT_TYPE, mixdown
from roomscribe.recordings.storage import Storage, check_key
from roomscribe.recordings.tables import Recording, RecordingState
from roomscribe.recordings.tracks import TrackReader, TrackWriter, track_ids
from roomscribe.retention.outcomes import DownloadKind
from roomscribe.retention.policy import check_keeper
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import RetentionCreate
from roomscribe.rooms.tables import EndReason, Room, RoomState
from roomscribe.timestamps import utcnow

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0
"""Seconds between fsyncs of a track while its audio arrives (the issue's bound)."""

MAX_QUEUED_WRITES = 20_000
"""Track writes waiting for the disk, at most: 100 ms frames, half an hour of one speaker. Paced
sockets never come near it; a disk that stalls does, and then speakers are refused (their
sockets close) instead of the server holding their audio in memory without end."""
MIX_RETRY_AFTER = 30.0
"""Seconds a client asking for a mix still being made is told to wait (most mix in less)."""

#: Recordings needing no more work: `resume` leaves their rooms alone.
_DONE = (RecordingState.READY, RecordingState.EMPTY, RecordingState.PURGED)


def archived_room(session: Session, caller: Account, room_id: str) -> Room:
    """The ended, recorded room whose recording or transcript `caller` asks for.

    Host and admins only (403 for anyone else); a room that never recorded anything is 404, a
    recorded room still live is 409.
    """
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound(f"no room {room_id!r}")
    check_keeper(caller.id, is_admin=caller.is_admin, host_id=room.host_id)
    if not room.record or room.state in (RoomState.SCHEDULED, RoomState.CANCELLED):
        raise NotFound(f"room {room_id} was not recorded")
    if room.state is not RoomState.ENDED:
        raise Conflict(f"room {room_id} is still live; its recording is ready after it ends")
    return room


@dataclass(frozen=True, slots=True)
class MixBody:
    """The bytes `[start, end)` of a room's mix, as they will be sent."""

    chunks: Iterator[bytes]
    """Blocking reads from storage: iterate in a worker thread (Litestar's `Stream` does)."""
    start: int
    end: int
    size: int
    """Bytes in the whole mix."""
    partial: bool
    """Answering a range request (206)."""
    content_type: str = MIX_CONTENT_TYPE
    retain_until: datetime | None = None
    """The retention deadline, stated on every download (None where it is not a download)."""


# Track writes ---------------------------------------------------------------------------------

class _Track:
    """One speaker's `AudioTrack` from an unmute (or join) to the next mute (or leaving)."""

    def __init__(self, writes: _TrackWrites, room_id: str, track_id: str, origin: float) -> None:
        self._writes = writes
        self.room_id, self.track_id, self.origin = room_id, track_id, origin
        self.writer: TrackWriter | None = None
        self.failed = False

    def write(self, pcm: bytes) -> None:
        self._writes.submit(lambda: self._writes.append(self, pcm))

    async def close(self) -> None:
        await asyncio.wrap_future(self._writes.call(lambda: self._writes.finish(self)))


class _TrackWrites:
    """The one thread that writes tracks: appends in arrival order, fsyncs when due."""

    def __init__(self, storage: Storage, flush_interval: float) -> None:
        self.storage = storage
        self.flush_interval = flush_interval
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._open: set[_Track] = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="roomscribe-track-writer",
                                        daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[], None]) -> None:
        if self._stopped:
            log.warning("audio arrived after the recorder stopped; dropped")
            return
        if self._queue.qsize() >= MAX_QUEUED_WRITES:
            raise Unavailable("the recording cannot keep up (the disk is too slow)",
                              retry_after=5)
        self._queue.put(work)

    def call(self, work: Callable[[], None]) -> Future[None]:
        """Run `work` after everything queued before it; the future says when it is done."""
        done: Future[None] = Future()

        def run() -> None:
            try:
                work()
            except Exception as err:
                done.set_exception(err)
            else:
                done.set_result(None)

        if self._stopped:
            done.set_result(None)
        else:
            self._queue.put(run)
        return done

    def append(self, track: _Track, pcm: bytes) -> None:
        if track.failed:
            return
        try:
            if track.writer is None:
                track.writer = TrackWriter(self.storage, track.room_id, track.track_id,
                                           flush_interval=self.flush_interval)
                self._open.add(track)
                track.writer.append(pcm, at=track.origin)
            else:
                # Contiguous from the origin, exactly like the caption stream's clock, so a
                # caption's time is where its words are in the track.
                track.writer.append(pcm)
        except Exception:
            # A full or broken disk: this track stops recording, captions and the room go on.
            log.exception("recording track %s/%s failed", track.room_id, track.track_id)
            track.failed = True
            self.finish(track)

    def finish(self, track: _Track) -> None:
        self._open.discard(track)
        if track.writer is not None:
            try:
                track.writer.close()
            except Exception:
                log.exception("closing track %s/%s failed", track.room_id, track.track_id)

    def _run(self) -> None:
        while True:
            try:
                work = self._queue.get(timeout=self.flush_interval / 2)
            except queue.Empty:
                work = None
            else:
                if work is None:
                    for track in list(self._open):
                        self.finish(track)
                    return
                work()
            # The idle timer: a speaker who stopped sending is still made durable in time.
            for track in list(self._open):
                if track.writer is not None:
                    try:
                        track.writer.flush_if_due()
                    except Exception:
                        log.exception("flushing track %s/%s failed", track.room_id,
                                      track.track_id)

    def stop(self) -> None:
        """Write what is queued, close every track, end the thread."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)
            self._thread.join()


# The service ----------------------------------------------------------------------------------

class RecordingService:
    """Speaker tracks in, mixes out; see the module docstring. Start with `start()`, end with
    `close()`, both on the event loop."""

    def __init__(self, engine: Engine, storage: Storage, retention: RetentionService, *,
                 flush_interval: float = FLUSH_INTERVAL, clock: Clock = system_clock,
                 scratch: Path | None = None) -> None:
        """`scratch`: a folder of this service's own for ffmpeg's temporary files, emptied by
        `clean` (None: the system's temporary folder, left alone)."""
        self.engine = engine
        self.storage = storage
        self.scratch = scratch
        self.retention = retention
        self.clock = clock
        self._writes = _TrackWrites(storage, flush_interval)
        self.mixes = RoomJobs("mixdown", lambda room_id: asyncio.to_thread(self.mix, room_id))

    def start(self) -> None:
        self.mixes.start()

    def clean(self) -> None:
        """Remove what a killed server left half-written: temporary objects and mix files.
        Blocking; call at start, before anything writes."""
        if (count := self.storage.clean()):
            log.warning("removed %d half-written recording objects", count)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        await self.mixes.close()
        await asyncio.to_thread(self._writes.stop)

    # The rooms' AudioSink

    def open(self, *, room: str, speaker: Speaker, origin: float) -> _Track:
        return _Track(self._writes, room, speaker.id, origin)

    # The rooms' RoomObserver

    async def room_ended(self, room: Room) -> None:
        if not room.record:
            return
        # Whatever the room's speakers sent is on disk before anything reads their tracks.
        await asyncio.wrap_future(self._writes.call(lambda: None))
        await asyncio.to_thread(self._prepare, room)
        self.mixes.add(room.id)

    async def room_changed(self, room: Room) -> None:
        return None

    async def resume(self) -> list[str]:
        """Queue the mixes a stopped or killed server left undone (call once at start)."""
        def pending() -> list[Room]:
            with Session(self.engine) as session:
                done = select(Recording.room_id).where(col(Recording.state).in_(_DONE))
                return list(session.exec(select(Room).where(
                    col(Room.record).is_(True), Room.state == RoomState.ENDED,
                    col(Room.id).not_in(done))).all())

        rooms = await asyncio.to_thread(pending)
        for room in rooms:
            await asyncio.to_thread(self._prepare, room)
            self.mixes.add(room.id)
        return [room.id for room in rooms]

    def _prepare(self, room: Room) -> None:
        """The pending row and the retention deadline; both are idempotent."""
        assert room.ended_at is not None, "ended rooms have an end time"
        with session_scope(self.engine) as session:
            row = session.get(Recording, room.id)
            if row is None:
                session.add(Recording(room_id=room.id, ended_at=room.ended_at))
            elif row.state is RecordingState.FAILED:
                row.state = RecordingState.PENDING
                session.add(row)
        self.retention.register(RetentionCreate(room_id=room.id, room_title=room.title,
                                                host_id=room.host_id, ended_at=room.ended_at))

    def mix(self, room_id: str) -> Recording:
        """Mix a pending room's tracks and record the outcome. Blocking (reads tracks, ffmpeg)."""
        with Session(self.engine) as session:
            room = session.get(Room, room_id)
            row = session.get(Recording, room_id)
        if room is None or row is None or row.state is not RecordingState.PENDING:
            raise Conflict(f"room {room_id} has no pending recording")
        update: dict[str, Any]
        try:
            update = self._mixdown(room)
        except Exception as err:  # ffmpeg, storage: kept on the row, retried at the next start
            log.exception("mixdown of room %s failed", room_id)
            update = {"state": RecordingState.FAILED, "error": str(err)[:500] or type(err).__name__}
        with session_scope(self.engine) as session:
            fresh = session.get(Recording, room_id)
            assert fresh is not None
            if fresh.state is RecordingState.PENDING:
                fresh.sqlmodel_update(update)
                session.add(fresh)
                return fresh
        # A purge meanwhile wins, and the mix it could not see yet goes too.
        if update.get("key") is not None:
            self.storage.delete(update["key"])
        return fresh

    def _mixdown(self, room: Room) -> dict[str, Any]:
        names = track_ids(self.storage, room.id)
        ends = [TrackReader(self.storage, room.id, name).end for name in names]
        if not names or max(ends) <= 0:
            return {"state": RecordingState.EMPTY, "tracks": len(names)}
        assert room.started_at is not None and room.ended_at is not None
        room_seconds = (room.ended_at - room.started_at).total_seconds()
        until = max(ends) if room.ended_reason is EndReason.CRASH else max(max(ends), room_seconds)
        mix = mixdown(self.storage, room.id, until=until, scratch=self.scratch)
        return {"state": RecordingState.READY, "key": mix.key, "duration": mix.duration,
                "size": mix.size, "tracks": len(mix.tracks), "error": None,
                "mixed_at": utcnow()}

    # Serving

    async def open_mix(self, caller: Account, room_id: str, range_header: str | None) -> MixBody:
        """The room's mix for its host or an admin: whole, or the one range asked for."""
        def work() -> MixBody:
            with Session(self.engine) as session:
                archived_room(session, caller, room_id)
            # Retention first: past the deadline the answer is 410 whatever state the mix is in.
            assert caller.id is not None, "stored accounts have ids"
            kept = self.retention.authorize_download(
                room_id, kind=DownloadKind.RECORDING, actor_id=caller.id,
                is_admin=caller.is_admin, now=self.clock())
            body = self.read_mix(room_id, range_header)
            return dataclasses.replace(body, retain_until=kept.retain_until)

        return await asyncio.to_thread(work)

    def recording(self, room_id: str) -> Recording | None:
        """What became of the room's audio (None before its room ended). Blocking."""
        with Session(self.engine) as session:
            return session.get(Recording, room_id)

    def read_mix(self, room_id: str, range_header: str | None, *,
                 most: int | None = None) -> MixBody:
        """The range of the room's mix asked for (all of it by default), at most `most` bytes,
        with no access check: callers apply their own rule first. Blocking."""
        row = self.recording(room_id)
        if row is None or row.state in (RecordingState.PENDING, RecordingState.FAILED):
            raise NotReady(f"the recording of room {room_id} is being prepared; "
                           "try again in a minute", retry_after=MIX_RETRY_AFTER)
        if row.state is not RecordingState.READY or row.key is None:
            raise NotFound(f"no audio was recorded in room {room_id}")
        size = self.storage.size(row.key)
        wanted = byte_range(range_header, size)
        start, end = wanted or (0, size)
        if most is not None:
            end = min(end, start + most)
        return MixBody(self.storage.stream(row.key, start, end), start, end, size,
                       partial=wanted is not None or end - start < size)


class RecordingPurger:
    """Retention's purger for recordings: the room's tracks and mix, leaving a tombstone row so
    a later start does not take the room for one still to be mixed."""

    def __init__(self, storage: Storage, engine: Engine) -> None:
        self.storage = storage
        self.engine = engine

    def purge(self, room_id: str) -> int:
        prefix = check_key(room_id)
        freed = self.storage.size(prefix)
        self.storage.delete(prefix)
        with session_scope(self.engine) as session:
            row = session.get(Recording, room_id) or Recording(room_id=room_id)
            row.sqlmodel_update({"state": RecordingState.PURGED, "key": None, "size": None})
            session.add(row)
        return freed
