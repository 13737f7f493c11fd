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

Visibility is part of the query itself, so `total`, pages and ranking only ever count what the
asker may see; nothing is filtered after the page is cut.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from whoosh import collectors, fields, highlight, matching, qparser, query, sorting
from whoosh.qparser.common import QueryParserError
from whoosh.searching import Hit

from roomscribe.archive.index import NAME_ANALYZER, TEXT_ANALYZER, Index, Visibility
from roomscribe.errors import InvalidInput

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
        super().__init__(int, bits=64, signed=True, shift_step=16)

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
    # The parser's own schema: `room` is a pseudo-field rewritten below into title-or-id, and
    # `date` parses strictly. The index schema stays plain whoosh.
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


def _room_query(value: str) -> query.Query:
    words = [t.text for t in TEXT_ANALYZER(value)]
    by_id = query.Term("room_id", value)
    if not words:
        return by_id
    by_title = (query.Term("room_title", words[0]) if len(words) == 1
                else query.Phrase("room_title", words))
    return query.Or([by_id, by_title])


def _leaves(q: query.Query) -> Iterator[query.Query]:
    yield q
    if not q.is_leaf():
        for child in q.children():
            yield from _leaves(child)


def _rewrite(q: query.Query) -> query.Query:
    if isinstance(q, query.Term) and q.fieldname == "room":
        return _room_query(q.text)
    if isinstance(q, query.Phrase) and q.fieldname == "room":
        return _room_query(" ".join(q.words))
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


# Executing: whoosh matches, with its two costly habits avoided

class _Leapfrog(matching.IntersectionMatcher):  # type: ignore[misc]
    """Intersection that lists its matches by stepping with `skip_to`.

    Whoosh's own builds a Python set of every id on each side, so `the AND budget` costs as much
    as listing every "the". Sorted searches and result counts list matches this way.
    """

    def all_ids(self) -> Iterator[int]:
        return matching.Matcher.all_ids(self)  # type: ignore[no-any-return]


class _And(query.And):  # type: ignore[misc]
    def _matcher(self, subs: list[query.Query], searcher: Any, context: Any) -> Any:
        reader = searcher.reader()
        return self._tree_matcher(subs, _Leapfrog, searcher, context,
                                  lambda q: 0 - q.estimate_size(reader))


DateBounds = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class Audience:
    """Which visibilities an asker sees, plus the private rooms they host (None: all)."""

    visibilities: frozenset[bytes] | None
    host: bytes | None = None

    @classmethod
    def of(cls, asker: Asker) -> Audience:
        if asker.admin:
            return cls(None)
        if asker.user_id is None:
            return cls(frozenset({Visibility.PUBLIC.value.encode()}))
        return cls(frozenset({Visibility.PUBLIC.value.encode(), Visibility.MEMBERS.value.encode()}),
                   host=asker.user_id.encode())


_PRIVATE = Visibility.PRIVATE.value.encode()


_COLUMNS: weakref.WeakKeyDictionary[Any, dict[tuple[str, bool], Any]] = (
    weakref.WeakKeyDictionary())
_COLUMNS_LOCK = threading.Lock()


def _column(reader: Any, fieldname: str, translate: bool) -> Any:
    """A segment's column reader, opened once per reader: opening one loads its whole index
    (a byte per document for visibility), which would otherwise happen on every search."""
    with _COLUMNS_LOCK:
        per_reader = _COLUMNS.setdefault(reader, {})
        key = (fieldname, translate)
        if key not in per_reader:
            per_reader[key] = reader.column_reader(fieldname, translate=translate)
        return per_reader[key]


class _Keep:
    """`docnum in keep`, for one index segment: the audience may see it and its date fits.

    Checked per candidate from column values, so the cost follows the words searched for, not
    the share of the index the asker may see (usually most of it).
    """

    def __init__(self, reader: Any, audience: Audience | None, dates: tuple[DateBounds, ...]):
        limited = audience is not None and audience.visibilities is not None
        self._visibilities = audience.visibilities or frozenset() if audience else frozenset()
        self._host = audience.host if audience else None
        self._vis = _column(reader, "visibility", False) if limited else None
        self._hosts = _column(reader, "host_id", False) if self._host else None
        self._dates = dates
        self._date = _column(reader, "date", True) if dates else None

    def __contains__(self, docnum: int) -> bool:
        if self._vis is not None:
            seen = self._vis[docnum]
            if seen not in self._visibilities and not (
                    seen == _PRIVATE and self._hosts is not None
                    and self._hosts[docnum] == self._host):
                return False
        if self._date is not None:
            date = self._date[docnum]
            for first, last in self._dates:
                if (first is not None and date < first) or (last is not None and date > last):
                    return False
        return True


class _Restrict(query.WrappingQuery):  # type: ignore[misc]
    """The child's matches that `_Keep` lets through: visibility and date as per-document tests."""

    def __init__(self, child: query.Query, audience: Audience | None,
                 dates: tuple[DateBounds, ...] = ()) -> None:
        super().__init__(child)
        self.audience = audience
        self.dates = dates

    def __repr__(self) -> str:
        return f"_Restrict({self.child!r}, {self.audience!r}, {self.dates!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Restrict) and self.child == other.child
                and self.audience == other.audience and self.dates == other.dates)

    def __hash__(self) -> int:
        return hash((self.child, self.audience, self.dates))

    def _rewrap(self, child: query.Query) -> _Restrict:
        return _Restrict(child, self.audience, self.dates)

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        keep = _Keep(searcher.reader(), self.audience, self.dates)
        return matching.FilterMatcher(self.child.matcher(searcher, context), keep)


def _is_date_range(q: query.Query) -> bool:
    return isinstance(q, query.NumericRange) and q.fieldname == "date"


def _plan(q: query.Query) -> query.Query:
    """Swap in the faster intersection, and test dates per document where words lead.

    A date range ANDed with words becomes a test on the words' matches; alone (or under OR) it
    stays a range over the date terms, the only way to find documents by date alone.
    """
    if isinstance(q, query.And):
        subs = [_plan(c) for c in q.subqueries]
        dates = tuple((r.start, r.end) for r in subs if _is_date_range(r))
        rest = [c for c in subs if not _is_date_range(c)]
        if dates and any(not isinstance(c, query.Not) for c in rest):
            inner = rest[0] if len(rest) == 1 else _And(rest, boost=q.boost)
            return _Restrict(inner, None, dates)
        return _And(subs, boost=q.boost)
    return q if q.is_leaf() else q.apply(_plan)


def _executable(q: query.Query, asker: Asker) -> query.Query:
    """`q` planned and limited to what `asker` may see."""
    planned = _plan(q)
    audience = Audience.of(asker)
    if audience.visibilities is None:
        return planned
    if isinstance(planned, _Restrict) and planned.audience is None:
        return _Restrict(planned.child, audience, planned.dates)
    return _Restrict(planned, audience)


# Cost: whoosh is pure Python, so a query's time follows how many postings it walks

MAX_COST = 250_000
"""Postings a search may walk (about a second on one core); beyond it the query is refused."""
_PHRASE_COST = 4  # checking positions costs several times reading a posting


def _cost(q: query.Query, reader: Any) -> int:
    """Postings `q` will walk, from document frequencies (cheap lookups, no search)."""
    if isinstance(q, query.Term):
        return int(reader.doc_frequency(q.fieldname, q.text))
    if isinstance(q, query.Phrase):
        rarest = min(int(reader.doc_frequency(q.fieldname, w)) for w in q.words)
        return rarest * len(q.words) * _PHRASE_COST
    if isinstance(q, query.Not):
        return int(reader.doc_count_all())
    if isinstance(q, query.And):
        # Intersections step through their rarest side; a NOT inside only filters it.
        positive = [c for c in q.subqueries if not isinstance(c, query.Not)]
        return min((_cost(c, reader) for c in positive), default=int(reader.doc_count_all()))
    if isinstance(q, query.Or):
        return sum(_cost(c, reader) for c in q.subqueries)
    return int(q.estimate_size(reader))


def _check_cost(q: query.Query, reader: Any) -> None:
    cost = _cost(q, reader)
    if cost > MAX_COST:
        raise InvalidInput(
            f"the query has to look through about {cost:,} postings, more than the "
            f"{MAX_COST:,} a search may; add a less common word or drop a very common one")


# Snippets

class _MarkFormatter(highlight.Formatter):  # type: ignore[misc]
    """Escapes everything, marks matches: the snippet is safe to drop into a page."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text)

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"<mark>{html.escape(highlight.get_text(text, token, replace))}</mark>"


_HIGHLIGHTER = highlight.Highlighter(fragmenter=highlight.WholeFragmenter(),
                                     formatter=_MarkFormatter())


def _hit(hit: Hit) -> SearchHit:
    text: str = hit["text"]
    start, end = hit["span"]
    marked = _HIGHLIGHTER.highlight_hit(hit, "text", text=text, top=1)
    return SearchHit(
        room_id=hit["room_id"], room_title=hit["room_title"], speaker=hit["speaker"],
        start=start / 1000, end=end / 1000, text=text,
        highlight=marked or html.escape(text),
    )


_NEWEST = sorting.FieldFacet("newest")


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
    q = _executable(parsed, asker)
    with index.searcher() as searcher:
        _check_cost(parsed, searcher.reader())
        if order is Order.NEWEST:
            results = searcher.search(q, limit=page * per_page, sortedby=_NEWEST)
            total = len(results)  # sorting visits every match, so this is already known
        else:
            # Score every match in one pass. Whoosh's default skips blocks that cannot reach
            # the top and then walks the whole query again just to count; and its periodic
            # matcher replacement prunes OR branches, which makes its own count wrong.
            top = collectors.TopCollector(limit=page * per_page, usequality=False, replace=0)
            searcher.search_with_collector(q, top)
            results = top.results()
            total = top.total
        results.highlighter = _HIGHLIGHTER
        pages = max(1, math.ceil(total / per_page))
        hits = tuple(_hit(h) for h in results[(page - 1) * per_page:page * per_page])
    return SearchPage(hits=hits, total=total, page=page, pages=pages)


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
