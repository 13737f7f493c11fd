"""Transcripts of recorded rooms: live finals as they are published, the final pass after the end,
the host's corrections, and the exports.

- `save_final` stores each final before it is published (`transcripts.live` wraps the caption
  source), so whatever listeners saw survives a crash. All transcript writes go through one
  thread: saves keep their order, a room's end is ordered after its last final, and two
  corrections can never both build on the same version.
- When a recorded room ends, the final pass transcribes each speaker's track again, offline, with
  the shared Whisper model (`asr.offline.transcribe_track`: whole utterances with full
  context instead of a few seconds at a time). It runs in a worker thread, one room at a time,
  and becomes the archived version; the live version stays beside it.
- Corrections (host and admins) copy the archived version with the edits applied into a new
  version, which is reindexed. Exports render any version through `captions.formats.render`, so
  VTT and SRT pass the caption validator before they leave.

Decisions where the issue was silent: only recorded rooms keep a transcript; the final pass
splits Whisper's segments at sentence ends (a search hit or an edit is then one sentence); a final
pass that hears nothing where the live captions heard words is not trusted, and the live version
stays archived with a note saying so; without a model the final pass waits for the next start that
has one; corrections wait for the final pass (it would otherwise replace them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from roomscribe.accounts.tables import Account
from roomscribe.asr.offline import OfflineTranscriber
from roomscribe.asr.results import Segment, Word
from roomscribe.asr.streaming import SpeechDetector
from roomscribe.asr.vad import SileroVad
from roomscribe.captions.events import CaptionEvent
from roomscribe.captions.formats import Format, render
from roomscribe.clock import Clock, system_clock
from roomscribe.config import Settings
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, Gone, InvalidInput, ModelUnavailable, NotFound
from roomscribe.jobs import RoomJobs
from roomscribe.recordings.service import archived_room
from roomscribe.recordings.storage import Storage
from roomscribe.retention.outcomes import DownloadKind
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.tables import Room, RoomState
from roomscribe.timestamps import utcnow
from roomscribe.transcripts import records
from roomscribe.transcripts.final_pass import FinalPass, words_json
from roomscribe.transcripts.final_pass_queue import FinalPassQueue
from roomscribe.transcripts.schemas import (
    CorrectionCreate,
    SegmentPublic,
    SegmentsPublic,
    Track,
    TrackPublic,
    TranscriptPublic,
)
from roomscribe.transcripts.tables import (
    LIVE_VERSION,
    Source,
    Stage,
    Transcript,
    TranscriptSegment,
    TranscriptVersion,
)

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 5
"""Tries at a live final's position when other web processes write the same room."""

T = TypeVar("T")

MEDIA_TYPES: dict[Format, str] = {
    # Litestar adds the charset to text/* types itself.
    "vtt": "text/vtt", "srt": "application/x-subrip; charset=utf-8", "txt": "text/plain",
    "json": "application/json",
}

def to_segment(row: TranscriptSegment) -> Segment:
    return Segment(start=row.start, end=row.end, text=row.text, speaker=row.speaker_name,
                   language=row.lang,
                   words=tuple(Word(start=w["start"], end=w["end"], text=w["text"],
                                    probability=w.get("p", 1.0)) for w in row.words))


@dataclass(frozen=True, slots=True)
class Export:
    content: str
    media_type: str
    filename: str
    retain_until: datetime


class TranscriptIndex(Protocol):
    """Where saved transcripts become searchable (`archive.ArchiveService`): declared here so
    transcripts never import the archive, which reads transcripts."""

    async def add_live(self, room_id: str, rows: Sequence[TranscriptSegment]) -> None:
        """Index live finals just saved."""

    async def reindex(self, room_id: str) -> None:
        """Replace the room's indexed segments with its archived version."""


class TranscriptService:
    """See the module docstring. Start with `start()` and stop with `close()`, on the event loop.

    `transcriber` is the shared model; None loads one from `settings` when a final pass first
    needs it (a server whose live engine could not load one). `detector` makes each window's
    voice activity model (Silero; a fake for tone-burst tests). `queue`: final passes run on
    the ASR workers (`final_pass_queue`) instead of in this process.
    """

    def __init__(self, engine: Engine, storage: Storage, *, archive: TranscriptIndex,
                 retention: RetentionService, settings: Settings,
                 transcriber: OfflineTranscriber | None = None,
                 detector: Callable[[], SpeechDetector] = SileroVad,
                 clock: Clock = system_clock, queue: FinalPassQueue | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.storage = storage
        self.archive = archive
        self.retention = retention
        self.final = FinalPass(engine, storage, settings, transcriber=transcriber,
                               detector=detector)
        self.queue = queue
        """Final passes on the ASR workers' queue (scale-out), or None to run them here."""
        self.final_passes = RoomJobs("final pass", self._final_pass)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcripts")
        self._unrecorded: set[str] = set()
        self._indexing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.final_passes.start()

    async def close(self) -> None:
        await self.final_passes.close()
        if self.queue is not None:
            await self.queue.close()
        await asyncio.gather(*self._indexing, return_exceptions=True)
        self._writer.shutdown(wait=True)

    async def _write(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)

    # Live

    async def save_final(self, event: CaptionEvent) -> None:
        """Store a final of a recorded room before it is published, then index it."""
        if event.type != "final" or event.room in self._unrecorded:
            return
        row = await self._write(lambda: self._save_retrying(event))
        if row is not None:
            task = asyncio.get_running_loop().create_task(
                self.archive.add_live(event.room, [row]))
            self._indexing.add(task)
            task.add_done_callback(self._indexed)

    def _indexed(self, task: asyncio.Task[None]) -> None:
        self._indexing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The start-up reconciliation adds what failed here.
            log.error("indexing a live final failed: %s", task.exception())

    def _save_retrying(self, event: CaptionEvent) -> TranscriptSegment | None:
        # Web processes sharing a database each save the finals of their own speakers: two may
        # pick the same next position at once, and the unique index lets one of them win. The
        # other takes the next position.
        for attempt in range(SAVE_ATTEMPTS):
            try:
                return self._save(event)
            except IntegrityError:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
        return None

    def _save(self, event: CaptionEvent) -> TranscriptSegment | None:
        with session_scope(self.engine) as session:
            transcript = session.get(Transcript, event.room)
            if transcript is None:
                room = session.get(Room, event.room)
                if room is None or not room.record:
                    # Recording is fixed before a room starts, so this never needs asking again.
                    self._unrecorded.add(event.room)
                    return None
                if room.state is not RoomState.LIVE:
                    return None
                transcript = records.open_transcript(session, event.room)
            elif transcript.stage is not Stage.LIVE:
                return None  # the room has ended; its final pass owns the transcript now
            position = session.exec(
                select(func.coalesce(func.max(TranscriptSegment.position) + 1, 0)).where(
                    TranscriptSegment.room_id == event.room,
                    TranscriptSegment.version == LIVE_VERSION)).one()
            row = TranscriptSegment(
                room_id=event.room, version=LIVE_VERSION, position=position, seq=event.seq,
                speaker_id=event.speaker.id, speaker_name=event.speaker.name, start=event.start,
                end=event.end, text=event.text, lang=event.lang,
                translated=event.task == "translate", words=words_json(event.words))
            session.add(row)
            session.flush()
            return row

    # The rooms' RoomObserver

    async def room_ended(self, room: Room) -> None:
        if room.record:
            await self._write(lambda: self._close_live(room.id))
            self.final_passes.add(room.id)

    async def room_changed(self, room: Room) -> None:
        return None

    async def resume(self) -> list[str]:
        """Queue the final passes a stopped or killed server left undone (once, at start)."""
        def pending() -> list[str]:
            with Session(self.engine) as session:
                settled = select(Transcript.room_id).where(
                    col(Transcript.stage).not_in([Stage.LIVE, Stage.PENDING]))
                return list(session.exec(select(Room.id).where(
                    col(Room.record).is_(True), Room.state == RoomState.ENDED,
                    col(Room.id).not_in(settled))).all())

        room_ids = await asyncio.to_thread(pending)
        for room_id in room_ids:
            await self._write(partial(self._close_live, room_id))
            self.final_passes.add(room_id)
        return room_ids

    def _close_live(self, room_id: str) -> None:
        with session_scope(self.engine) as session:
            transcript = (session.get(Transcript, room_id)
                          or records.open_transcript(session, room_id))
            if transcript.stage is Stage.LIVE:
                transcript.stage = Stage.PENDING
                session.add(transcript)

    # The final pass

    async def _final_pass(self, room_id: str) -> None:
        if self.queue is not None:  # the ASR workers run it (the scale-out profile)
            written = await self.queue.run(room_id)
        else:
            try:
                outcome = await asyncio.to_thread(self.final.outcome, room_id)
            except ModelUnavailable as err:
                log.error("the final pass of room %s waits for a model: %s", room_id, err)
                return
            written = outcome is not None and await self._write(
                partial(self.final.settle, room_id, outcome))
        if written:
            await self.archive.reindex(room_id)

    # Reading

    async def export(self, caller: Account, room_id: str, fmt: Format,
                     version: int | None = None, track: Track = "spoken") -> Export:
        """A version (the archived one by default) as VTT, SRT, text or JSON: the words as
        spoken, or the English track."""
        def work() -> Export:
            retain_until, number, rows = self._readable(caller, room_id, version, track)
            content = render([to_segment(row) for row in rows], fmt)
            name = f"{room_id}-v{number}{'-en' if track == 'english' else ''}.{fmt}"
            return Export(content, MEDIA_TYPES[fmt], name, retain_until)

        return await asyncio.to_thread(work)

    async def segments(self, caller: Account, room_id: str,
                       version: int | None = None) -> SegmentsPublic:
        """A version's segments in time order, numbered as corrections refer to them."""
        def work() -> SegmentsPublic:
            _, number, rows = self._readable(caller, room_id, version)
            return SegmentsPublic(room_id=room_id, version=number, segments=[
                SegmentPublic(index=i, speaker_id=row.speaker_id, speaker=row.speaker_name,
                              start=row.start, end=row.end, text=row.text, lang=row.lang)
                for i, row in enumerate(rows)])

        return await asyncio.to_thread(work)

    def _readable(self, caller: Account, room_id: str, version: int | None,
                  track: Track = "spoken") -> tuple[datetime, int, list[TranscriptSegment]]:
        with Session(self.engine) as session:
            archived_room(session, caller, room_id)
        assert caller.id is not None, "stored accounts have ids"
        retain_until = self.retention.authorize_download(
            room_id, kind=DownloadKind.TRANSCRIPT, actor_id=caller.id, is_admin=caller.is_admin,
            now=self.clock()).retain_until
        with Session(self.engine) as session:
            transcript = records.transcript(session, room_id)
            number = transcript.current if version is None else version
            if session.get(TranscriptVersion, (room_id, number)) is None:
                raise NotFound(f"room {room_id} has no transcript version {number}")
            return retain_until, number, records.track_rows(session, room_id, number, track)

    def archived(self, room_id: str, track: Track = "spoken") -> list[Segment]:
        """The archived version (final pass or latest correction) in time order, with no access
        check: callers apply their own rule first; [] once purged. Blocking."""
        with Session(self.engine) as session:
            transcript = session.get(Transcript, room_id)
            if transcript is None or transcript.stage is Stage.PURGED:
                return []
            return [to_segment(row) for row in
                    records.track_rows(session, room_id, transcript.current, track)]

    def archived_tracks(self, room_id: str) -> list[TrackPublic]:
        """The archived version's caption tracks (none once purged), with no access check.
        Blocking."""
        with Session(self.engine) as session:
            transcript = session.get(Transcript, room_id)
            if transcript is None or transcript.stage is Stage.PURGED:
                return []
            return records.tracks(session, room_id, transcript.current)

    async def info(self, caller: Account, room_id: str) -> TranscriptPublic:
        """Where the transcript is (final pass pending or done) and its versions."""
        def work() -> TranscriptPublic:
            with Session(self.engine) as session:
                archived_room(session, caller, room_id)
                return records.public(session, records.transcript(session, room_id))

        return await asyncio.to_thread(work)

    # Corrections

    async def correct(self, caller: Account, room_id: str,
                      data: CorrectionCreate) -> TranscriptPublic:
        """A new archived version: `data.base` (the newest) with the edits applied."""
        def work() -> TranscriptPublic:
            with session_scope(self.engine) as session:
                archived_room(session, caller, room_id)
                transcript = records.transcript(session, room_id)
                if transcript.stage is Stage.PURGED:
                    raise Gone(f"the transcript of room {room_id} was deleted under the "
                               "retention policy")
                if transcript.stage is Stage.PENDING:
                    raise Conflict("the final pass has not run yet; correct its result after it")
                if data.base != transcript.current:
                    raise Conflict(f"version {data.base} is not the newest any more "
                                   f"(that is {transcript.current}); reload and edit again")
                rows = records.rows(session, room_id, data.base)
                edits = {edit.index: edit for edit in data.edits}
                if len(edits) != len(data.edits):
                    raise InvalidInput("each segment may be edited once per correction")
                if max(edits) >= len(rows):
                    raise InvalidInput(f"version {data.base} has {len(rows)} segments; "
                                       f"there is no segment {max(edits)}")
                edited = [(row, *records.edited(row, edits.get(i))) for i, row in enumerate(rows)]
                if all((text, speaker) == (row.text, row.speaker_name)
                       for row, text, speaker in edited):
                    raise InvalidInput("the edits change nothing")
                number = records.new_version(session, room_id, Source.CORRECTION, base=data.base,
                                      author_id=caller.id)
                kept = [(r, t, who) for r, t, who in edited if t]
                session.add_all(
                    TranscriptSegment(
                        room_id=room_id, version=number, position=position,
                        speaker_id=row.speaker_id, speaker_name=speaker,
                        start=row.start, end=row.end, text=text, lang=row.lang,
                        # Word timings describe the old text; the captions spread the new one.
                        words=row.words if text == row.text else [])
                    for position, (row, text, speaker) in enumerate(kept))
                records.carry_translation(session, room_id, data.base, number, len(kept))
                transcript.sqlmodel_update({"current": number, "updated_at": utcnow()})
                session.add(transcript)
                session.flush()
                return records.public(session, transcript)

        public = await self._write(work)
        await self.archive.reindex(room_id)
        return public


# Data functions (inside a session)


