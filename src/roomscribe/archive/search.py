"""Search over transcript segments: the query language, who may see what, snippets and pages.

The query language is whoosh's, narrowed to what the archive promises and made strict:

    budget review               every word (stemmed: "budgets" finds "budget")
    "quarterly budget"          a phrase
    budget OR plan, a AND b, NOT draft, (a OR b) AND c
                                AND binds tighter than OR; words side by side are ANDed last,
                                so `budget launch OR release` is budget AND (launch OR release)
    speaker:alice               who spoke (a name or part of it; quote full names)
    room:planning               the room's title or its id
    date:2026-11, date:2026-11-05, date:[2026-01-01 TO 2026-02-01], date:[TO 2026-03]
                                the room's date (UTC); a range includes its last day or month

Whoosh's own parser never refuses anything: an unclosed quote, a dangling AND or an unknown field
just turn into words, so a typo would silently search for something else. A small scan before
parsing and a walk over the parsed tree turn those into `InvalidInput` with the reason.

Execution splits the work by what each side is fast at. Whoosh walks the postings of the words
(and checks phrase positions); room, date and visibility are per-document columns tested in numpy
for all candidates at once, and sorting and paging are numpy too, because whoosh does all of it
one document at a time in Python. Visibility is applied while the query is evaluated, so `total`,
pages and ranking only ever count what the asker may see: nothing is filtered after the page is
cut. Queries that would walk too many postings are refused with the reason, not left to run.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from whoosh import fields, highlight, matching, qparser, query
from whoosh.qparser.common import QueryParserError

from roomscribe.archive.index import (
    NAME_ANALYZER,
    TEXT_ANALYZER,
    VISIBILITY_CODES,
    Index,
    key_of,
)
from roomscribe.errors import InvalidInput
from roomscribe.visibility import Visibility

MAX_QUERY_CHARS = 500
MAX_PER_PAGE = 100
FIELDS = ("speaker", "room", "date", "text")


@dataclass(frozen=True, slots=True)
class Asker:
    """Who is searching. No `user_id` means anonymous."""

    user_id: str | None = None
    admin: bool = False


ANONYMOUS = Asker()


class Order(StrEnum):
    NEWEST = "newest"
    """Most recent room first, then in room order."""
    RELEVANCE = "relevance"
    """Best match first (BM25)."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    room_id: str
    room_title: str
    speaker: str
    start: float
    """Seconds on the room clock, which is also the position in the room's recording."""
    end: float
    text: str
    """The segment as spoken, not escaped."""
    highlight: str
    """The segment as HTML: escaped, with `<mark>` around the words that matched."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: tuple[SearchHit, ...]
    total: int
    """Every segment the asker may see that matches, across all pages."""
    page: int
    pages: int


# The scan before parsing

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<phrase>"[^"]*")
      | (?P<quote>")
      | (?P<range>[\[{][^\]}]*[\]}])
      | (?P<bracket>[\[\]{}])
      | (?P<open>\()
      | (?P<close>\))
      | (?P<field>[A-Za-z_]\w*:)
      | (?P<word>[^\s"()\[\]{}]+)
    """,
    re.VERBOSE,
)
_OPERATORS = frozenset({"AND", "OR", "NOT"})


def _scan(text: str) -> None:
    """Refuse what whoosh would quietly misread; the message says what and where."""
    prev = "start"  # what came before: start, operand, AND/OR, NOT, open, field
    depth = 0
    pos = 0
    for match in _TOKEN.finditer(text):
        kind, value, pos = match.lastgroup, match.group(), match.start()
        where = f"at character {pos + 1}"
        if kind == "space":
            if prev == "field":
                raise InvalidInput(f"{where}: nothing follows the field name; "
                                   "put the value right after the colon")
            continue
        if kind == "quote":
            raise InvalidInput(f'{where}: the quote is never closed')
        if kind == "bracket":
            raise InvalidInput(f"{where}: unbalanced {value!r}; a date range looks like "
                               "date:[2026-01-01 TO 2026-02-01]")
        if kind == "field":
            name = value[:-1]
            if name not in FIELDS:
                raise InvalidInput(f"{where}: unknown field {name!r}; use speaker:, room: or "
                                   "date: (put text with a colon in quotes)")
            if prev == "field":
                raise InvalidInput(f"{where}: a field name cannot follow another")
            prev = "field"
            continue
        if kind == "range" and prev != "field":
            raise InvalidInput(f"{where}: a range needs a field, as in date:{value}")
        if kind == "word" and value in _OPERATORS:
            if prev == "field":
                raise InvalidInput(f"{where}: {value} cannot be a field's value; quote it")
            if value == "NOT":
                if prev == "NOT":
                    raise InvalidInput(f"{where}: NOT NOT cancels out; remove both")
            elif prev not in ("operand",):
                raise InvalidInput(f"{where}: {value} needs something to search for before it")
            prev = value if value == "NOT" else "AND/OR"
            continue
        if kind == "open":
            depth += 1
            prev = "open"
            continue
        if kind == "close":
            if depth == 0:
                raise InvalidInput(f"{where}: ')' without a matching '('")
            if prev == "open":
                raise InvalidInput(f"{where}: empty parentheses")
            if prev != "operand":
                raise InvalidInput(f"{where}: the operator before ')' has nothing to act on")
            depth -= 1
            prev = "operand"
            continue
        prev = "operand"  # phrase, range or word
    if depth:
        raise InvalidInput("a '(' is never closed")
    if prev in ("AND/OR", "NOT"):
        raise InvalidInput("the query ends with an operator that has nothing to act on")
    if prev == "field":
        raise InvalidInput("the query ends with a field name and no value")


# Dates

_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _date_bounds(value: str) -> tuple[int, int]:
    """First and last epoch second of a year, month or day given as YYYY[-MM[-DD]] (UTC)."""
    m = _DATE.fullmatch(value)
    if not m:
        raise QueryParserError(f"{value!r} is not a date; write 2026, 2026-11 or 2026-11-05")
    year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    try:
        first = datetime(year, month, day, tzinfo=UTC)
    except ValueError as err:
        raise QueryParserError(f"{value!r} is not a date ({err})") from None
    if m[3]:
        stop = first + timedelta(days=1)
    elif m[2]:
        stop = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    else:
        stop = datetime(year + 1, 1, 1, tzinfo=UTC)
    return int(first.timestamp()), int(stop.timestamp()) - 1


class _DateField(fields.NUMERIC):  # type: ignore[misc]
    """The query side of the `date` field: strict dates in, epoch-second ranges out."""

    def __init__(self) -> None:
        super().__init__(int, bits=64, signed=True)

    def parse_query(self, fieldname: str, qstring: str, boost: float = 1.0) -> query.Query:
        first, last = _date_bounds(qstring)
        return query.NumericRange(fieldname, first, last, constantscore=True)

    def parse_range(self, fieldname: str, start: str | None, end: str | None,
                    startexcl: bool, endexcl: bool, boost: float = 1.0) -> query.Query:
        if start is None and end is None:
            raise QueryParserError("a date range needs at least one end")
        first = _date_bounds(start)[0] if start is not None else None
        last = _date_bounds(end)[1] if end is not None else None
        if first is not None and last is not None and first > last:
            raise QueryParserError(f"the date range {start} TO {end} is backwards")
        return query.NumericRange(fieldname, first, last, constantscore=True)


def _parser() -> qparser.QueryParser:
    # The parser's own schema: `room` is a pseudo-field rewritten below into RoomMatch, and
    # `date` parses strictly into epoch seconds. The index schema stays plain whoosh.
    schema = fields.Schema(
        text=fields.TEXT(analyzer=TEXT_ANALYZER),
        speaker=fields.TEXT(analyzer=NAME_ANALYZER),
        room=fields.ID,
        date=_DateField(),
    )
    parser = qparser.QueryParser("text", schema)
    for plugin in (qparser.WildcardPlugin, qparser.BoostPlugin, qparser.SingleQuotePlugin,
                   qparser.EveryPlugin, qparser.OperatorsPlugin, qparser.FieldsPlugin):
        parser.remove_plugin_class(plugin)
    parser.add_plugin(qparser.FieldsPlugin(expr=r"(?P<text>[A-Za-z_]\w*):"))
    # Operators end where the scan's words end (at spaces, parentheses, quotes and brackets), so
    # `NOT(a OR b)` means what the scan checked, not a search for the word "not".
    before = r"(?<=[\s)\]}\"])"
    after = r"(?=[\s(\[{\"])"
    parser.add_plugin(qparser.OperatorsPlugin(
        And=before + "AND" + after,
        Or=before + "OR" + after,
        Not=r"(^|(?<=\()|" + before + ")NOT" + after,
        AndNot=None, AndMaybe=None, Require=None))
    return parser


_PARSER = _parser()


class RoomMatch(query.Term):  # type: ignore[misc]
    """`room:value`: rooms whose id is `value` or whose title holds its words in order.

    Never handed to whoosh: it is answered from the room table of each index segment (see
    `_Segment.rooms`): a few thousand titles rather than postings for every segment of them.
    """

    def __init__(self, value: str) -> None:
        super().__init__("room", value)
        self.words = tuple(t.text for t in TEXT_ANALYZER(value))

    def matches(self, room_id: str, title_words: tuple[str, ...]) -> bool:
        if room_id == self.text:
            return True
        n = len(self.words)
        return n > 0 and any(title_words[i:i + n] == self.words
                             for i in range(len(title_words) - n + 1))


def _leaves(q: query.Query) -> Iterator[query.Query]:
    yield q
    if not q.is_leaf():
        for child in q.children():
            yield from _leaves(child)


def _rewrite(q: query.Query) -> query.Query:
    if isinstance(q, query.Term) and q.fieldname == "room":
        return RoomMatch(q.text)
    if isinstance(q, query.Phrase) and q.fieldname == "room":
        return RoomMatch(" ".join(q.words))
    return q if q.is_leaf() else q.apply(_rewrite)


def parse_query(text: str) -> query.Query:
    """The whoosh query for a user's search, or `InvalidInput` saying what is wrong with it."""
    text = text.strip()
    if not text:
        raise InvalidInput("the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the query is longer than {MAX_QUERY_CHARS} characters")
    _scan(text)
    try:
        parsed = _PARSER.parse(text)
    except Exception as err:  # whoosh's parser fails on odd operator mixes with IndexError & co.
        raise InvalidInput(f"could not parse the query ({type(err).__name__})") from None
    for node in _leaves(parsed):
        error = getattr(node, "error", None)
        if error is not None:
            raise InvalidInput(str(error))
        if isinstance(node, query.RangeMixin) and node.fieldname != "date":
            raise InvalidInput("ranges work only on date:, as in date:[2026-01 TO 2026-03]")
    if parsed is query.NullQuery or isinstance(parsed, type(query.NullQuery)):
        raise InvalidInput("the query has no words to search for")
    return _rewrite(parsed).normalize()


# Executing: whoosh walks the postings, numpy does the rest

class _Leapfrog(matching.IntersectionMatcher):  # type: ignore[misc]
    """Intersection that lists its matches by stepping with `skip_to`.

    Whoosh's own builds a Python set of every id on each side, so `the AND budget` costs as much
    as listing every "the".
    """

    def all_ids(self) -> Iterator[int]:
        return matching.Matcher.all_ids(self)  # type: ignore[no-any-return]


class _And(query.And):  # type: ignore[misc]
    def _matcher(self, subs: list[query.Query], searcher: Any, context: Any) -> Any:
        reader = searcher.reader()
        return self._tree_matcher(subs, _Leapfrog, searcher, context,
                                  lambda q: 0 - q.estimate_size(reader))


def _leapfrog(q: query.Query) -> query.Query:
    if type(q) is query.And:
        return _And([_leapfrog(c) for c in q.subqueries], boost=q.boost)
    return q if q.is_leaf() else q.apply(_leapfrog)


def _is_date(q: query.Query) -> bool:
    return isinstance(q, query.NumericRange) and q.fieldname == "date"


def _is_filter(q: query.Query) -> bool:
    """Answered from columns rather than postings."""
    return isinstance(q, RoomMatch) or _is_date(q)


def _plain(q: query.Query) -> bool:
    """Whoosh can run it alone, at the cost of its words: no room or date anywhere inside, and
    NOT only beside something it can step through (alone or under OR, whoosh would list every
    other document one by one; numpy takes those)."""
    if _is_filter(q) or isinstance(q, query.Not):
        return False
    if isinstance(q, query.And):
        positive = [c for c in q.subqueries if not isinstance(c, query.Not)]
        negated = [c.query for c in q.subqueries if isinstance(c, query.Not)]
        return bool(positive) and all(_plain(c) for c in positive + negated)
    return bool(q.is_leaf()) or all(_plain(c) for c in q.children())


@dataclass(frozen=True, slots=True)
class Audience:
    """Which visibility codes an asker sees, plus the private rooms they host (None: all)."""

    codes: frozenset[int] | None
    host: str | None = None

    @classmethod
    def of(cls, asker: Asker) -> Audience:
        if asker.admin:
            return cls(None)
        if asker.user_id is None:
            return cls(frozenset({VISIBILITY_CODES[Visibility.PUBLIC]}))
        return cls(frozenset({VISIBILITY_CODES[Visibility.PUBLIC],
                              VISIBILITY_CODES[Visibility.MEMBERS]}), host=asker.user_id)


_PRIVATE = VISIBILITY_CODES[Visibility.PRIVATE]


def _numeric_column(reader: Any, fieldname: str) -> npt.NDArray[np.int64]:
    column = reader.column_reader(fieldname, translate=False)
    count = reader.doc_count_all()
    out = np.zeros(count, dtype=np.int64)
    try:
        # A whoosh numeric column is its big-endian values back to back: reading the block
        # whole is 40x faster than a Python loop over a million documents (whoosh 2.7 layout;
        # any other reader takes the loop below).
        raw = column._dbfile.get(column._basepos, column._count * column._fixedlen)
        values = np.frombuffer(raw, dtype=">" + column._typecode)
        out[:values.size] = values
        out[values.size:] = column._default
    except AttributeError:
        out[:] = np.fromiter(column, dtype=np.int64, count=count)
    return out


class _Segment:
    """One index segment's columns as arrays, loaded once: a segment never changes after it is
    written (deletions are applied per search), so searches reuse them until it is merged away."""

    def __init__(self, reader: Any) -> None:
        self.newest = _numeric_column(reader, "newest")
        self.date = _numeric_column(reader, "date")
        self.room = _numeric_column(reader, "room_key")
        self.visibility = _numeric_column(reader, "visibility")
        self.host = _numeric_column(reader, "host_key")
        self._rooms: list[_Room] | None = None
        self._by_room: npt.NDArray[np.int64] | None = None
        self._lock = threading.Lock()

    def rooms(self, reader: Any) -> tuple[list[_Room], npt.NDArray[np.int64]]:
        """Every room with segments here, and all docnums ordered by room (each room's run in
        it is `_Room.first` to `_Room.first + _Room.count`). Built on first use: one stored
        document read per room."""
        with self._lock:
            if self._rooms is None or self._by_room is None:
                by_room = np.argsort(self.room, kind="stable").astype(np.int64)
                keys, firsts, counts = np.unique(self.room[by_room], return_index=True,
                                                 return_counts=True)
                table = []
                for key, first, count in zip(keys.tolist(), firsts.tolist(), counts.tolist(),
                                             strict=True):
                    stored = reader.stored_fields(int(by_room[first]))
                    words = tuple(t.text for t in TEXT_ANALYZER(stored["room_title"]))
                    table.append(_Room(key, stored["room_id"], words, first, count))
                self._rooms, self._by_room = table, by_room
            return self._rooms, self._by_room


@dataclass(frozen=True, slots=True)
class _Room:
    key: int
    room_id: str
    title_words: tuple[str, ...]
    first: int
    count: int


_SEGMENTS: OrderedDict[tuple[str, str], _Segment] = OrderedDict()
_SEGMENTS_LOCK = threading.Lock()
_SEGMENTS_KEPT = 64


def _segment(index: Index, reader: Any) -> _Segment:
    key = (str(index.path), reader.segment().segment_id())
    with _SEGMENTS_LOCK:
        found = _SEGMENTS.get(key)
        if found is not None:
            _SEGMENTS.move_to_end(key)
            return found
    loaded = _Segment(reader)  # outside the lock: a big segment takes a moment to load
    with _SEGMENTS_LOCK:
        _SEGMENTS[key] = loaded
        while len(_SEGMENTS) > _SEGMENTS_KEPT:
            _SEGMENTS.popitem(last=False)
    return loaded


@dataclass(frozen=True, slots=True)
class _Hits:
    """Matching documents of one segment: ascending ids, and their scores when ranking."""

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]

    def where(self, keep: npt.NDArray[np.bool_]) -> _Hits:
        return _Hits(self.ids[keep], self.scores[keep])

    def minus(self, other: _Hits) -> _Hits:
        return self.where(~np.isin(self.ids, other.ids, assume_unique=True))

    def both(self, other: _Hits) -> _Hits:
        ids, mine, theirs = np.intersect1d(self.ids, other.ids, assume_unique=True,
                                           return_indices=True)
        return _Hits(ids, self.scores[mine] + other.scores[theirs])

    @staticmethod
    def either(parts: list[_Hits]) -> _Hits:
        ids = np.concatenate([p.ids for p in parts])
        unique, where = np.unique(ids, return_inverse=True)
        scores = np.bincount(where, weights=np.concatenate([p.scores for p in parts]),
                             minlength=unique.size).astype(np.float64)
        return _Hits(unique.astype(np.int64), scores)


class _Leaf:
    """Evaluates a parsed query on one index segment."""

    def __init__(self, index: Index, searcher: Any, scored: bool) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        self.columns = _segment(index, self.reader)
        self.scored = scored
        self._live: npt.NDArray[np.bool_] | None = None

    def live(self) -> npt.NDArray[np.bool_]:
        if self._live is None:
            self._live = np.ones(self.reader.doc_count_all(), dtype=np.bool_)
            if self.reader.has_deletions():
                deleted = np.fromiter(self.reader.deleted_docs(), dtype=np.int64)
                self._live[deleted] = False
        return self._live

    def of_mask(self, mask: npt.NDArray[np.bool_]) -> _Hits:
        ids = np.flatnonzero(mask & self.live()).astype(np.int64)
        return _Hits(ids, np.zeros(ids.size))

    def everything(self) -> _Hits:
        return self.of_mask(np.ones(self.reader.doc_count_all(), dtype=np.bool_))

    def _rooms_for(self, q: RoomMatch) -> tuple[list[_Room], npt.NDArray[np.int64]]:
        rooms, by_room = self.columns.rooms(self.reader)
        return [r for r in rooms if q.matches(r.room_id, r.title_words)], by_room

    def matching(self, q: query.Query) -> _Hits:
        """Every live document a room or date filter lets through."""
        if isinstance(q, RoomMatch):
            rooms, by_room = self._rooms_for(q)
            runs = [by_room[r.first:r.first + r.count] for r in rooms]
            ids = np.sort(np.concatenate(runs)) if runs else np.zeros(0, dtype=np.int64)
            ids = ids[self.live()[ids]]
            return _Hits(ids, np.zeros(ids.size))
        return self.of_mask(self.keep(q, np.arange(self.reader.doc_count_all())))

    def keep(self, q: query.Query, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of `ids` a room or date filter lets through (tested on those ids only)."""
        if isinstance(q, RoomMatch):
            keys = np.array([r.key for r in self._rooms_for(q)[0]], dtype=np.int64)
            return np.isin(self.columns.room[ids], keys)
        dates = self.columns.date[ids]
        keep = np.ones(ids.size, dtype=np.bool_)
        if q.start is not None:
            keep &= dates >= q.start
        if q.end is not None:
            keep &= dates <= q.end
        return keep

    def run(self, q: query.Query) -> _Hits:
        """Whoosh walks the postings (and checks phrase positions)."""
        matcher = _leapfrog(q).matcher(self.searcher)
        if not self.scored:
            ids = np.fromiter(matcher.all_ids(), dtype=np.int64)
            return _Hits(ids, np.zeros(ids.size))
        found: list[int] = []
        scores: list[float] = []
        while matcher.is_active():
            found.append(matcher.id())
            scores.append(matcher.score())
            matcher.next()
        return _Hits(np.array(found, dtype=np.int64), np.array(scores, dtype=np.float64))

    def eval(self, q: query.Query) -> _Hits:
        if _plain(q):
            return self.run(q)
        if _is_filter(q):
            return self.matching(q)
        if isinstance(q, query.Not):
            return self.everything().minus(self.eval(q.query))
        if isinstance(q, query.Or):
            return _Hits.either([self.eval(c) for c in q.subqueries])
        if isinstance(q, query.And):
            return self._and(q.subqueries)
        raise InvalidInput(f"cannot search for {q}")

    def _and(self, subs: list[query.Query]) -> _Hits:
        negative = [c.query for c in subs if isinstance(c, query.Not)]
        positive = [c for c in subs if not isinstance(c, query.Not)]
        words = [c for c in positive if _plain(c)]
        filters = [c for c in positive if _is_filter(c)]
        mixed = [c for c in positive if not _plain(c) and not _is_filter(c)]
        hits = self.run(words[0] if len(words) == 1 else query.And(words)) if words else None
        for sub in mixed:
            part = self.eval(sub)
            hits = part if hits is None else hits.both(part)
        if hits is None:  # filters alone
            hits = self.everything()
        for f in filters:
            hits = hits.where(self.keep(f, hits.ids))
        for sub in negative:
            hits = hits.minus(self.eval(sub))
        return hits

    def visible(self, hits: _Hits, audience: Audience) -> _Hits:
        """Only what the audience may see, before anything is counted, sorted or paged."""
        if audience.codes is None:
            return hits
        codes = self.columns.visibility[hits.ids]
        keep = np.isin(codes, np.array(sorted(audience.codes), dtype=np.int64))
        if audience.host is not None:
            own = (codes == _PRIVATE) & (self.columns.host[hits.ids] == key_of(audience.host))
            if own.any():
                # The 64-bit key only narrows it down; the host id itself decides.
                hosts = self.reader.column_reader("host_id", translate=False)
                wanted = audience.host.encode()
                for i in np.flatnonzero(own).tolist():
                    own[i] = hosts[int(hits.ids[i])] == wanted
                keep |= own
        return hits.where(keep)


# Cost: whoosh is pure Python, so a query's time follows how many postings it walks

MAX_COST = 250_000
"""Postings a search may walk (about a second on one core); beyond it the query is refused."""
_PHRASE_COST = 4  # checking positions costs several times reading a posting


def _cost(q: query.Query, reader: Any) -> int:
    """Postings `q` will walk, from document frequencies (cheap lookups, no search).

    Room and date filters are column tests in numpy and cost next to nothing.
    """
    if _is_filter(q):
        return 0
    if isinstance(q, query.Term):
        return int(reader.doc_frequency(q.fieldname, q.text))
    if isinstance(q, query.Phrase):
        rarest = min(int(reader.doc_frequency(q.fieldname, w)) for w in q.words)
        return rarest * len(q.words) * _PHRASE_COST
    if isinstance(q, query.Not):
        return _cost(q.query, reader)
    if isinstance(q, query.And):
        # An intersection steps through its rarest side. What it NOTs, whoosh skips through
        # too; only when numpy runs the AND (a room or date is in it) is that walked in full.
        positive = [_cost(c, reader) for c in q.subqueries
                    if not isinstance(c, query.Not) and not _is_filter(c)]
        negative = [] if _plain(q) else [
            _cost(c, reader) for c in q.subqueries if isinstance(c, query.Not)]
        return min(positive, default=0) + sum(negative)
    if isinstance(q, query.Or):
        return sum(_cost(c, reader) for c in q.subqueries)
    return int(q.estimate_size(reader))


def _check_cost(q: query.Query, reader: Any) -> None:
    cost = _cost(q, reader)
    if cost > MAX_COST:
        raise InvalidInput(
            f"the query has to look through about {cost:,} postings, more than the "
            f"{MAX_COST:,} a search may; add a less common word or drop a very common one")


# Pages and snippets

class _MarkFormatter(highlight.Formatter):  # type: ignore[misc]
    """Escapes everything, marks matches: the snippet is safe to drop into a page."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text)

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"<mark>{html.escape(highlight.get_text(text, token, replace))}</mark>"


def _marked_words(q: query.Query, negated: bool = False) -> set[str]:
    """The words of the text the query looks for (not those it excludes)."""
    if isinstance(q, query.Not):
        return _marked_words(q.query, not negated)
    if negated or _is_filter(q):
        return set()
    if isinstance(q, query.Term):
        return {q.text} if q.fieldname == "text" else set()
    if isinstance(q, query.Phrase):
        return set(q.words) if q.fieldname == "text" else set()
    return set().union(*(_marked_words(c) for c in q.children())) if not q.is_leaf() else set()


def _snippet(text: str, words: frozenset[str]) -> str:
    if words:
        marked: str = highlight.highlight(text, words, TEXT_ANALYZER, highlight.WholeFragmenter(),
                                          _MarkFormatter(), top=1)
        if marked:
            return marked
    return html.escape(text)


def _first(keys: list[npt.NDArray[Any]], limit: int) -> npt.NDArray[np.int64]:
    """Positions of the `limit` smallest rows by `keys` (most significant first), in order.

    Partitioning on the first key keeps the sort to the rows that can make the page; every row
    tied at the cut stays in, so equal keys are ordered the same way on every page.
    """
    primary = keys[0]
    if primary.size > limit:
        cut = np.partition(primary, limit - 1)[limit - 1]
        pick = np.flatnonzero(primary <= cut)
    else:
        pick = np.arange(primary.size)
    ordered = np.lexsort(tuple(k[pick] for k in reversed(keys)))[:limit]
    return pick[ordered].astype(np.int64)


def search_sync(
    index: Index,
    text: str,
    *,
    asker: Asker = ANONYMOUS,
    page: int = 1,
    per_page: int = 20,
    order: Order = Order.NEWEST,
) -> SearchPage:
    """Run a search (blocking; async code uses `search`)."""
    if page < 1:
        raise InvalidInput("page numbers start at 1")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}")
    parsed = parse_query(text)
    audience = Audience.of(asker)
    ranked = order is Order.RELEVANCE
    limit = page * per_page
    total = 0
    rows: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    with index.searcher() as searcher:
        _check_cost(parsed, searcher.reader())
        for leaf_searcher, offset in searcher.leaf_searchers():
            if leaf_searcher.reader().segment() is None:
                continue  # no segment at all: nothing indexed yet, or nothing left after purges
            leaf = _Leaf(index, leaf_searcher, scored=ranked)
            hits = leaf.visible(leaf.eval(parsed), audience)
            total += int(hits.ids.size)
            newest = leaf.columns.newest[hits.ids]
            # Relevance: best score first, ties newest first; otherwise newest first.
            keys = [-hits.scores, newest] if ranked else [newest]
            best = _first([*keys, hits.ids], limit)
            rows.append((-hits.scores[best] if ranked else np.zeros(best.size),
                         newest[best], hits.ids[best] + offset))
        scores = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0)
        newest = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        docnums = np.concatenate([r[2] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        chosen = docnums[_first([scores, newest, docnums], limit)][(page - 1) * per_page:]
        words = frozenset(_marked_words(parsed))
        hits_out = tuple(_hit(searcher.stored_fields(int(d)), words) for d in chosen)
    return SearchPage(hits=hits_out, total=total, page=page,
                      pages=max(1, math.ceil(total / per_page)))


def _hit(stored: dict[str, Any], words: frozenset[str]) -> SearchHit:
    text: str = stored["text"]
    start, end = stored["span"]
    return SearchHit(room_id=stored["room_id"], room_title=stored["room_title"],
                     speaker=stored["speaker"], start=start / 1000, end=end / 1000, text=text,
                     highlight=_snippet(text, words))


async def search(
    index: Index,
    text: str,
    *,
    asker: Asker = ANONYMOUS,
    page: int = 1,
    per_page: int = 20,
    order: Order = Order.NEWEST,
) -> SearchPage:
    """Run a search in a worker thread, so the event loop never waits on whoosh."""
    return await asyncio.to_thread(search_sync, index, text, asker=asker, page=page,
                                   per_page=per_page, order=order)
