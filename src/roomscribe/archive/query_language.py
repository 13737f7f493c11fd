"""The archive's query language: whoosh's, narrowed to what the archive promises and made strict.

    budget review               every word (stemmed: "budgets" finds "budget")
    "quarterly budget"          a phrase
    budget OR plan, a AND b, NOT draft, (a OR b) AND c
                                AND binds tighter than OR; words side by side are ANDed last,
                                so `budget launch OR release` is budget AND (launch OR release)
    speaker:alice               who spoke (a name or part of it; quote full names)
    room:planning               the room's title or its id
    date:2026-11, date:2026-11-05, date:[2026-01-01 TO 2026-02-01], date:[TO 2026-03]
                                the room's date (UTC); a range includes its last day or month
    lang:es, lang:spanish, lang:español
                                what was said in a language (a code, or its name in English or
                                in itself); lang:en also finds the English track of rooms in
                                other languages

Each word is looked for in every language the archive holds, analysed as that language is
(`archive.analysis`): the parser keeps plain words, and `in_languages` makes the search of them.

Whoosh's own parser never refuses anything: an unclosed quote, a dangling AND or an unknown field
just turn into words, so a typo would silently search for something else. A small scan before
parsing and a walk over the parsed tree turn those into `InvalidInput` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from whoosh import fields, qparser, query
from whoosh.qparser.common import QueryParserError

from roomscribe.archive.analysis import TEXT_ANALYZER, WORDS, terms
from roomscribe.archive.documents import key_of
from roomscribe.errors import InvalidInput
from roomscribe.languages import find_language

MAX_QUERY_CHARS = 500
FIELDS = ("speaker", "room", "date", "lang", "text")


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
                raise InvalidInput(f"{where}: unknown field {name!r}; use speaker:, room:, "
                                   "date: or lang: (put text with a colon in quotes)")
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
        text=fields.TEXT(analyzer=WORDS),
        speaker=fields.TEXT(analyzer=WORDS),
        room=fields.ID,
        lang=fields.ID,
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
    `column_cache.SegmentColumns.rooms`): a few thousand titles rather than postings for every
    segment of them.
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


class LangMatch(query.Term):  # type: ignore[misc]
    """`lang:value`: segments in that language, answered from the `lang_key` column."""

    def __init__(self, value: str) -> None:
        code = find_language(value)
        super().__init__("lang", code)
        self.key = key_of(code)


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
    if isinstance(q, query.Term) and q.fieldname == "lang":
        return LangMatch(q.text)
    if isinstance(q, query.Phrase) and q.fieldname == "lang":
        return LangMatch(" ".join(q.words))
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



def is_date(q: query.Query) -> bool:
    return isinstance(q, query.NumericRange) and q.fieldname == "date"


def is_filter(q: query.Query) -> bool:
    """Answered from columns rather than postings."""
    return isinstance(q, RoomMatch | LangMatch) or is_date(q)


def _in(words: list[str], lang: str) -> query.Query | None:
    found = [term for word in words for term in terms(word, lang)]
    if not found:
        return None
    return query.Term("text", found[0]) if len(found) == 1 else query.Phrase("text", found)


def in_languages(q: query.Query, langs: frozenset[str]) -> query.Query:
    """`q` with each word or phrase of the text looked for in each of `langs`, analysed as
    that language is: "budgets" becomes budget OR es|budget OR …; a Chinese word becomes the
    phrase of its characters."""
    if isinstance(q, query.Term | query.Phrase) and q.fieldname == "text":
        words = [q.text] if isinstance(q, query.Term) else list(q.words)
        found: dict[str, query.Query] = {}
        for lang in sorted(langs):
            each = _in(words, lang)
            if each is not None:
                found.setdefault(repr(each), each)
        alts = list(found.values())
        if not alts:
            return query.NullQuery
        return alts[0] if len(alts) == 1 else query.Or(alts)
    return q if q.is_leaf() else q.apply(lambda c: in_languages(c, langs))
