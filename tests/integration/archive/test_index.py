"""The index's one writer on a real whoosh folder: adds, deletes, rebuilds and reconciliation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from whoosh import fields
from whoosh import index as whoosh_index

from helpers.waiting import until
from roomscribe.archive.documents import SegmentDoc
from roomscribe.archive.index import Index
from roomscribe.archive.reconciliation import ExpectedRoom, Reconciliation
from roomscribe.config import Settings
from roomscribe.errors import InvalidInput
from roomscribe.visibility import Visibility

DATE = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)


def seg(room: str, n: int, text: str = "we talked about the budget", *,
        visibility: Visibility = Visibility.MEMBERS, title: str = "Weekly sync",
        host: str | None = "h1", date: datetime = DATE) -> SegmentDoc:
    return SegmentDoc(segment_id=f"{room}-{n}", room_id=room, room_title=title, room_date=date,
                      visibility=visibility, host_id=host, speaker="Alice", start=n * 2.0,
                      end=n * 2.0 + 1.5, text=text)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    ix = Index(tmp_path / "index")
    yield ix
    ix.close()


def room_ids(ix: Index) -> dict[str, int]:
    counts: dict[str, int] = {}
    with ix.searcher() as searcher:
        for fields in searcher.all_stored_fields():
            counts[fields["room_id"]] = counts.get(fields["room_id"], 0) + 1
    return counts


async def test_live_segments_are_held_briefly_then_committed_together(tmp_path: Path) -> None:
    commits: list[int] = []
    committed = threading.Event()

    def counted(ops: int) -> None:
        commits.append(ops)
        committed.set()

    index = Index(tmp_path / "index", on_commit=counted)
    try:
        for n in range(50):
            index.add_soon([seg(f"r{n % 5}", n)])
        index.add_soon([seg("r0", 0, "said again")])  # same id: replaced, not duplicated
        assert index.doc_count() == 0  # held, not yet committed
        assert await asyncio.to_thread(committed.wait, 5)  # by itself, within COMMIT_DELAY
        assert room_ids(index) == {f"r{k}": 10 for k in range(5)}
        assert commits == [1]  # 51 adds, one commit
        with index.searcher() as searcher:
            assert searcher.document(seg_id="r0-0")["text"] == "said again"
    finally:
        index.close()


async def test_a_write_after_held_segments_sees_them_or_supersedes_them(index: Index) -> None:
    index.add_soon([seg("live", i) for i in range(3)] + [seg("other", 0)])
    await index.replace_room("live", [seg("live", 7, "the final pass")])
    # The room's held live segments were superseded, not committed after its final version.
    assert room_ids(index) == {"live": 1, "other": 1}
    index.add_soon([seg("gone", 0), seg("kept", 0)])
    await index.delete_room("gone")
    await index.flush()
    assert room_ids(index) == {"live": 1, "other": 1, "kept": 1}
    index.add_soon([seg("kept", 1)])
    assert await index.add([seg("kept", 1, "strict")]) == 1  # the later add wins
    with index.searcher() as searcher:
        assert searcher.document(seg_id="kept-1")["text"] == "strict"


def test_held_segments_are_committed_on_close(tmp_path: Path) -> None:
    async def hold() -> Index:
        ix = Index(tmp_path / "ix")
        ix.add_soon([seg("r1", 0)])
        return ix

    asyncio.run(hold()).close()
    reopened = Index(tmp_path / "ix")
    try:
        assert room_ids(reopened) == {"r1": 1}
    finally:
        reopened.close()


def test_from_settings_keeps_the_index_in_the_data_dir(settings: Settings) -> None:
    ix = Index.from_settings(settings)
    try:
        assert ix.path == settings.data_dir / "index"
    finally:
        ix.close()


async def test_add_replace_delete(index: Index) -> None:
    assert await index.add([seg("r1", i) for i in range(3)]) == 3
    await index.add([seg("r1", 1, "changed my mind")])  # same id: replaced, not duplicated
    await index.add([seg("r2", 0)])
    assert room_ids(index) == {"r1": 3, "r2": 1}
    with index.searcher() as searcher:
        texts = sorted(f["text"] for f in searcher.all_stored_fields() if f["room_id"] == "r1")
    assert texts == ["changed my mind", "we talked about the budget", "we talked about the budget"]

    assert await index.replace_room("r1", [seg("r1", 9)]) == 1
    assert room_ids(index) == {"r1": 1, "r2": 1}
    await index.delete_room("r1")
    assert room_ids(index) == {"r2": 1}
    await index.delete_room("nothing-here")
    assert index.doc_count() == 1


async def test_bad_input_fails_its_caller_only(index: Index) -> None:
    with pytest.raises(InvalidInput):
        await index.replace_room("r1", [seg("r2", 0)])
    with pytest.raises(InvalidInput):
        await index.add([seg("", 0)])
    await index.add([seg("r1", 0)])
    assert room_ids(index) == {"r1": 1}


async def test_concurrent_writes_keep_their_order(index: Index) -> None:
    # Queued together, these could share one commit; the delete must still not see (and the
    # replace must still remove) what the adds before it wrote.
    await asyncio.gather(
        index.add([seg("r1", i) for i in range(5)]),
        index.add([seg("r2", i) for i in range(5)]),
        index.delete_room("r1"),
        index.add([seg("r3", 0)]),
        index.replace_room("r2", [seg("r2", 7)]),
        index.add([seg("r1", 8)]),
        index.add([seg("r3", 0, "same id again")]),
    )
    assert room_ids(index) == {"r1": 1, "r2": 1, "r3": 1}
    with index.searcher() as searcher:
        r3 = [f["text"] for f in searcher.all_stored_fields() if f["room_id"] == "r3"]
    assert r3 == ["same id again"]


async def test_writes_never_block_the_event_loop(index: Index) -> None:
    docs = [seg(f"r{i // 200}", i, "word " * 30) for i in range(1500)]
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await index.add(docs)
    took = time.perf_counter() - started
    tick.cancel()
    # The loop kept turning the whole time whoosh worked (a blocked loop gives one long gap).
    assert took > 0.2
    assert len(gaps) > took / 0.05
    assert max(gaps) < took / 2


def test_rebuild_replaces_everything_in_one_commit(index: Index, tmp_path: Path) -> None:
    asyncio.run(index.add([seg("old", i) for i in range(4)]))
    assert index.rebuild(seg(f"r{i % 3}", i) for i in range(30)) == 30
    assert room_ids(index) == {"r0": 10, "r1": 10, "r2": 10}
    index.close()
    reopened = Index(tmp_path / "index")
    try:
        assert reopened.doc_count() == 30
    finally:
        reopened.close()


async def test_reconcile_repairs_drift_both_ways(index: Index) -> None:
    database = {
        "kept": [seg("kept", i) for i in range(3)],
        "missing-doc": [seg("missing-doc", i) for i in range(3)],
        "never-indexed": [seg("never-indexed", 0)],
        "made-private": [seg("made-private", 0, visibility=Visibility.PRIVATE)],
        "wrong-ids": [seg("wrong-ids", 5)],
        "empty": [],
    }
    await index.add(database["kept"])
    await index.add(database["missing-doc"][:2])  # crashed before the third was indexed
    await index.add([seg("orphan", 0), seg("orphan", 1)])  # the room was deleted, not its index
    await index.add([seg("made-private", 0, visibility=Visibility.PUBLIC)])  # crashed mid-change
    await index.add([seg("wrong-ids", 6)])
    loaded: list[str] = []

    def load(room_id: str) -> list[SegmentDoc]:
        loaded.append(room_id)
        return database[room_id]

    expected = {
        "kept": 3,
        "missing-doc": 3,
        "never-indexed": 1,
        "made-private": ExpectedRoom(1, "Weekly sync", Visibility.PRIVATE, "h1", DATE),
        "wrong-ids": {"wrong-ids-5"},
        "empty": 0,
    }
    report = await index.reconcile(expected, load)
    assert report == Reconciliation(
        removed=("orphan",),
        reindexed=("made-private", "missing-doc", "never-indexed", "wrong-ids"))
    assert sorted(loaded) == list(report.reindexed)
    assert room_ids(index) == {"kept": 3, "missing-doc": 3, "never-indexed": 1,
                               "made-private": 1, "wrong-ids": 1}
    # A second pass finds nothing to do, even checking every fact.
    again = {**expected, "kept": {"kept-0", "kept-1", "kept-2"},
             "never-indexed": ExpectedRoom(1, "Weekly sync", Visibility.MEMBERS, "h1", DATE)}
    assert await index.reconcile(again, load) == Reconciliation((), ())


async def test_a_closed_index_refuses_writes(tmp_path: Path) -> None:
    ix = Index(tmp_path / "index")
    ix.close()
    ix.close()
    with pytest.raises(RuntimeError, match="closed"):
        await ix.add([seg("r1", 0)])


async def test_waits_while_another_process_holds_the_writer_lock(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ix = Index(tmp_path / "index", lock_wait=0.05)
    try:
        # What a `roomscribe index rebuild` running beside the server would hold.
        held = whoosh_index.open_dir(str(tmp_path / "index")).writer()
        adding = asyncio.create_task(ix.add([seg("r1", 0)]))
        await until(lambda: "locked by another writer" in caplog.text, within=10,
                    what="the writer to find the lock held")
        assert not adding.done()
        held.cancel()
        assert await asyncio.wait_for(adding, 10) == 1
        assert room_ids(ix) == {"r1": 1}
    finally:
        ix.close()


async def test_an_index_of_another_layout_starts_afresh_for_reconcile_to_fill(
    tmp_path: Path,
) -> None:
    (tmp_path / "index").mkdir()
    whoosh_index.create_in(str(tmp_path / "index"), fields.Schema(body=fields.TEXT(stored=True)))
    ix = Index(tmp_path / "index")
    try:
        assert ix.doc_count() == 0
        report = await ix.reconcile({"r1": 1}, lambda room: [seg(room, 0)])
        assert report.reindexed == ("r1",)
        assert room_ids(ix) == {"r1": 1}
    finally:
        ix.close()
