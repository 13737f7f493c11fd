"""Searching a real whoosh index: every query element, visibility, snippets, pages and order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from roomscribe.archive.audience import ANONYMOUS, Asker
from roomscribe.archive.documents import SegmentDoc
from roomscribe.archive.index import Index
from roomscribe.archive.search import Order, SearchHit, search, search_sync
from roomscribe.errors import InvalidInput
from roomscribe.visibility import Visibility

MEMBER = Asker("m1")
HOST = Asker("h1")
ADMIN = Asker("root", admin=True)


def doc(room: str, n: int, text: str, *, speaker: str = "Alice Smith", title: str = "",
        date: datetime = datetime(2026, 1, 10, tzinfo=UTC),
        visibility: Visibility = Visibility.PUBLIC, host: str = "h0") -> SegmentDoc:
    return SegmentDoc(segment_id=f"{room}-{n}", room_id=room, room_title=title or f"Room {room}",
                      room_date=date, visibility=visibility, host_id=host, speaker=speaker,
                      start=n * 10.0, end=n * 10.0 + 4.25, text=text)


CORPUS = [
    doc("plan", 0, "The quarterly budget is due next week", title="Weekly planning",
        date=datetime(2026, 1, 5, 9, tzinfo=UTC)),
    doc("plan", 1, "Budgets are tight, the budget for travel is gone", speaker="Bob Jones",
        title="Weekly planning", date=datetime(2026, 1, 5, 9, tzinfo=UTC)),
    doc("plan", 2, "Let us review the roadmap", title="Weekly planning",
        date=datetime(2026, 1, 5, 9, tzinfo=UTC)),
    doc("retro", 0, "The launch went well, budget aside", speaker="Carol White",
        title="Launch retro", date=datetime(2026, 2, 20, 16, tzinfo=UTC)),
    doc("retro", 1, "Quarterly numbers look good", speaker="Alice Cooper",
        title="Launch retro", date=datetime(2026, 2, 20, 16, tzinfo=UTC)),
    doc("old", 0, "Budget talk from last year", title="Archive", speaker="Bob Jones",
        date=datetime(2025, 11, 3, tzinfo=UTC)),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    ix = Index(tmp_path_factory.mktemp("search") / "index")
    ix.rebuild(CORPUS)
    yield ix
    ix.close()


def ids(index: Index, q: str, asker: Asker = ADMIN, **kw: object) -> list[str]:
    page = search_sync(index, q, asker=asker, per_page=100, **kw)  # type: ignore[arg-type]
    assert page.total == len(page.hits)
    return [f"{h.room_id}-{round(h.start / 10)}" for h in page.hits]


@pytest.mark.parametrize(("q", "expected"), [
    ("budget", ["retro-0", "plan-0", "plan-1", "old-0"]),  # stemmed: "Budgets" too
    ("quarterly budget", ["plan-0"]),
    ('"quarterly budget"', ["plan-0"]),
    ('"budget quarterly"', []),
    ("quarterly OR roadmap", ["retro-1", "plan-0", "plan-2"]),
    ("budget AND NOT travel", ["retro-0", "plan-0", "old-0"]),
    ("budget NOT travel", ["retro-0", "plan-0", "old-0"]),
    ("NOT budget", ["retro-1", "plan-2"]),
    ("roadmap OR NOT budget", ["retro-1", "plan-2"]),
    ("budget OR NOT travel", ["retro-0", "retro-1", "plan-0", "plan-1", "plan-2", "old-0"]),
    ("NOT (budget OR quarterly)", ["plan-2"]),
    ("(quarterly OR launch) AND budget", ["retro-0", "plan-0"]),
    ("speaker:bob", ["plan-1", "old-0"]),
    ('speaker:"alice smith"', ["plan-0", "plan-2"]),
    ("speaker:alice", ["retro-1", "plan-0", "plan-2"]),
    ("speaker:alice quarterly", ["retro-1", "plan-0"]),
    ("room:planning", ["plan-0", "plan-1", "plan-2"]),
    ('room:"launch retro"', ["retro-0", "retro-1"]),
    ("room:retro budget", ["retro-0"]),
    ("room:old", ["old-0"]),  # by id
    ("date:2026-02", ["retro-0", "retro-1"]),
    ("date:2026-01-05", ["plan-0", "plan-1", "plan-2"]),
    ("date:2025", ["old-0"]),
    ("date:[2025-12-01 TO 2026-01]", ["plan-0", "plan-1", "plan-2"]),
    ("date:[TO 2026-01-04] budget", ["old-0"]),
    ("date:[2026-01 TO] budget", ["retro-0", "plan-0", "plan-1"]),
    ("date:2026 OR speaker:bob", ["retro-0", "retro-1", "plan-0", "plan-1", "plan-2", "old-0"]),
    # Explicit AND binds tighter than OR; words side by side are ANDed last.
    ("budget AND date:2026-01 OR roadmap", ["plan-0", "plan-1", "plan-2"]),
    ("budget date:2026-01 OR roadmap", ["plan-0", "plan-1"]),
    ("nothing matches this", []),
])
def test_every_query_element(index: Index, q: str, expected: list[str]) -> None:
    assert ids(index, q) == expected


def test_newest_first_then_in_room_order_and_by_relevance(index: Index) -> None:
    assert ids(index, "budget OR quarterly", order=Order.NEWEST) == [
        "retro-0", "retro-1", "plan-0", "plan-1", "old-0"]
    # Relevance: the segment saying "budget" twice outranks the ones saying it once.
    assert ids(index, "budget", order=Order.RELEVANCE)[0] == "plan-1"
    assert sorted(ids(index, "budget", order=Order.RELEVANCE)) == sorted(ids(index, "budget"))


def test_hits_carry_what_the_api_returns(index: Index) -> None:
    (hit,) = search_sync(index, '"next week"', asker=ADMIN).hits
    assert hit == SearchHit(
        room_id="plan", room_title="Weekly planning", speaker="Alice Smith", start=0.0,
        end=4.25, text="The quarterly budget is due next week",
        highlight="The quarterly budget is due <mark>next</mark> <mark>week</mark>")


def test_snippets_mark_stemmed_matches(index: Index) -> None:
    (hit,) = search_sync(index, "travel", asker=ADMIN).hits
    assert hit.highlight == ("Budgets are tight, the budget for <mark>travel</mark> is gone")
    hits = search_sync(index, "budget speaker:bob", asker=ADMIN).hits
    assert hits[0].highlight == ("<mark>Budgets</mark> are tight, the <mark>budget</mark> "
                                 "for travel is gone")
    # Matched on the speaker alone: the text comes back escaped and unmarked.
    (only_speaker,) = search_sync(index, "speaker:carol", asker=ADMIN).hits
    assert only_speaker.highlight == only_speaker.text


def test_snippets_are_escaped_html(tmp_path: Path) -> None:
    ix = Index(tmp_path / "index")
    try:
        ix.rebuild([doc("x", 0, 'He typed <script>alert("budget")</script> & left')])
        (hit,) = search_sync(ix, "budget", asker=ADMIN).hits
        assert hit.text == 'He typed <script>alert("budget")</script> & left'
        assert hit.highlight == ("He typed &lt;script&gt;alert(&quot;<mark>budget</mark>&quot;)"
                                 "&lt;/script&gt; &amp; left")
        (hit,) = search_sync(ix, "speaker:alice", asker=ADMIN).hits
        assert "<script>" not in hit.highlight and "&lt;script&gt;" in hit.highlight
    finally:
        ix.close()


@pytest.fixture(scope="module")
def rooms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """One room of each visibility, hosted by h1, plus another host's private room."""
    ix = Index(tmp_path_factory.mktemp("visibility") / "index")
    docs = []
    for room, visibility, host in [("pub", Visibility.PUBLIC, "h1"),
                                   ("mem", Visibility.MEMBERS, "h1"),
                                   ("priv", Visibility.PRIVATE, "h1"),
                                   ("other", Visibility.PRIVATE, "h2")]:
        docs += [doc(room, n, f"secret plans number {n}", visibility=visibility, host=host,
                     date=datetime(2026, 1, 1 + n, tzinfo=UTC)) for n in range(5)]
    ix.rebuild(docs)
    yield ix
    ix.close()


@pytest.mark.parametrize(("asker", "visible"), [
    (ANONYMOUS, {"pub"}),
    (MEMBER, {"pub", "mem"}),
    (HOST, {"pub", "mem", "priv"}),
    (Asker("h2"), {"pub", "mem", "other"}),
    (ADMIN, {"pub", "mem", "priv", "other"}),
])
@pytest.mark.parametrize("q", ["secret", "secret NOT number", "NOT nothing", "date:2026-01",
                               "date:2026-01 plans", "room:priv", "room:other OR room:pub",
                               '"secret plans"', "speaker:alice"])
@pytest.mark.parametrize("order", list(Order))
def test_visibility_matrix_never_leaks(
    rooms: Index, asker: Asker, visible: set[str], q: str, order: Order
) -> None:
    seen: set[str] = set()
    total = None
    for page in range(1, 30):
        result = search_sync(rooms, q, asker=asker, page=page, per_page=3, order=order)
        total = result.total
        seen |= {h.room_id for h in result.hits}
        if page >= result.pages:
            break
    reachable = {"room:priv": {"priv"}, "room:other OR room:pub": {"other", "pub"},
                 "secret NOT number": set()}.get(q, {"pub", "mem", "priv", "other"})
    assert seen == visible & reachable
    # Counted inside the query: the total is what this asker may see, never more.
    assert total == 5 * len(visible & reachable)


def test_pagination(rooms: Index) -> None:
    pages = [search_sync(rooms, "secret", asker=ADMIN, page=p, per_page=6) for p in (1, 2, 3, 4)]
    assert [p.total for p in pages] == [20] * 4
    assert [p.pages for p in pages] == [4] * 4
    assert [len(p.hits) for p in pages] == [6, 6, 6, 2]
    keys = [(h.room_id, h.start) for p in pages for h in p.hits]
    assert len(set(keys)) == 20  # no overlap, nothing skipped
    dates = [h.start for h in pages[0].hits]
    assert dates == sorted(dates, reverse=True)  # newest room date first: n=4 in every room
    beyond = search_sync(rooms, "secret", asker=ADMIN, page=9, per_page=6)
    assert (beyond.hits, beyond.total, beyond.page, beyond.pages) == ((), 20, 9, 4)
    empty = search_sync(rooms, "absent", asker=ADMIN)
    assert (empty.total, empty.pages, empty.hits) == (0, 1, ())
    for bad in ({"page": 0}, {"per_page": 0}, {"per_page": 101}):
        with pytest.raises(InvalidInput):
            search_sync(rooms, "secret", asker=ADMIN, **bad)  # type: ignore[arg-type]


def test_malformed_query_is_invalid_input_not_a_crash(rooms: Index) -> None:
    with pytest.raises(InvalidInput, match="never closed"):
        search_sync(rooms, '"secret', asker=ADMIN)


async def test_async_search_runs_off_the_loop(rooms: Index) -> None:
    pages = await asyncio.gather(*(search(rooms, "secret", asker=MEMBER, page=p, per_page=4)
                                   for p in (1, 2, 3)))
    assert [len(p.hits) for p in pages] == [4, 4, 2]


async def test_search_sees_writes_as_they_commit(tmp_path: Path) -> None:
    ix = Index(tmp_path / "index")
    try:
        await ix.add([doc("a", 0, "first words")])
        assert (await search(ix, "words", asker=ADMIN)).total == 1
        await ix.add([doc("a", 1, "more words")])
        assert (await search(ix, "words", asker=ADMIN)).total == 2
        await ix.replace_room("a", [doc("a", 2, "other text")])
        assert (await search(ix, "words", asker=ADMIN)).total == 0
        await ix.delete_room("a")
        assert (await search(ix, "text", asker=ADMIN)).total == 0
    finally:
        ix.close()


def test_queries_too_costly_for_whoosh_are_refused_with_a_reason(rooms: Index) -> None:
    # 20 segments all say "secret plans number": a budget of 25 postings stands in for the
    # production one, which the same arithmetic applies to over a million segments.
    assert search_sync(rooms, "secret number", asker=ADMIN, max_cost=25).total == 20  # AND: 20
    too_costly = ["secret OR plans", '"secret plans"', "secret OR plans OR number"]
    for q in too_costly:
        with pytest.raises(InvalidInput, match="less common word"):
            search_sync(rooms, q, asker=ADMIN, max_cost=25)
    for q in too_costly:
        assert search_sync(rooms, q, asker=ADMIN, max_cost=200).total == 20


def test_relevance_counts_every_match_of_an_or(tmp_path: Path) -> None:
    # Enough documents, with scores spread, for whoosh to prune OR branches that cannot reach
    # the top of the page; the total must still count every match.
    ix = Index(tmp_path / "index")
    try:
        ix.rebuild([doc("a", n, "alpha " * (1 + n % 7) + "filler words here") for n in range(300)]
                   + [doc("b", n, "beta and some other words") for n in range(300)])
        for q in ("alpha OR beta", "beta OR alpha OR gamma"):
            newest = search_sync(ix, q, asker=ADMIN, per_page=5)
            ranked = search_sync(ix, q, asker=ADMIN, per_page=5, order=Order.RELEVANCE)
            assert newest.total == ranked.total == 600
            assert ranked.hits[0].text.startswith("alpha " * 7)
    finally:
        ix.close()
