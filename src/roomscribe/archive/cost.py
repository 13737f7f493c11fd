"""What a query costs before it runs: whoosh is pure Python, so its time follows the postings
it walks. Queries over the budget are refused with the reason rather than left to run."""

from __future__ import annotations

from typing import Any

from whoosh import query

from roomscribe.archive.evaluator import whoosh_alone
from roomscribe.archive.query_language import is_filter
from roomscribe.errors import InvalidInput

MAX_COST = 250_000
"""Postings a search may walk (about a second on one core); beyond it the query is refused."""
_PHRASE_COST = 4  # checking positions costs several times reading a posting


def query_cost(q: query.Query, reader: Any) -> int:
    """Postings `q` will walk, from document frequencies (cheap lookups, no search).

    Room and date filters are column tests in numpy and cost next to nothing.
    """
    if is_filter(q):
        return 0
    if isinstance(q, query.Term):
        return int(reader.doc_frequency(q.fieldname, q.text))
    if isinstance(q, query.Phrase):
        rarest = min(int(reader.doc_frequency(q.fieldname, w)) for w in q.words)
        return rarest * len(q.words) * _PHRASE_COST
    if isinstance(q, query.Not):
        return query_cost(q.query, reader)
    if isinstance(q, query.And):
        # An intersection steps through its rarest side. What it NOTs, whoosh skips through
        # too; only when numpy runs the AND (a room or date is in it) is that walked in full.
        positive = [query_cost(c, reader) for c in q.subqueries
                    if not isinstance(c, query.Not) and not is_filter(c)]
        negative = [] if whoosh_alone(q) else [
            query_cost(c, reader) for c in q.subqueries if isinstance(c, query.Not)]
        return min(positive, default=0) + sum(negative)
    if isinstance(q, query.Or):
        return sum(query_cost(c, reader) for c in q.subqueries)
    return int(q.estimate_size(reader))


def check_cost(q: query.Query, reader: Any, budget: int = MAX_COST) -> None:
    """Refuse `q` if it would walk more than `budget` postings."""
    cost = query_cost(q, reader)
    if cost > budget:
        raise InvalidInput(
            f"the query has to look through about {cost:,} postings, more than the "
            f"{budget:,} a search may; add a less common word or drop a very common one")


