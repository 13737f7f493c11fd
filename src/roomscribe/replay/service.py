"""Replaying an ended, recorded room: who may, and what they get.

Replay is for searchers: whoever may find a room's transcript in search may hear that moment and
read its captions (`visibility.may_see`: public rooms anyone, members' rooms anyone signed in,
private rooms their host and admins). Downloads are something else: the host's and admins' files,
with attachments, through `recordings` and `transcripts`. So a replay

- is streamed in ranges of at most `CHUNK` bytes, never as an attachment or a whole file: enough
  for a player to play and seek, not a download by another name;
- is recorded in the audit log as a replay (when playback starts at the beginning of the file),
  with who listened, since listening to someone's recorded voice is worth a record;
- stops, like downloads, when the retention policy says the recording is gone (410).

A room the viewer may not see is "not found", like one that does not exist; a members' room asks
an anonymous visitor to sign in. This module is the one place those rules are written: the
replay pages and the replay API both call it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from roomscribe.accounts.tables import Account
from roomscribe.asr.results import Segment
from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction
from roomscribe.captions.formats import render
from roomscribe.clock import Clock, system_clock
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, Gone, NotAuthenticated, NotFound
from roomscribe.recordings.service import MixBody, RecordingService
from roomscribe.recordings.tables import Recording, RecordingState
from roomscribe.retention.outcomes import Kept
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.tables import Room, RoomState
from roomscribe.transcripts.schemas import Track, TrackPublic
from roomscribe.transcripts.service import TranscriptService
from roomscribe.visibility import Visibility, may_see

CHUNK = 1 << 20
"""The most one replay request is answered with: a minute or so of the Opus mix. Players ask for
the next range as they play."""


@dataclass(frozen=True, slots=True)
class Replay:
    """What the replay page shows of a room."""

    room: Room
    recording: Recording | None
    """None until the room's end has been processed."""
    segments: tuple[Segment, ...]
    """The archived transcript, while the retention policy keeps it."""
    kept: Kept
    tracks: tuple[TrackPublic, ...] = ()
    """Its caption tracks: as spoken, and English for a room in another language."""

    @property
    def deleted_on(self) -> datetime | None:
        """When the retention purge removed the recording, once it has."""
        return self.kept.row.purged_at if self.kept.purged and self.kept.row else None

    @property
    def retained(self) -> bool:
        return self.kept.available

    @property
    def playable(self) -> bool:
        return (self.retained and self.recording is not None
                and self.recording.state is RecordingState.READY)

    @property
    def preparing(self) -> bool:
        return self.recording is None or self.recording.state in (RecordingState.PENDING,
                                                                  RecordingState.FAILED)


class ReplayService:
    """See the module docstring. Async methods, blocking work in worker threads."""

    def __init__(self, engine: Engine, *, recordings: RecordingService,
                 transcripts: TranscriptService, retention: RetentionService,
                 clock: Clock = system_clock) -> None:
        self.engine = engine
        self.recordings = recordings
        self.transcripts = transcripts
        self.retention = retention
        self.clock = clock

    def _room(self, viewer: Account | None, room_id: str) -> Room:
        """The rule: the ended, recorded room `viewer` may find in search; else refused."""
        with Session(self.engine) as session:
            room = session.get(Room, room_id)
        if room is not None and viewer is None and room.visibility is Visibility.MEMBERS:
            raise NotAuthenticated("sign in to replay this room")
        # A private room is as unknown to those it is hidden from as a room that does not exist.
        if room is None or not room.record or not may_see(room.visibility, room.host_id, viewer):
            raise NotFound(f"there is no recorded room {room_id!r} you may replay")
        if room.state is not RoomState.ENDED:
            raise Conflict("this room has not ended yet; its replay is ready after it ends")
        return room

    def _kept(self, room_id: str) -> Kept:
        kept = self.retention.kept(room_id, now=self.clock())
        if kept.row is not None and not kept.available:
            raise Gone("the recording and transcript of this room are no longer kept")
        return kept

    async def page(self, viewer: Account | None, room_id: str) -> Replay:
        """The room, its recording's state and its transcript (empty once it is gone)."""
        def work() -> Replay:
            room = self._room(viewer, room_id)
            kept = self.retention.kept(room_id, now=self.clock())
            segments = self.transcripts.archived(room_id) if kept.available else []
            tracks = self.transcripts.archived_tracks(room_id) if kept.available else []
            return Replay(room, self.recordings.recording(room_id), tuple(segments), kept,
                          tuple(tracks))

        return await asyncio.to_thread(work)

    async def audio(self, viewer: Account | None, room_id: str,
                    range_header: str | None) -> MixBody:
        """A range of the room's mix (at most `CHUNK` bytes; the start when none is asked for)."""
        def work() -> MixBody:
            self._room(viewer, room_id)
            self._kept(room_id)
            body = self.recordings.read_mix(room_id, range_header or "bytes=0-", most=CHUNK)
            if body.start == 0:
                with session_scope(self.engine) as session:
                    audit.record(session, action=AuditAction.REPLAY, at=self.clock(),
                                 actor_id=viewer.id if viewer is not None else None,
                                 room_id=room_id)
            return body

        return await asyncio.to_thread(work)

    async def captions(self, viewer: Account | None, room_id: str,
                       track: Track = "spoken") -> str:
        """The archived transcript as WebVTT, for the player's captions tracks."""
        def work() -> str:
            self._room(viewer, room_id)
            self._kept(room_id)
            return render(self.transcripts.archived(room_id, track), "vtt")

        return await asyncio.to_thread(work)
