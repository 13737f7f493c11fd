"""The archive pages: search across recorded rooms, and a room's replay with its transcript.

Who may replay. Issue 5 keeps the recording and transcript *downloads*
(`/api/v1/rooms/{id}/recording`, `/transcript`) to a room's host and admins, audited; yet a
searcher is meant to jump from a hit to that moment. So the replay page and its two media routes
(`/r/{id}/replay/audio`, `/r/{id}/replay/captions.vtt`) admit exactly whom search admits for the
room (`archive.service.may_see`: public rooms anyone, members' rooms anyone signed in, private
rooms their host and admins): whoever can find a line can hear it and read its captions here. They
are not downloads (no attachment, `no-store`), so they are not in the download audit log; both
stop, like downloads, when the retention policy does, and the page then says when the recording was
deleted. A room the viewer may not see is "not found", like one that does not exist.

Search hits carry `highlight`, HTML that `archive.search` builds by escaping the spoken text and
wrapping matched words in `<mark>`; it is marked safe here, and only here, on that contract.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.response import Stream, Template
from markupsafe import Markup
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from roomscribe.accounts.tables import Account
from roomscribe.archive.index import Visibility
from roomscribe.archive.search import Order, SearchHit, SearchPage
from roomscribe.archive.service import ArchiveService, may_see
from roomscribe.captions.formats import render as render_captions
from roomscribe.errors import Conflict, Gone, InvalidInput, NotAuthenticated, NotFound
from roomscribe.recordings.routes import _stream as stream_mix
from roomscribe.recordings.service import MixBody, RecordingService, byte_range
from roomscribe.recordings.tables import Recording, RecordingState
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.tables import Room, RoomState
from roomscribe.transcripts.service import MEDIA_TYPES, to_segment
from roomscribe.transcripts.tables import Stage, Transcript, TranscriptSegment
from roomscribe.web.responses import render, sentence
from roomscribe.web.retention import Kept, kept

REPLAY = "/r/{room_id:str}/replay"
PER_PAGE = 20


def clock(seconds: float) -> str:
    """A position in a recording as people read it: 4:05, or 1:02:05 past the hour."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Search --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hit:
    hit: SearchHit
    href: str
    at: str
    highlight: Markup


@dataclass(frozen=True, slots=True)
class SearchView:
    q: str
    order: Order
    error: str | None = None
    found: SearchPage | None = None
    hits: tuple[Hit, ...] = ()

    def page_href(self, page: int) -> str:
        return "/search?" + urlencode({"q": self.q, "order": self.order.value, "page": page})


def to_hit(hit: SearchHit) -> Hit:
    # Safe by `SearchHit.highlight`'s contract: archive.search escapes the text itself.
    return Hit(hit, f"/r/{hit.room_id}/replay?t={hit.start:.2f}", clock(hit.start),
               Markup(hit.highlight))


async def search_view(archive: ArchiveService, viewer: Account | None, q: str, page: int,
                      order: Order) -> SearchView:
    """The form, and a page of hits once there is a query; a malformed one says why."""
    q = q.strip()
    if not q:
        return SearchView(q, order)
    try:
        found = await archive.search(viewer, q, page=page, per_page=PER_PAGE, order=order)
    except InvalidInput as err:
        return SearchView(q, order, error=sentence(str(err)))
    return SearchView(q, order, found=found, hits=tuple(to_hit(hit) for hit in found.hits))


# Replay --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Line:
    start: float
    end: float
    at: str
    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class Replay:
    room: Room
    recording: Recording | None
    rows: tuple[TranscriptSegment, ...]
    """The archived transcript, while the retention policy keeps it."""
    kept: Kept

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(Line(row.start, row.end, clock(row.start), row.speaker_name, row.text)
                     for row in self.rows)

    @property
    def deleted_on(self) -> datetime | None:
        """When the retention purge removed the recording, once it has."""
        return self.kept.row.purged_at if self.kept.purged and self.kept.row else None

    @property
    def retained(self) -> bool:
        """The retention policy still keeps the recording and transcript available."""
        return self.kept.available

    @property
    def playable(self) -> bool:
        return (self.retained and self.recording is not None
                and self.recording.state is RecordingState.READY and self.recording.key is not None)

    @property
    def preparing(self) -> bool:
        return self.recording is None or self.recording.state in (RecordingState.PENDING,
                                                                  RecordingState.FAILED)


def replayable(session: Session, viewer: Account | None, room_id: str) -> Room:
    """The ended, recorded room `viewer` may find in search; anything else is refused."""
    room = session.get(Room, room_id)
    if room is not None and viewer is None and room.visibility is Visibility.MEMBERS:
        raise NotAuthenticated("sign in to replay this room")
    # A private room is as unknown to those it is hidden from as a room that does not exist.
    if room is None or not room.record or not may_see(room, viewer):
        raise NotFound(f"there is no recorded room {room_id!r} you may replay")
    if room.state is not RoomState.ENDED:
        raise Conflict("this room has not ended yet; its replay is ready after it ends")
    return room


def _lines(session: Session, room_id: str) -> list[TranscriptSegment]:
    transcript = session.get(Transcript, room_id)
    if transcript is None or transcript.stage is Stage.PURGED:
        return []
    return list(session.exec(select(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == transcript.current)
        .order_by(col(TranscriptSegment.start), col(TranscriptSegment.position))).all())


def load_replay(engine: Engine, retention: RetentionService, viewer: Account | None,
                room_id: str, now: datetime, *, transcript: bool = True) -> Replay:
    """Everything the replay page shows (without the transcript's rows, for the audio, which
    the player asks for in many small ranges). Blocking."""
    with Session(engine) as session:
        room = replayable(session, viewer, room_id)
        recording = session.get(Recording, room_id)
        rows = _lines(session, room_id) if transcript else []
    kept_now = kept(retention, room_id, now)
    return Replay(room, recording, tuple(rows) if kept_now.available else (), kept_now)


def _retained(replay: Replay) -> None:
    if not replay.retained:
        raise Gone("the recording and transcript of this room are no longer kept")


def open_audio(engine: Engine, retention: RetentionService, recordings: RecordingService,
               viewer: Account | None, room_id: str, now: datetime,
               range_header: str | None) -> MixBody:
    """The room's mix for a replay, whole or the one range asked for. Blocking."""
    replay = load_replay(engine, retention, viewer, room_id, now, transcript=False)
    _retained(replay)
    if replay.preparing:
        raise Conflict("the recording is being prepared; try again in a minute")
    if not replay.playable or replay.recording is None or replay.recording.key is None:
        raise NotFound("no audio was recorded in this room")
    key = replay.recording.key
    size = recordings.storage.size(key)
    wanted = byte_range(range_header, size)
    start, end = wanted or (0, size)
    return MixBody(recordings.storage.stream(key, start, end), start, end, size,
                   partial=wanted is not None)


def captions_vtt(engine: Engine, retention: RetentionService, viewer: Account | None,
                 room_id: str, now: datetime) -> str:
    """The archived transcript as WebVTT, for the player's captions track. Blocking."""
    replay = load_replay(engine, retention, viewer, room_id, now)
    _retained(replay)
    return render_captions([to_segment(row) for row in replay.rows], "vtt")


class ArchivePageController(Controller):
    include_in_schema = False

    @get("/search")
    async def search(self, page_viewer: NamedDependency[Account | None],
                     archive: NamedDependency[ArchiveService], q: FromQuery[str] = "",
                     page: FromQuery[int] = 1, order: FromQuery[Order] = Order.NEWEST) -> Template:
        """Search every room the viewer may see; a malformed query is 400 with the reason."""
        view = await search_view(archive, page_viewer, q, page, order)
        return render("search.html", page_viewer, status=400 if view.error else 200,
                      view=view, orders=ORDER_NAMES)

    @get(REPLAY)
    async def replay(self, room_id: FromPath[str], page_viewer: NamedDependency[Account | None],
                     archive: NamedDependency[ArchiveService],
                     retention: NamedDependency[RetentionService], now: NamedDependency[datetime],
                     t: FromQuery[float] = 0.0) -> Template:
        """The recording with its captions, and the transcript beside it; `?t=` starts there."""
        replay = await asyncio.to_thread(load_replay, archive.engine, retention, page_viewer,
                                         room_id, now)
        start = max(0.0, t)
        return render("replay.html", page_viewer, replay=replay, start=start,
                      start_at=clock(start))

    @get(REPLAY + "/audio", media_type="audio/ogg")
    async def audio(
        self, room_id: FromPath[str], page_viewer: NamedDependency[Account | None],
        archive: NamedDependency[ArchiveService], retention: NamedDependency[RetentionService],
        recordings: NamedDependency[RecordingService], now: NamedDependency[datetime],
        byte_range: Annotated[str | None, HeaderParameter(name="range")] = None,
    ) -> Stream:
        """The replay's audio, with range requests so the player can seek."""
        return stream_mix(await asyncio.to_thread(open_audio, archive.engine, retention,
                                                  recordings, page_viewer, room_id, now,
                                                  byte_range))

    @get(REPLAY + "/captions.vtt")
    async def captions(self, room_id: FromPath[str], page_viewer: NamedDependency[Account | None],
                       archive: NamedDependency[ArchiveService],
                       retention: NamedDependency[RetentionService],
                       now: NamedDependency[datetime]) -> Response[str]:
        """The replay's captions track."""
        return Response(await asyncio.to_thread(captions_vtt, archive.engine, retention,
                                                page_viewer, room_id, now),
                        media_type=MEDIA_TYPES["vtt"],
                        headers={"Cache-Control": "private, no-store"})


ORDER_NAMES: dict[Order, str] = {Order.NEWEST: "Newest rooms first",
                                 Order.RELEVANCE: "Best match first"}
