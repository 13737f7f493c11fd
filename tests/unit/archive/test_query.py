"""The query language: what parses into what, and every way to get it wrong, with its reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from whoosh import query

from roomscribe.archive.audience import Asker, Audience
from roomscribe.archive.cost import query_cost
from roomscribe.archive.documents import VISIBILITY_CODES
from roomscribe.archive.query_language import RoomMatch, in_languages, parse_query
from roomscribe.errors import InvalidInput
from roomscribe.visibility import Visibility


def epoch(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp())  # type: ignore[misc]


@pytest.mark.parametrize(("text", "expected"), [
    ("budgets", query.Term("text", "budget")),
    ("budget review", query.And([query.Term("text", "budget"), query.Term("text", "review")])),
    ('"quarterly budget"', query.Phrase("text", ["quarterli", "budget"])),
    ("a OR b", query.Or([query.Term("text", "a"), query.Term("text", "b")])),
    ("a AND NOT b", query.And([query.Term("text", "a"), query.Not(query.Term("text", "b"))])),
    ("NOT b", query.Not(query.Term("text", "b"))),
    ("(a OR b) AND c", query.And([query.Or([query.Term("text", "a"), query.Term("text", "b")]),
                                  query.Term("text", "c")])),
    ("speaker:Alice", query.Term("speaker", "alice")),
    ('speaker:"Alice Smith"', query.Phrase("speaker", ["alice", "smith"])),
    ("room:R42", RoomMatch("R42")),
    ('room:"Weekly sync"', RoomMatch("Weekly sync")),
    ("room:a OR room:b", query.Or([RoomMatch("a"), RoomMatch("b")])),
    ("at 10:30", query.And([query.Term("text", "at"), query.Term("text", "10"),
                            query.Term("text", "30")])),
    ("budget*", query.Term("text", "budget")),  # no wildcards: the star is punctuation
    # Operators touching parentheses or quotes are still operators, as the scan took them.
    ("NOT(a OR b)", query.Not(query.Or([query.Term("text", "a"), query.Term("text", "b")]))),
    ('a OR"b c"', query.Or([query.Term("text", "a"), query.Phrase("text", ["b", "c"])])),
    ('"rock AND roll"', query.Phrase("text", ["rock", "and", "roll"])),
    ("NOTE ORACLE ANDROID", query.And([query.Term("text", "note"), query.Term("text", "oracl"),
                                       query.Term("text", "android")])),
])
def test_parses(text: str, expected: query.Query) -> None:
    # An archive of English rooms only: each word analysed as English.
    assert in_languages(parse_query(text), frozenset({"en"})).normalize() == expected


@pytest.mark.parametrize(("text", "first", "last"), [
    ("date:2026", epoch(2026, 1, 1), epoch(2027, 1, 1) - 1),
    ("date:2026-11", epoch(2026, 11, 1), epoch(2026, 12, 1) - 1),
    ("date:2026-12", epoch(2026, 12, 1), epoch(2027, 1, 1) - 1),
    ("date:2026-02-28", epoch(2026, 2, 28), epoch(2026, 3, 1) - 1),
    ("date:[2026-01-01 TO 2026-02-01]", epoch(2026, 1, 1), epoch(2026, 2, 2) - 1),
    ("date:[2026-01 TO 2026-03]", epoch(2026, 1, 1), epoch(2026, 4, 1) - 1),
    ("date:[TO 2026-01]", None, epoch(2026, 2, 1) - 1),
    ("date:[2026-01-15 TO]", epoch(2026, 1, 15), None),
])
def test_dates_are_whole_days_months_and_years_in_utc(
    text: str, first: int | None, last: int | None
) -> None:
    parsed = parse_query(text)
    assert isinstance(parsed, query.NumericRange) and parsed.fieldname == "date"
    assert (parsed.start, parsed.end) == (first, last)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    ("!!! ...", "no words"),
    ('"unclosed phrase', "quote is never closed"),
    ('a "b" "c', "quote is never closed"),
    ("(a OR b", "never closed"),
    ("a OR b)", "without a matching"),
    ("()", "empty parentheses"),
    ("(a AND)", "nothing to act on"),
    ("a AND", "ends with an operator"),
    ("a OR", "ends with an operator"),
    ("a NOT", "ends with an operator"),
    ("AND a", "needs something to search for before it"),
    ("OR a", "needs something to search for before it"),
    ("a AND OR b", "needs something to search for before it"),
    ("(OR a)", "needs something to search for before it"),
    ("NOT NOT a", "NOT NOT"),
    ("foo:bar", "unknown field 'foo'"),
    ("http://example.com", "unknown field 'http'"),
    ("speaker: alice", "right after the colon"),
    ("speaker:", "field name and no value"),
    ("speaker:room:x", "cannot follow another"),
    ("speaker:AND", "cannot be a field's value"),
    ("date:[2026-01-01 TO", "unbalanced '['"),
    ("date:2026-01-01]", "unbalanced ']'"),
    ("[a TO b]", "range needs a field"),
    ("speaker:[a TO b]", "ranges work only on date"),
    ("date:2026-13", "month must be in 1..12"),
    ("date:2026-02-30", "day is out of range"),
    ("date:yesterday", "not a date"),
    ("date:26-01", "not a date"),
    ("date:[2026-03 TO 2026-01]", "backwards"),
    ("date:[TO]", "at least one end"),
    ("x" * 501, "longer than 500"),
])
def test_malformed_queries_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(reason)):
        parse_query(text)


def test_room_matches_its_id_or_words_of_its_title_in_order() -> None:
    weekly = RoomMatch("Weekly sync")
    assert weekly.words == ("weekli", "sync")
    assert weekly.matches("r1", ("our", "weekli", "sync", "call"))
    assert not weekly.matches("r1", ("sync", "weekli"))
    assert weekly.matches("Weekly sync", ())
    assert RoomMatch("R42").matches("R42", ("anything",))
    assert not RoomMatch("r42").matches("R42", ())  # ids are exact
    assert not RoomMatch("!!").matches("r1", ("a",))


def test_audience_per_asker() -> None:
    public, members = VISIBILITY_CODES[Visibility.PUBLIC], VISIBILITY_CODES[Visibility.MEMBERS]
    assert Audience.of(Asker()) == Audience(frozenset({public}))
    assert Audience.of(Asker("u1")) == Audience(frozenset({public, members}), host="u1")
    assert Audience.of(Asker("root", admin=True)).codes is None
    assert 0 not in VISIBILITY_CODES.values()  # a missing column value is visible to no one


class FakeReader:
    """Document frequencies only: all `_cost` reads before a search runs."""

    def doc_frequency(self, fieldname: str, text: str) -> int:
        return {"the": 900, "of": 800, "budget": 20, "review": 30, "launch": 40}.get(text, 0)

    def doc_count_all(self) -> int:
        return 1000


@pytest.mark.parametrize(("text", "cost"), [
    ("budget", 20),
    ("budget review", 20),  # an intersection steps through its rarest side
    ("budget OR launch", 60),
    ("budget NOT the", 20),  # whoosh skips through what it NOTs
    ("budget NOT the date:2026", 920),  # ...but numpy runs this AND and reads "the" in full
    ("NOT budget", 20),
    ('"the of"', 800 * 2 * 4),  # positions are checked on every candidate
    ("the OR (budget launch)", 920),
    ("date:2026 room:planning", 0),  # column tests in numpy, not postings
    ("budget date:2026", 20),
])
def test_cost_estimates(text: str, cost: int) -> None:
    assert query_cost(parse_query(text), FakeReader()) == cost
