"""The search index of transcript segments, and the only code that writes to it.

Whoosh allows one writer at a time (a lock file) and every write blocks, so all writes go through
one thread that owns the index: async callers enqueue an operation and await its future, and the
event loop never waits on whoosh. Consecutive operations are committed together (one commit costs
milliseconds whatever its size), except when a later one deletes what an earlier one added, which
whoosh would not see inside the same commit.

The database is the source of truth. `rebuild` replaces the whole index in one commit (searches see
the old index until then), and `reconcile` compares the index with what the database says each room
holds, deleting rooms that are gone and reindexing rooms that drifted, so a crash between a database
write and its index write leaves neither a hit pointing at nothing nor a transcript that cannot be
found. Readers (`archive.search`) take a searcher with `Index.searcher()`.

Live captions go in through `add_soon`, which holds them for up to `COMMIT_DELAY` and commits
whatever arrived meanwhile at once: a commit costs about as much for 500 segments as whoosh's
bulk path does for 2,500 (bench_archive.py), so committing each final as it came would cap how
many rooms can caption at once. A crash loses held segments from the index only; `reconcile`
restores them at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import index, query, writing
from whoosh.index import LockError
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.searching import Searcher

from roomscribe.archive.documents import SegmentDoc, document_of, epoch, layout, schema
from roomscribe.archive.reconciliation import Expectation, ExpectedRoom, Reconciliation
from roomscribe.config import Settings
from roomscribe.errors import InvalidInput

log = logging.getLogger(__name__)


# Words are stemmed ("budgets" finds "budget") and no stop words are dropped: people search
# transcripts for phrases like "to be or not to be". Names are only lower-cased. The word pattern
# is whoosh's older one: whoosh-reloaded's keeps `*` inside words, which would index "*" and make
# a typed `budget*` match nothing.


@dataclass(slots=True)
class _Op:
    """One queued write. `apply` runs on the writer thread with the batch's open writer."""

    apply: Callable[[writing.IndexWriter], Any]
    adds_rooms: frozenset[str] = frozenset()
    adds_ids: frozenset[str] = frozenset()
    deletes_rooms: frozenset[str] = frozenset()
    alone: bool = False
    """Needs a writer of its own (rebuild, reconcile): it reads the committed index or clears it."""
    clears: bool = False
    """Its commit drops every existing segment (rebuild)."""
    expunges: bool = False
    """Its commit rewrites the segments holding deleted documents without them (a purge)."""
    future: Future[Any] = field(default_factory=Future)


_STOP = object()

COMMIT_DELAY = 0.5
"""Seconds `add_soon` holds segments before they are committed (and searchable)."""


def _expunge(writer: writing.SegmentWriter, segments: list[Any]) -> list[Any]:
    """A whoosh merge policy: every segment with deleted documents is copied into the new one
    without them and dropped; the rest stay as they are. (`writing.OPTIMIZE` would rewrite the
    whole index for one room.)"""
    kept = []
    for segment in segments:
        if segment.has_deletions():
            reader = SegmentReader(writer.storage, writer.schema, segment)
            writer.add_reader(reader)
            reader.close()
        else:
            kept.append(segment)
    return kept


def _report(future: Future[Any]) -> None:
    """Log a held write that failed: nobody awaits it (reconcile at the next start repairs)."""
    if not future.cancelled() and future.exception() is not None:
        log.error("indexing live segments failed", exc_info=future.exception())


class Index:
    """The whoosh index under `path`, with its single writer thread.

    Open it once per process and `close()` it on shutdown. Another process (the `index rebuild`
    command) may write to the same folder: each side waits for whoosh's lock in turn.
    """

    def __init__(self, path: Path, *, batch_docs: int = 20_000, lock_wait: float = 5.0,
                 on_commit: Callable[[int], None] | None = None) -> None:
        """`on_commit(n)` hears of each commit of `n` queued operations, on the writer thread
        (metrics, and tests that wait for a commit)."""
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        existing = index.open_dir(str(path)) if index.exists_in(str(path)) else None
        if existing is not None and layout(existing.schema) != layout(schema()):
            # Built by another version: start empty and let reconcile refill it from the
            # database, rather than fail every search on a field that is not there.
            log.warning("index %s has an older layout; starting it afresh", path)
            existing = None
        self._ix = existing if existing is not None else index.create_in(str(path), schema())
        self._batch_docs = batch_docs
        self._lock_wait = lock_wait
        self._on_commit = on_commit
        self._queue: queue.Queue[_Op | object] = queue.Queue()
        self._closed = False
        self._local = threading.local()
        self._searchers: list[Searcher] = []
        self._searchers_lock = threading.Lock()
        self._held: dict[str, dict[str, Any]] = {}
        """Rows from `add_soon` not yet submitted, by segment id (event loop only)."""
        self._timer: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._run, name="roomscribe-index-writer",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: Settings) -> Index:
        return cls(settings.data_dir / "index")

    # Writes (async for services, blocking for commands)

    async def add(self, docs: Iterable[SegmentDoc]) -> int:
        """Index segments, replacing any with the same segment id. Returns how many, once they
        are committed."""
        op = self._add_op(list(docs))
        self._release()
        return int(await asyncio.wrap_future(self._submit(op)))

    def add_soon(self, docs: Iterable[SegmentDoc]) -> None:
        """Index segments within `COMMIT_DELAY`, replacing any with the same segment id, in one
        commit with whatever else is added meanwhile; returns at once (on the event loop)."""
        for doc in docs:
            row = document_of(doc)  # invalid input fails here, in the caller
            self._held[row["seg_id"]] = row
        if self._timer is None and self._held:
            self._timer = asyncio.get_running_loop().call_later(COMMIT_DELAY, self._release)

    async def flush(self) -> None:
        """Commit what `add_soon` holds now; returns once it is searchable."""
        future = self._release()
        if future is not None:
            await asyncio.wrap_future(future)

    def _release(self, *, superseded: str | None = None) -> Future[Any] | None:
        """Submit the held rows, before any write submitted after this; rows of the room
        `superseded` are dropped instead (that write replaces or deletes them)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rows = [r for r in self._held.values() if r["room_id"] != superseded]
        self._held.clear()
        if not rows or self._closed:
            return None
        future = self._submit(self._rows_op(rows))
        future.add_done_callback(_report)
        return future

    async def delete_room(self, room_id: str) -> None:
        """Remove every segment of a room (its room ended in deletion or expiry)."""
        self._release(superseded=room_id)
        await asyncio.wrap_future(self._submit(self._delete_op(room_id)))

    def purge_room(self, room_id: str) -> None:
        """Remove every segment of a room and rewrite the files that held them, so its words
        leave the disk (whoosh only marks a deleted document until its segment is merged).
        Blocks: call it from a worker thread, as retention purges are."""
        op = self._delete_op(room_id)
        op.alone = op.expunges = True
        self._submit(op).result()

    async def replace_room(self, room_id: str, docs: Iterable[SegmentDoc]) -> int:
        """Swap all of a room's segments at once (final pass, new title or visibility)."""
        op = self._replace_op(room_id, list(docs))
        self._release(superseded=room_id)
        return int(await asyncio.wrap_future(self._submit(op)))

    async def reconcile(
        self,
        expected: Mapping[str, Expectation],
        load: Callable[[str], Iterable[SegmentDoc]],
    ) -> Reconciliation:
        """Make the index agree with the database: `expected` is every room that should be in it.

        `load(room_id)` returns a room's segments from the database; it is called, on the writer
        thread, only for rooms that need reindexing.
        """
        op = _Op(apply=lambda w: self._reconcile(w, expected, load), alone=True)
        self._release()
        result: Reconciliation = await asyncio.wrap_future(self._submit(op))
        return result

    def rebuild(self, docs: Iterable[SegmentDoc]) -> int:
        """Replace the whole index with `docs` in one commit; returns how many. Blocks.

        `docs` is consumed on the writer thread (a database cursor it reads from must allow
        that); writes queued meanwhile wait, then apply on top of the rebuilt index.
        """
        def apply(writer: writing.IndexWriter) -> int:
            count = 0
            for doc in docs:
                writer.add_document(**document_of(doc))
                count += 1
            return count

        return int(self._submit(_Op(apply=apply, alone=True, clears=True)).result())

    def _add_op(self, docs: list[SegmentDoc]) -> _Op:
        # Invalid input fails here, in the caller, not the batch.
        return self._rows_op([document_of(d) for d in docs])

    def _rows_op(self, rows: list[dict[str, Any]]) -> _Op:
        def apply(writer: writing.IndexWriter) -> int:
            # One query finds every older copy; whoosh's `update_document` opens a searcher for
            # each document.
            latest = {row["seg_id"]: row for row in rows}
            writer.delete_by_query(query.Or([query.Term("seg_id", k) for k in latest]))
            for row in latest.values():
                writer.add_document(**row)
            return len(rows)

        return _Op(apply=apply, adds_rooms=frozenset(r["room_id"] for r in rows),
                   adds_ids=frozenset(r["seg_id"] for r in rows))

    def _delete_op(self, room_id: str) -> _Op:
        def apply(writer: writing.IndexWriter) -> None:
            writer.delete_by_term("room_id", room_id)

        return _Op(apply=apply, deletes_rooms=frozenset({room_id}))

    def _replace_op(self, room_id: str, docs: list[SegmentDoc]) -> _Op:
        rows = [document_of(d) for d in docs]
        if any(r["room_id"] != room_id for r in rows):
            raise InvalidInput(f"replace_room({room_id!r}) was given another room's segments")

        def apply(writer: writing.IndexWriter) -> int:
            writer.delete_by_term("room_id", room_id)
            for row in rows:
                writer.add_document(**row)
            return len(rows)

        return _Op(apply=apply, adds_rooms=frozenset({room_id}),
                   adds_ids=frozenset(r["seg_id"] for r in rows),
                   deletes_rooms=frozenset({room_id}))

    def _submit(self, op: _Op) -> Future[Any]:
        if self._closed:
            raise RuntimeError("the index is closed")
        self._queue.put(op)
        return op.future

    # The writer thread

    def _run(self) -> None:
        carried: object | None = None
        while True:
            item = carried if carried is not None else self._queue.get()
            carried = None
            if not isinstance(item, _Op):
                return  # _STOP, queued by close() behind every earlier write
            batch = [item]
            if not item.alone:
                carried = self._gather(batch)
            self._commit(batch)

    def _gather(self, batch: list[_Op]) -> object | None:
        """Add what else is queued to `batch`; return the first item that must wait its turn."""
        rooms = set(batch[0].adds_rooms)
        ids = set(batch[0].adds_ids)
        while len(ids) < self._batch_docs:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return None
            if (not isinstance(nxt, _Op) or nxt.alone
                    or nxt.deletes_rooms & rooms or nxt.adds_ids & ids):
                return nxt
            batch.append(nxt)
            rooms |= nxt.adds_rooms
            ids |= nxt.adds_ids
        return None

    def _writer(self) -> writing.IndexWriter:
        """Wait for whoosh's lock as long as it takes: another process may be rebuilding."""
        while True:
            try:
                return self._ix.writer(timeout=self._lock_wait)
            except LockError:
                log.warning("index %s is locked by another writer; waiting", self.path)

    def _commit(self, batch: list[_Op]) -> None:
        live = [op for op in batch if op.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            writer = self._writer()
        except Exception as err:  # the index folder itself is broken: every op fails alike
            for op in live:
                op.future.set_exception(err)
            return
        results: list[Any] = []
        try:
            for op in live:
                results.append(op.apply(writer))
            self._finish(writer, live)
        except Exception as err:
            writer.cancel()
            if len(live) == 1:
                live[0].future.set_exception(err)
                return
            # One op spoiled the shared commit; redo each alone so only it fails.
            for op in live:
                self._commit_one(op)
            return
        for op, result in zip(live, results, strict=True):
            op.future.set_result(result)

    def _finish(self, writer: writing.IndexWriter, ops: list[_Op]) -> None:
        if any(op.clears for op in ops):
            writer.commit(mergetype=writing.CLEAR)
        elif any(op.expunges for op in ops):
            writer.commit(mergetype=_expunge)
        else:
            writer.commit()
        if self._on_commit is not None:
            self._on_commit(len(ops))

    def _commit_one(self, op: _Op) -> None:
        writer = self._writer()
        try:
            result = op.apply(writer)
            self._finish(writer, [op])
        except Exception as err:
            writer.cancel()
            op.future.set_exception(err)
        else:
            op.future.set_result(result)

    def _reconcile(
        self,
        writer: writing.IndexWriter,
        expected: Mapping[str, Expectation],
        load: Callable[[str], Iterable[SegmentDoc]],
    ) -> Reconciliation:
        removed: list[str] = []
        reindexed: list[str] = []
        with self._ix.searcher() as searcher:
            present = {term.decode() for term in searcher.lexicon("room_id")}
            for room_id in sorted(present - set(expected)):
                if self._room_docnums(searcher, room_id):
                    removed.append(room_id)
                    writer.delete_by_term("room_id", room_id)
            for room_id in sorted(expected):
                if not self._room_matches(searcher, room_id, expected[room_id]):
                    reindexed.append(room_id)
                    writer.delete_by_term("room_id", room_id)
                    for doc in load(room_id):
                        if doc.room_id != room_id:
                            raise InvalidInput(f"load({room_id!r}) returned room {doc.room_id!r}")
                        writer.add_document(**document_of(doc))
        if removed or reindexed:
            log.info("index reconciled: %d rooms removed, %d reindexed", len(removed),
                     len(reindexed))
        return Reconciliation(removed=tuple(removed), reindexed=tuple(reindexed))

    @staticmethod
    def _room_docnums(searcher: Searcher, room_id: str) -> list[int]:
        # Postings skip deleted documents, which the lexicon and doc_frequency still count.
        try:
            return list(searcher.postings("room_id", room_id).all_ids())
        except TermNotFound:
            return []

    def _room_matches(self, searcher: Searcher, room_id: str, want: Expectation) -> bool:
        docnums = self._room_docnums(searcher, room_id)
        segments = want.segments if isinstance(want, ExpectedRoom) else want
        count = segments if isinstance(segments, int) else len(segments)
        if len(docnums) != count:
            return False
        if count == 0:
            return True
        if isinstance(want, ExpectedRoom):
            stored = searcher.stored_fields(docnums[0])
            facts = (stored["room_title"], tuple(stored["room_facts"]))
            if facts != (want.title, (epoch(want.date), want.visibility.value, want.host_id or "")):
                return False
        if isinstance(segments, int):
            return True
        return {searcher.stored_fields(n)["seg_id"] for n in docnums} == set(segments)

    # Reading

    @contextlib.contextmanager
    def searcher(self) -> Iterator[Searcher]:
        """A searcher on the latest commit, kept per thread and replaced when the index changes.

        Replaced, not `refresh()`ed: whoosh's refresh reuses the reader of any segment whose id
        is unchanged, with the deletions it had then, so deleted segments would still be found.
        """
        current: Searcher | None = getattr(self._local, "searcher", None)
        if current is None or current.reader().generation() != self._ix.latest_generation():
            fresh = self._ix.searcher()
            with self._searchers_lock:
                if current is not None:
                    self._searchers.remove(current)
                    current.close()
                self._searchers.append(fresh)
            current = self._local.searcher = fresh
        yield current

    def doc_count(self) -> int:
        with self.searcher() as searcher:
            return int(searcher.doc_count())

    def close(self, timeout: float = 60.0) -> None:
        """Finish queued writes, stop the writer thread, close searchers."""
        if self._closed:
            return
        self._release()
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        with self._searchers_lock:
            for searcher in self._searchers:
                searcher.close()
            self._searchers.clear()
        self._ix.close()

