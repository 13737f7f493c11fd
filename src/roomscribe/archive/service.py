"""The archive: the search index kept in step with the transcripts in the database, and searched.

The database is the source of truth; the index holds each recorded room's archived transcript
version (`Transcript.current`) with the room's title, date, visibility and host. This is the only
code that asks `archive.index.Index` (itself the only whoosh writer) to write:

- live finals are added as they are saved; a new version (the final pass, a correction) replaces
  the room's segments; a change of title or visibility reindexes the room. Writes to one room take
  turns and read the room inside their turn, so a live final indexed while the host makes the room
  private can never land after the reindex with the old visibility;
- `reconcile` at start makes the index agree with the database after whatever a crash left
  between the two, and `rebuild` (`roomscribe index rebuild`) writes it afresh.

`search` runs the query as the asker, then confirms each hit's room against the database (so the
moment between a visibility change committing and its reindex never shows a room more widely than
its host allows) and moves each hit's `start` to the first word that matched, so replaying from it
lands on what was searched for rather than at the start of the sentence.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from weakref import WeakValueDictionary

from sqlalchemy import Engine, and_, func, or_, update
from sqlmodel import Session, col, select
from whoosh import query

from roomscribe.accounts.tables import Account
from roomscribe.archive.analysis import analyzer, terms
from roomscribe.archive.audience import ANONYMOUS, Asker
from roomscribe.archive.documents import SegmentDoc
from roomscribe.archive.index import Index
from roomscribe.archive.query_language import parse_query
from roomscribe.archive.reconciliation import ExpectedRoom, Reconciliation
from roomscribe.archive.replication import Change, NoReplication, Replication
from roomscribe.archive.search import Order, SearchHit, SearchPage
from roomscribe.archive.search import search as search_index
from roomscribe.config import Settings
from roomscribe.ratelimit import RateLimiter
from roomscribe.rooms.tables import Room
from roomscribe.transcripts.tables import LIVE_VERSION, Stage, Transcript, TranscriptSegment
from roomscribe.visibility import may_see


def segment_id(room_id: str, version: int, position: int) -> str:
    """A segment's id in the index: room ids never contain `/`."""
    return f"{room_id}/{version}/{position}"


def to_doc(room: Room, row: TranscriptSegment) -> SegmentDoc:
    return SegmentDoc(
        segment_id=segment_id(row.room_id, row.version, row.position), room_id=row.room_id,
        room_title=room.title, room_date=room.started_at or room.created_at,
        visibility=room.visibility, host_id=str(room.host_id), speaker=row.speaker_name,
        start=row.start, end=row.end, text=row.text, lang=row.lang, translated=row.translated)


def room_docs(session: Session, room_id: str) -> tuple[list[SegmentDoc], int | None]:
    """The docs a room should have in the index, and the version they are; None: no transcript."""
    room = session.get(Room, room_id)
    transcript = session.get(Transcript, room_id)
    if room is None or transcript is None or transcript.stage is Stage.PURGED:
        return [], None
    rows = session.exec(select(TranscriptSegment).where(
        TranscriptSegment.room_id == room_id, TranscriptSegment.version == transcript.current)
        .order_by(col(TranscriptSegment.position))).all()
    return [to_doc(room, row) for row in rows], transcript.current


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """Searches allowed (see `config.Settings.search_limit` and `anonymous_search_limit`)."""

    signed_in: str = "60/minute"
    anonymous: str = "20/minute"

    @classmethod
    def from_settings(cls, settings: Settings) -> SearchLimits:
        return cls(signed_in=settings.search_limit, anonymous=settings.anonymous_search_limit)


class ArchiveService:
    """See the module docstring. Async methods on the event loop; `rebuild` blocks."""

    def __init__(self, engine: Engine, index: Index, *, limiter: RateLimiter | None = None,
                 limits: SearchLimits | None = None,
                 replication: Replication | None = None) -> None:
        self.engine = engine
        self.index = index
        self.replication: Replication = replication or NoReplication()
        """Other processes' copies of the index, told of each write made here."""
        self.limiter = limiter or RateLimiter()
        self.limits = limits or SearchLimits()
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> ArchiveService:
        return cls(engine, Index.from_settings(settings))

    @asynccontextmanager
    async def _turn(self, room_id: str) -> AsyncIterator[None]:
        lock = self._locks.get(room_id)
        if lock is None:
            lock = self._locks[room_id] = asyncio.Lock()
        async with lock:
            yield

    # Writing

    async def add_live(self, room_id: str, rows: Sequence[TranscriptSegment], *,
                       announce: bool = True) -> None:
        """Index live finals just saved, unless a later version is archived by now. They are
        searchable within `index.COMMIT_DELAY`, committed with other rooms' finals."""
        def load() -> Room | None:
            with Session(self.engine) as session:
                transcript = session.get(Transcript, room_id)
                live = transcript is not None and transcript.current == LIVE_VERSION
                return session.get(Room, room_id) if live else None

        async with self._turn(room_id):
            room = await asyncio.to_thread(load)
            if room is not None:
                self.index.add_soon(to_doc(room, row) for row in rows)
        if announce:
            await self.replication.announce("live", room_id, [row.position for row in rows])

    async def reindex(self, room_id: str, *, announce: bool = True) -> None:
        """Replace the room's segments with its archived version, as the database has it now."""
        def load() -> tuple[list[SegmentDoc], int | None]:
            with Session(self.engine) as session:
                return room_docs(session, room_id)

        async with self._turn(room_id):
            docs, version = await asyncio.to_thread(load)
            await self.index.replace_room(room_id, docs)
            if version is not None:
                await asyncio.to_thread(self._mark_indexed, room_id, version)
        if announce:
            await self.replication.announce("room", room_id)

    async def delete_room(self, room_id: str, *, announce: bool = True) -> None:
        async with self._turn(room_id):
            await self.index.delete_room(room_id)
        if announce:
            await self.replication.announce("delete", room_id)

    async def apply(self, change: Change) -> None:
        """Make another process's write to its copy of the index (`archive.replication`)."""
        if change.op == "live":
            def rows() -> list[TranscriptSegment]:
                with Session(self.engine) as session:
                    return list(session.exec(select(TranscriptSegment).where(
                        TranscriptSegment.room_id == change.room,
                        TranscriptSegment.version == LIVE_VERSION,
                        col(TranscriptSegment.position).in_(change.positions))).all())

            await self.add_live(change.room, await asyncio.to_thread(rows), announce=False)
        elif change.op == "room":
            await self.reindex(change.room, announce=False)
        elif change.op == "delete":
            await self.delete_room(change.room, announce=False)
        else:
            async with self._turn(change.room):
                await asyncio.to_thread(self.index.purge_room, change.room)

    def _mark_indexed(self, room_id: str | None, version: int | None = None) -> None:
        """Record that the index holds `version` of the room (or, with no room, every room's
        current version)."""
        stmt = update(Transcript).values(indexed=Transcript.current)
        if room_id is not None:
            stmt = stmt.where(col(Transcript.room_id) == room_id,
                              col(Transcript.current) == version)
        with Session(self.engine) as session:
            session.exec(stmt.execution_options(synchronize_session=False))
            session.commit()

    # The rooms' RoomObserver

    async def room_ended(self, room: Room) -> None:
        return None  # its finals are indexed already; the final pass reindexes it

    async def room_changed(self, room: Room) -> None:
        if room.record:
            await self.reindex(room.id)

    # Agreeing with the database

    def expected(self) -> tuple[dict[str, ExpectedRoom], dict[str, int]]:
        """What the database says the index should hold, room by room. Rooms whose index write
        may not have committed (`indexed` behind `current`) are compared segment by segment,
        the rest by count; those are returned too, with the version expected of them. When
        other processes keep copies too, `indexed` speaks for whichever wrote last, so every
        room is compared segment by segment."""
        with Session(self.engine) as session:
            rows = session.exec(select(Transcript, Room)
                                .join(Room, col(Room.id) == col(Transcript.room_id))
                                .where(Transcript.stage != Stage.PURGED)).all()
            counts: dict[tuple[str, int], int] = {
                (room_id, version): n for room_id, version, n in session.exec(
                    select(TranscriptSegment.room_id, TranscriptSegment.version, func.count())
                    .group_by(col(TranscriptSegment.room_id), col(TranscriptSegment.version)))}
            expected: dict[str, ExpectedRoom] = {}
            lagging: dict[str, int] = {}
            for transcript, room in rows:
                segments: int | set[str] = counts.get((room.id, transcript.current), 0)
                if transcript.indexed != transcript.current or self.replication.shared:
                    lagging[room.id] = transcript.current
                    segments = {segment_id(room.id, transcript.current, position)
                                for position in session.exec(
                                    select(TranscriptSegment.position).where(
                                        TranscriptSegment.room_id == room.id,
                                        TranscriptSegment.version == transcript.current))}
                expected[room.id] = ExpectedRoom(
                    segments=segments, title=room.title, visibility=room.visibility,
                    host_id=str(room.host_id), date=room.started_at or room.created_at)
        return expected, lagging

    def _load(self, room_id: str) -> list[SegmentDoc]:
        with Session(self.engine) as session:
            return room_docs(session, room_id)[0]

    async def reconcile(self) -> Reconciliation:
        """Make the index agree with the database (at start, before anything else writes)."""
        expected, lagging = await asyncio.to_thread(self.expected)
        result = await self.index.reconcile(expected, self._load)
        for room_id, version in lagging.items():
            await asyncio.to_thread(self._mark_indexed, room_id, version)
        return result

    def rebuild(self) -> int:
        """Write the whole index afresh from the database, in one commit. Blocking."""
        with Session(self.engine) as session:
            room_ids = list(session.exec(select(Transcript.room_id).where(
                Transcript.stage != Stage.PURGED)).all())

        def docs() -> Iterator[SegmentDoc]:
            for room_id in room_ids:
                yield from self._load(room_id)

        count = self.index.rebuild(docs())
        self._mark_indexed(None)
        return count

    # Searching

    async def search(self, viewer: Account | None, text: str, *, page: int = 1,
                     per_page: int = 20, order: Order = Order.NEWEST,
                     client: str | None = None) -> SearchPage:
        """A page of hits `viewer` may see (None: anonymous); malformed queries are
        `InvalidInput` with the reason. Limited per account, and per `client` address for
        anonymous callers (more tightly: they cost the same and answer to nobody)."""
        if viewer is not None:
            self.limiter.hit(self.limits.signed_in, "search", str(viewer.id), what="searches")
        elif client is not None:
            self.limiter.hit(self.limits.anonymous, "search-anonymous", client,
                             what="searches from here; sign in to search more")
        asker = ANONYMOUS if viewer is None else Asker(user_id=str(viewer.id),
                                                       admin=viewer.is_admin)
        parsed = parse_query(text)
        found = await search_index(self.index, parsed, asker=asker, page=page, per_page=per_page,
                                   order=order)
        if not found.hits:
            return found
        hits = await asyncio.to_thread(self._confirm, found.hits, viewer, parsed)
        return dataclasses.replace(found, hits=hits)

    def _confirm(self, hits: Sequence[SearchHit], viewer: Account | None,
                 parsed: query.Query) -> tuple[SearchHit, ...]:
        room_ids = {hit.room_id for hit in hits}
        near = or_(*(and_(col(TranscriptSegment.room_id) == hit.room_id,
                          col(TranscriptSegment.start).between(hit.start - 0.001,
                                                               hit.start + 0.001))
                     for hit in hits))
        with Session(self.engine) as session:
            rooms = {room.id: room for room in session.exec(
                select(Room).where(col(Room.id).in_(room_ids)))}
            rows = session.exec(select(TranscriptSegment)
                                .join(Transcript, and_(
                                    col(Transcript.room_id) == col(TranscriptSegment.room_id),
                                    col(Transcript.current) == col(TranscriptSegment.version)))
                                .where(near)).all()
        # Hits carry their times in whole milliseconds, as the index stores them.
        words = {(row.room_id, round(row.start * 1000), row.text): row.words for row in rows}
        wanted = list(_sequences(parsed))
        confirmed = []
        for hit in hits:
            room = rooms.get(hit.room_id)
            if room is None or not may_see(room.visibility, room.host_id, viewer):
                continue
            said = words.get((hit.room_id, round(hit.start * 1000), hit.text), [])
            at = _first_match(said, wanted, hit.lang)
            confirmed.append(hit if at is None else dataclasses.replace(hit, start=at))
        return tuple(confirmed)


def _sequences(q: query.Query) -> Iterable[tuple[str, ...]]:
    """The words or phrases of transcript text a hit contains (never under a NOT), as parsed:
    not yet analysed in any language."""
    if isinstance(q, query.Not):
        return
    if isinstance(q, query.Phrase) and q.fieldname == "text":
        yield tuple(q.words)
    elif isinstance(q, query.Term) and q.fieldname == "text":
        yield (q.text,)
    elif not q.is_leaf():
        for child in q.children():
            yield from _sequences(child)


def _first_match(words: Sequence[dict[str, Any]], wanted: Sequence[tuple[str, ...]],
                 lang: str) -> float | None:
    """Start of the first word where any of `wanted` begins, both analysed in `lang`; None if
    the words do not say."""
    tokens = [(i, token.text) for i, word in enumerate(words)
              for token in analyzer(lang)(str(word.get("text", "")))]
    texts = [text for _, text in tokens]
    sought = [found for found in (tuple(t for w in seq for t in terms(w, lang)) for seq in wanted)
              if found]
    for k in range(len(tokens)):
        if any(tuple(texts[k:k + len(seq)]) == seq for seq in sought):
            return float(words[tokens[k][0]]["start"])
    return None


class IndexPurger:
    """Retention's purger for the search index: the room's segments, through the one writer,
    and in every other process's copy (`archive.replication`)."""

    def __init__(self, index: Index, replication: Replication | None = None) -> None:
        self.index = index
        self.replication = replication or NoReplication()

    def purge(self, room_id: str) -> int:
        self.index.purge_room(room_id)
        self.replication.announce_blocking("purge", room_id)
        return 0
